/**
 * API keys, admin only (see roles.ts). A key is returned once, by the POST that creates
 * it, optionally with an expiry. Rotation is create-new-then-revoke-old (README,
 * "Rotating keys").
 */
import type { FastifyInstance } from 'fastify';
import type { ApiDeps } from '../deps';
import { SluiceError } from '../../errors';
import { ROLES, type ApiKeyRecord, type Role } from '../../store/api-keys';
import { dateTimeField, errorResponses, idParams, listQuery, nameSchema, pageOf } from '../schemas';

const keySchema = {
  type: 'object',
  properties: {
    id: { type: 'string' },
    name: { type: 'string' },
    role: { type: 'string', enum: [...ROLES] },
    createdAt: { type: 'string' },
    lastUsedAt: { type: ['string', 'null'] },
    revokedAt: { type: ['string', 'null'] },
    expiresAt: { type: ['string', 'null'], format: 'date-time', description: 'When the key stops working; null: never.' },
    expired: { type: 'boolean', description: 'expiresAt has passed: the key is refused with 401 AUTH_KEY_EXPIRED.' },
  },
} as const;

/** `expiresAt` of a create: an RFC 3339 date-time in the future. */
function expiryOf(value: string | undefined, now = Date.now()): string | null {
  if (value === undefined) return null;
  const at = dateTimeField(value, 'body', 'expiresAt');
  if (at <= now) throw new SluiceError('VALIDATION_FAILED', `body field "expiresAt" must be in the future (it is ${value})`, { location: 'body', field: 'expiresAt', rule: 'future' });
  return new Date(at).toISOString();
}

const withExpired = (k: ApiKeyRecord, now = Date.now()) => ({ ...k, expired: k.expiresAt !== null && Date.parse(k.expiresAt) <= now });

export async function apiKeyRoutes(app: FastifyInstance, deps: ApiDeps): Promise<void> {
  const keys = deps.store.apiKeys;

  app.get<{ Querystring: { limit?: number; offset?: number; sort?: string; role?: Role; name?: string } }>(
    '/api-keys',
    {
      schema: {
        tags: ['api-keys'],
        summary: 'List API keys (never the keys themselves), with their expiry',
        querystring: listQuery(['name', 'role', 'createdAt', 'expiresAt'], { role: { type: 'string', enum: [...ROLES] }, name: { type: 'string' } }),
        response: { 200: pageOf(keySchema), ...errorResponses() },
      },
    },
    async (req) => {
      const { limit, offset, sort, role, name } = req.query;
      const page = await keys.list({ limit, offset, sort, filters: { role, name } });
      return { ...page, items: page.items.map((k) => withExpired(k)) };
    },
  );

  app.post<{ Body: { name: string; role: Role; expiresAt?: string } }>(
    '/api-keys',
    {
      schema: {
        tags: ['api-keys'],
        summary: 'Create an API key; the response is the only time the key is shown',
        body: {
          type: 'object',
          additionalProperties: false,
          required: ['name', 'role'],
          properties: {
            name: nameSchema,
            role: { type: 'string', enum: [...ROLES] },
            expiresAt: { type: 'string', format: 'date-time', maxLength: 64, description: 'Optional: when the key stops working (RFC 3339, in the future). Left out: it never expires.' },
          },
        },
        response: { 201: { ...keySchema, properties: { ...keySchema.properties, key: { type: 'string' } } }, ...errorResponses() },
      },
    },
    async (req, reply) => {
      const { record, key } = await keys.create(req.body.name, req.body.role, expiryOf(req.body.expiresAt));
      req.log.info({ keyId: record.id, role: record.role, expiresAt: record.expiresAt }, 'API key created');
      return reply.status(201).send({ ...withExpired(record), key });
    },
  );

  app.get<{ Params: { id: string } }>(
    '/api-keys/:id',
    {
      schema: { tags: ['api-keys'], summary: 'One API key', params: idParams, response: { 200: keySchema, ...errorResponses('API_KEY_NOT_FOUND') } },
    },
    async (req) => {
      const k = await keys.get(req.params.id);
      if (!k) throw new SluiceError('API_KEY_NOT_FOUND', `No API key ${req.params.id}.`, { id: req.params.id });
      return withExpired(k);
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
      if (!(await keys.revoke(req.params.id))) throw new SluiceError('API_KEY_NOT_FOUND', `No active API key ${req.params.id}.`, { id: req.params.id });
      req.log.info({ keyId: req.params.id }, 'API key revoked');
      return reply.status(204).send();
    },
  );
}
