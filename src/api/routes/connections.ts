/**
 * Connections: where data comes from and goes to. Passwords are write-only: taken
 * from the URL or the `password` field, stored encrypted (or not at all with
 * savePassword:false), never returned.
 */
import type { FastifyInstance } from 'fastify';
import type { ApiDeps } from '../deps';
import type { Logger } from 'pino';
import { SluiceError } from '../../errors';
import { testConnection } from '../../runtime/connection-test';
import { CONNECTION_KINDS } from '../../runtime/builtin-connectors';
import type { ConnectionInput } from '../../store/connections';
import { errorResponses, idParams, listQuery, nameSchema, pageOf } from '../schemas';
import { browseRoutes } from './connections-browse';

const connectionSchema = {
  type: 'object',
  properties: {
    id: { type: 'string' },
    name: { type: 'string' },
    kind: { type: 'string', enum: [...CONNECTION_KINDS] },
    url: { type: 'string', description: 'Without its password' },
    hasPassword: { type: 'boolean' },
    passwordFile: { type: ['string', 'null'], description: 'The file the password is read from at each use (its content is never shown)' },
    savePassword: { type: 'boolean' },
    options: { type: 'object', additionalProperties: true },
    createdAt: { type: 'string' },
    updatedAt: { type: 'string' },
  },
} as const;

const bodyProperties = {
  name: nameSchema,
  kind: { type: 'string', enum: [...CONNECTION_KINDS] },
  url: {
    type: 'string',
    minLength: 1,
    maxLength: 4096,
    description:
      'postgresql://…, mysql://…, jdbc:…, mongodb://host[,host…]/db, mongodb+srv://…/db, or host:port,… for kafka (no credentials). Percent-encode reserved characters in the user and password; the password is split off and stored apart, or the URL refused with CONNECTION_URL_INVALID (README, "Security").',
  },
  password: { type: 'string', maxLength: 4096, writeOnly: true },
  passwordFile: {
    type: ['string', 'null'],
    minLength: 1,
    maxLength: 4096,
    description:
      'Instead of a password: a file holding it (e.g. /run/secrets/pg, a mounted Docker or Kubernetes secret), read each time the connection is used, so a rotated secret needs no API call. ' +
      'It must lie inside the directory the daemon allows (secrets.fileDir, SLUICE_SECRETS_FILE_DIR), after symbolic links; a relative path is taken from there. null (PATCH) drops it.',
  },
  savePassword: { type: 'boolean', default: true },
  options: { type: 'object', additionalProperties: true },
} as const;

export async function connectionRoutes(app: FastifyInstance, deps: ApiDeps): Promise<void> {
  const repo = deps.store.connections;
  const notFound = (id: string) => new SluiceError('CONNECTION_NOT_FOUND', `No connection ${id}.`, { id });

  app.get<{ Querystring: { limit?: number; offset?: number; sort?: string; kind?: string; name?: string } }>(
    '/connections',
    {
      schema: {
        tags: ['connections'],
        summary: 'List connections',
        querystring: listQuery(['name', 'kind', 'createdAt', 'updatedAt'], { kind: { type: 'string', enum: [...CONNECTION_KINDS] }, name: { type: 'string' } }),
        response: { 200: pageOf(connectionSchema), ...errorResponses() },
      },
    },
    async (req) => {
      const { limit, offset, sort, kind, name } = req.query;
      return repo.list({ limit, offset, sort, filters: { kind, name } });
    },
  );

  app.post<{ Body: ConnectionInput }>(
    '/connections',
    {
      schema: {
        tags: ['connections'],
        summary: 'Create a connection',
        body: { type: 'object', additionalProperties: false, required: ['name', 'kind', 'url'], properties: bodyProperties },
        response: { 201: connectionSchema, ...errorResponses('CONNECTION_NAME_TAKEN', 'CONNECTION_URL_INVALID', 'SECRET_FILE_NOT_ALLOWED', 'SECRET_FILE_UNREADABLE') },
      },
    },
    async (req, reply) => {
      if (repo.nameTaken(req.body.name)) {
        throw new SluiceError('CONNECTION_NAME_TAKEN', `A connection named "${req.body.name}" exists.`, { field: 'name' });
      }
      return reply.status(201).send(repo.create(req.body));
    },
  );

  app.get<{ Params: { id: string } }>(
    '/connections/:id',
    { schema: { tags: ['connections'], summary: 'One connection', params: idParams, response: { 200: connectionSchema, ...errorResponses('CONNECTION_NOT_FOUND') } } },
    async (req) => repo.get(req.params.id) ?? Promise.reject(notFound(req.params.id)),
  );

  app.patch<{ Params: { id: string }; Body: Partial<ConnectionInput> }>(
    '/connections/:id',
    {
      schema: {
        tags: ['connections'],
        summary: 'Change a connection (fields not sent stay as they are)',
        params: idParams,
        body: { type: 'object', additionalProperties: false, minProperties: 1, properties: bodyProperties },
        response: { 200: connectionSchema, ...errorResponses('CONNECTION_NOT_FOUND', 'CONNECTION_NAME_TAKEN', 'CONNECTION_URL_INVALID', 'SECRET_FILE_NOT_ALLOWED', 'SECRET_FILE_UNREADABLE') },
      },
    },
    async (req) => {
      if (req.body.name !== undefined && repo.nameTaken(req.body.name, req.params.id)) {
        throw new SluiceError('CONNECTION_NAME_TAKEN', `A connection named "${req.body.name}" exists.`, { field: 'name' });
      }
      return repo.update(req.params.id, req.body) ?? Promise.reject(notFound(req.params.id));
    },
  );

  app.post<{ Params: { id: string }; Body: { password?: string } | undefined }>(
    '/connections/:id/test',
    {
      schema: {
        tags: ['connections'],
        summary: 'Test a connection: reachability, version, required settings and privileges',
        params: idParams,
        body: {
          type: 'object',
          additionalProperties: false,
          properties: { password: { type: 'string', description: 'For a connection saved with savePassword:false' } },
        },
        response: {
          200: {
            type: 'object',
            properties: {
              ok: { type: 'boolean' },
              reachable: { type: 'boolean' },
              version: { type: 'string' },
              checks: {
                type: 'array',
                items: {
                  type: 'object',
                  properties: {
                    name: { type: 'string' },
                    ok: { type: 'boolean' },
                    message: { type: 'string' },
                    suggestion: { type: 'string' },
                    code: { type: 'string', description: 'The catalogue code of a failed check, when one fits (CONNECTION_PROTOCOL_MISMATCH: another kind of server answers at that port)' },
                    detail: { type: 'object', additionalProperties: true },
                  },
                },
              },
            },
          },
          ...errorResponses('CONNECTION_NOT_FOUND', 'CONNECTION_PASSWORD_REQUIRED', 'SECRET_FILE_UNREADABLE'),
        },
      },
    },
    async (req) => {
      const conn = repo.resolve(req.params.id, req.body?.password);
      if (!conn) throw notFound(req.params.id);
      const report = await testConnection(deps.connectors, conn, req.log as unknown as Logger);
      return { ok: report.reachable && report.checks.every((c) => c.ok), ...report };
    },
  );

  await browseRoutes(app, deps);

  app.delete<{ Params: { id: string } }>(
    '/connections/:id',
    {
      schema: {
        tags: ['connections'],
        summary: 'Delete a connection no stream uses',
        params: idParams,
        response: { 204: { type: 'null', description: 'Deleted' }, ...errorResponses('CONNECTION_NOT_FOUND', 'CONNECTION_IN_USE') },
      },
    },
    async (req, reply) => {
      const id = req.params.id;
      if (!repo.get(id)) throw notFound(id);
      const users = deps.store.streams
        .list({ limit: 1000 })
        .items.filter((s) => [s.spec.source.connectionId, s.spec.sink.connectionId, (s.spec.transport as { connectionId?: string } | undefined)?.connectionId].includes(id))
        .map((s) => s.spec.id);
      if (users.length) throw new SluiceError('CONNECTION_IN_USE', `Connection ${id} is used by ${users.length} stream(s).`, { streams: users });
      repo.delete(id);
      return reply.status(204).send();
    },
  );
}
