/** API keys, admin only (see roles.ts). A key is returned once, by the POST that creates it. */
import type { FastifyInstance } from 'fastify';
import type { ApiDeps } from '../deps';
import { SluiceError } from '../../errors';
import { ROLES, type Role } from '../../store/api-keys';
import { errorResponses, idParams, listQuery, nameSchema, pageOf } from '../schemas';

const keySchema = {
  type: 'object',
  properties: {
    id: { type: 'string' },
    name: { type: 'string' },
    role: { type: 'string', enum: [...ROLES] },
    createdAt: { type: 'string' },
    lastUsedAt: { type: ['string', 'null'] },
    revokedAt: { type: ['string', 'null'] },
  },
} as const;

export async function apiKeyRoutes(app: FastifyInstance, deps: ApiDeps): Promise<void> {
  const keys = deps.store.apiKeys;

  app.get<{ Querystring: { limit?: number; offset?: number; sort?: string; role?: Role; name?: string } }>(
    '/api-keys',
    {
      schema: {
        tags: ['api-keys'],
        summary: 'List API keys (never the keys themselves)',
        querystring: listQuery(['name', 'role', 'createdAt'], { role: { type: 'string', enum: [...ROLES] }, name: { type: 'string' } }),
        response: { 200: pageOf(keySchema), ...errorResponses() },
      },
    },
    async (req) => {
      const { limit, offset, sort, role, name } = req.query;
      return keys.list({ limit, offset, sort, filters: { role, name } });
    },
  );

  app.post<{ Body: { name: string; role: Role } }>(
    '/api-keys',
    {
      schema: {
        tags: ['api-keys'],
        summary: 'Create an API key; the response is the only time the key is shown',
        body: {
          type: 'object',
          additionalProperties: false,
          required: ['name', 'role'],
          properties: { name: nameSchema, role: { type: 'string', enum: [...ROLES] } },
        },
        response: { 201: { ...keySchema, properties: { ...keySchema.properties, key: { type: 'string' } } }, ...errorResponses() },
      },
    },
    async (req, reply) => {
      const { record, key } = keys.create(req.body.name, req.body.role);
      req.log.info({ keyId: record.id, role: record.role }, 'API key created');
      return reply.status(201).send({ ...record, key });
    },
  );

  app.get<{ Params: { id: string } }>(
    '/api-keys/:id',
    {
      schema: { tags: ['api-keys'], summary: 'One API key', params: idParams, response: { 200: keySchema, ...errorResponses('API_KEY_NOT_FOUND') } },
    },
    async (req) => {
      const k = keys.get(req.params.id);
      if (!k) throw new SluiceError('API_KEY_NOT_FOUND', `No API key ${req.params.id}.`, { id: req.params.id });
      return k;
    },
  );

  app.delete<{ Params: { id: string } }>(
    '/api-keys/:id',
    {
      schema: {
        tags: ['api-keys'],
        summary: 'Revoke an API key',
        params: idParams,
        response: { 204: { type: 'null', description: 'Revoked' }, ...errorResponses('API_KEY_NOT_FOUND') },
      },
    },
    async (req, reply) => {
      if (!keys.revoke(req.params.id)) throw new SluiceError('API_KEY_NOT_FOUND', `No active API key ${req.params.id}.`, { id: req.params.id });
      req.log.info({ keyId: req.params.id }, 'API key revoked');
      return reply.status(204).send();
    },
  );
}
