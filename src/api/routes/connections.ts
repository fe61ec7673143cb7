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
import { parseConnectionOptions } from '../../runtime/run-options';
import { withoutSecrets } from '../../options';
import type { ConnectionInput, ConnectionRecord } from '../../store/connections';
import { errorResponses, idParams, listQuery, pageOf } from '../schemas';
import { CONNECTION_FIELDS, optionSchemas } from '../option-schemas';
import { browseRoutes } from './connections-browse';

const OPTIONS_TEXT = "The kind's options (the <Kind>ConnectionOptions schemas; README \"Options\"): unknown ones are refused, defaults apply when used and are not stored.";

export async function connectionRoutes(app: FastifyInstance, deps: ApiDeps): Promise<void> {
  const repo = deps.store.connections;
  const notFound = (id: string) => new SluiceError('CONNECTION_NOT_FOUND', `No connection ${id}.`, { id });
  const { kinds, connectionBody } = optionSchemas(deps.connectors);
  const kind = { type: 'string', enum: kinds } as const;
  const connectionSchema = {
    type: 'object',
    properties: {
      id: { type: 'string' },
      name: { type: 'string' },
      kind,
      url: { type: 'string', description: 'Without its password' },
      hasPassword: { type: 'boolean' },
      passwordFile: { type: ['string', 'null'], description: 'The file the password is read from at each use (its content is never shown)' },
      savePassword: { type: 'boolean' },
      options: { type: 'object', additionalProperties: true, description: `${OPTIONS_TEXT} Secret options are never returned.` },
      createdAt: { type: 'string' },
      updatedAt: { type: 'string' },
    },
  } as const;
  const patchProperties = { ...CONNECTION_FIELDS, kind, options: { type: 'object', additionalProperties: true, description: `${OPTIONS_TEXT} Replaces the stored options whole.` } } as const;
  /** What the API shows: secret options left out. */
  const shown = (rec: ConnectionRecord): ConnectionRecord => {
    const mod = deps.connectors.find(rec.kind);
    return mod ? { ...rec, options: withoutSecrets(mod.options.connection, rec.options) } : rec;
  };

  app.get<{ Querystring: { limit?: number; offset?: number; sort?: string; kind?: string; name?: string } }>(
    '/connections',
    {
      schema: {
        tags: ['connections'],
        summary: 'List connections',
        querystring: listQuery(['name', 'kind', 'createdAt', 'updatedAt'], { kind, name: { type: 'string' } }),
        response: { 200: pageOf(connectionSchema), ...errorResponses() },
      },
    },
    async (req) => {
      const { limit, offset, sort, kind: k, name } = req.query;
      const page = await repo.list({ limit, offset, sort, filters: { kind: k, name } });
      return { ...page, items: page.items.map(shown) };
    },
  );

  app.post<{ Body: ConnectionInput }>(
    '/connections',
    {
      schema: {
        tags: ['connections'],
        summary: 'Create a connection',
        description: 'The body is the kind\'s schema (PostgresqlConnection, MongodbConnection, …), chosen by `kind`; its `options` are that kind\'s.',
        body: connectionBody,
        response: { 201: connectionSchema, ...errorResponses('CONNECTION_NAME_TAKEN', 'CONNECTION_URL_INVALID', 'SECRET_FILE_NOT_ALLOWED', 'SECRET_FILE_UNREADABLE') },
      },
      // An unknown kind is named with the kinds there are (the schema's own error cannot list them).
      preValidation: async (req) => {
        const k = (req.body as { kind?: unknown } | null)?.kind;
        if (typeof k === 'string' && !kinds.includes(k)) {
          throw new SluiceError('VALIDATION_FAILED', `body field "kind" must be one of ${kinds.join(', ')}`, { location: 'body', field: 'kind', rule: 'enum' });
        }
      },
    },
    async (req, reply) => {
      // The body schema checked the options against the kind already; this is the same parse the run does.
      parseConnectionOptions(deps.connectors, req.body.kind, req.body.options);
      // The store refuses a taken name (CONNECTION_NAME_TAKEN) in the insert's own transaction.
      return reply.status(201).send(shown(await repo.create(req.body)));
    },
  );

  app.get<{ Params: { id: string } }>(
    '/connections/:id',
    { schema: { tags: ['connections'], summary: 'One connection', params: idParams, response: { 200: connectionSchema, ...errorResponses('CONNECTION_NOT_FOUND') } } },
    async (req) => {
      const rec = await repo.get(req.params.id);
      if (!rec) throw notFound(req.params.id);
      return shown(rec);
    },
  );

  app.patch<{ Params: { id: string }; Body: Partial<ConnectionInput> }>(
    '/connections/:id',
    {
      schema: {
        tags: ['connections'],
        summary: 'Change a connection (fields not sent stay as they are)',
        params: idParams,
        body: { type: 'object', additionalProperties: false, minProperties: 1, properties: patchProperties },
        response: { 200: connectionSchema, ...errorResponses('CONNECTION_NOT_FOUND', 'CONNECTION_NAME_TAKEN', 'CONNECTION_URL_INVALID', 'SECRET_FILE_NOT_ALLOWED', 'SECRET_FILE_UNREADABLE') },
      },
    },
    async (req) => {
      const cur = await repo.get(req.params.id);
      if (!cur) throw notFound(req.params.id);
      // New options, or a new kind, must fit the kind the connection will have: a 400 naming the option.
      if (req.body.options !== undefined || (req.body.kind !== undefined && req.body.kind !== cur.kind)) {
        parseConnectionOptions(deps.connectors, req.body.kind ?? cur.kind, req.body.options ?? cur.options);
      }
      // A taken name is refused by the update's own transaction (CONNECTION_NAME_TAKEN).
      const updated = await repo.update(req.params.id, req.body);
      if (!updated) throw notFound(req.params.id);
      return shown(updated);
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
      const conn = await repo.resolve(req.params.id, req.body?.password);
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
      // One transaction checks that no stream uses it (CONNECTION_IN_USE) and deletes it.
      if (!(await repo.deleteIfUnused(req.params.id))) throw notFound(req.params.id);
      return reply.status(204).send();
    },
  );
}
