/**
 * Browsing a source connection: its tables, one table's columns and keys, and a
 * preview of its rows. The connector does the reading (describeTable/readRows);
 * these routes only shape requests and answers.
 *
 * Roles: listing tables and describing columns show the schema only (viewer);
 * previewing rows shows customer data (operator). A viewer's failure to reach the
 * source says only that (viewerSafe). No route reaches a system schema (pg_catalog,
 * mysql, …) unless the connection allows it (src/runtime/system-schemas.ts).
 * The `{table}` parameter is `schema.table`, or a bare table in the connection's
 * default schema (PostgreSQL: public; MySQL: the database of the url).
 */
import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { Logger } from 'pino';
import type { ApiDeps } from '../deps';
import { SluiceError, isSluiceError } from '../../errors';
import { roleAllows } from '../../store/api-keys';
import { assertSchemaAllowed, schemaAllowed } from '../../runtime/system-schemas';
import { jsonRow, MAX_READ_ROWS, parseSort, parseTableName, type ConnectionSpec, type ConnectorModule, type TableRef } from '../../core';
import { errorResponses, ID_PATTERN, idParams, listQuery, pageOf } from '../schemas';

const tableParams = {
  type: 'object',
  required: ['id', 'table'],
  properties: {
    id: { type: 'string', pattern: ID_PATTERN, maxLength: 64 },
    table: { type: 'string', minLength: 1, maxLength: 300, description: '`schema.table`, or a bare table in the default schema' },
  },
} as const;

const tableItem = {
  type: 'object',
  required: ['schema', 'table', 'name'],
  properties: { schema: { type: 'string' }, table: { type: 'string' }, name: { type: 'string', description: 'schema.table' } },
} as const;

const columnInfo = {
  type: 'object',
  required: ['name', 'type', 'nullable', 'primaryKey'],
  properties: { name: { type: 'string' }, type: { type: 'string' }, nullable: { type: 'boolean' }, primaryKey: { type: 'boolean' } },
} as const;

const tableInfo = {
  type: 'object',
  required: ['schema', 'table', 'columns', 'primaryKey', 'foreignKeys'],
  properties: {
    schema: { type: 'string' },
    table: { type: 'string' },
    columns: { type: 'array', items: columnInfo },
    primaryKey: { type: 'array', items: { type: 'string' } },
    foreignKeys: {
      type: 'array',
      items: {
        type: 'object',
        properties: {
          name: { type: 'string' },
          columns: { type: 'array', items: { type: 'string' } },
          references: {
            type: 'object',
            properties: { schema: { type: 'string' }, table: { type: 'string' }, columns: { type: 'array', items: { type: 'string' } } },
          },
        },
      },
    },
  },
} as const;

/** What every browse route can answer besides its own result. */
const BROWSE_ERRORS = [
  'CONNECTION_NOT_FOUND',
  'CONNECTION_PASSWORD_REQUIRED',
  'CONNECTOR_ROLE_UNSUPPORTED',
  'SOURCE_UNREACHABLE',
  'SOURCE_AUTH_FAILED',
  'SOURCE_READ_FAILED',
  'SOURCE_CONFIG_INVALID',
  'SOURCE_PRIVILEGES_MISSING',
  'SOURCE_SCHEMA_FORBIDDEN',
  'CONNECTION_PROTOCOL_MISMATCH',
  'CONNECTION_URL_INVALID',
] as const;

/**
 * A viewer learns that a source could not be reached, not why: the driver's reason
 * (ECONNREFUSED, "received invalid response", a timeout) tells an open port from a
 * closed one, which made browsing a port scanner (issue 22). Operators and admins,
 * who test connections, get the reason.
 */
async function viewerSafe<T>(req: FastifyRequest, connectionId: string, op: () => Promise<T>): Promise<T> {
  try {
    return await op();
  } catch (err) {
    if (isSluiceError(err) && err.category === 'connectivity' && !roleAllows(req.apiKey?.role ?? 'viewer', 'operator')) {
      throw new SluiceError('SOURCE_UNREACHABLE', `The source of connection ${connectionId} could not be read; an operator sees why with POST /api/v1/connections/${connectionId}/test.`, { connectionId });
    }
    throw err;
  }
}

/** The password of a connection saved with savePassword:false, for one request (never logged: src/logger.ts redacts it). */
export const PASSWORD_HEADER = 'x-connection-password';
const passwordHeaders = {
  type: 'object',
  properties: {
    [PASSWORD_HEADER]: {
      type: 'string',
      minLength: 1,
      maxLength: 4096,
      description: 'For a connection saved with savePassword:false: its password, for this request only (never stored, never logged). Without it such a connection answers 400 CONNECTION_PASSWORD_REQUIRED. Ignored for a connection whose password is saved.',
    },
  },
} as const;

const passwordOf = (headers: Record<string, string | string[] | undefined>): string | undefined => {
  const v = headers[PASSWORD_HEADER];
  return Array.isArray(v) ? v[0] : v;
};

export async function browseRoutes(app: FastifyInstance, deps: ApiDeps): Promise<void> {
  const repo = deps.store.connections;

  const source = async (id: string, need: 'listTables' | 'describeTable' | 'readRows', password: string | undefined): Promise<{ conn: ConnectionSpec; mod: ConnectorModule }> => {
    // Throws CONNECTION_PASSWORD_REQUIRED for a savePassword:false connection without the header.
    // The header only supplies a password the store lacks: a saved one is never overridden, so
    // a viewer cannot try passwords against the database through the daemon.
    const saved = (await repo.get(id))?.savePassword === true;
    const conn = await repo.resolve(id, saved ? undefined : password);
    if (!conn) throw new SluiceError('CONNECTION_NOT_FOUND', `No connection ${id}.`, { id });
    const mod = deps.connectors.find(conn.kind);
    if (!mod?.[need]) {
      const supported = deps.connectors.kinds((m) => m[need] !== undefined);
      throw new SluiceError('CONNECTOR_ROLE_UNSUPPORTED', `A ${conn.kind} connection has no tables to browse.`, { id, kind: conn.kind, supported });
    }
    return { conn, mod };
  };
  const notFound = (table: TableRef, raw: string) =>
    new SluiceError('SOURCE_TABLE_NOT_FOUND', `No table ${raw} in the source.`, { table: raw, schema: table.schema || undefined });

  app.get<{ Params: { id: string }; Querystring: { limit?: number; offset?: number; sort?: string; schema?: string; table?: string } }>(
    '/connections/:id/tables',
    {
      schema: {
        tags: ['connections'],
        summary: 'List the base tables of a source connection',
        params: idParams,
        headers: passwordHeaders,
        querystring: listQuery(['schema', 'table', 'name'], { schema: { type: 'string', maxLength: 300 }, table: { type: 'string', maxLength: 300 } }),
        response: { 200: { ...pageOf(tableItem), properties: { ...pageOf(tableItem).properties, defaultSchema: { type: 'string' } } }, ...errorResponses(...BROWSE_ERRORS) },
      },
    },
    async (req) => {
      const { conn, mod } = await source(req.params.id, 'listTables', passwordOf(req.headers));
      const { tables, defaultSchema } = await viewerSafe(req, req.params.id, () => mod.listTables!(conn, req.log as unknown as Logger));
      const { limit = 100, offset = 0, sort = 'name', schema, table } = req.query;
      const items = tables
        // System schemas (pg_catalog, mysql, …) are not listed unless the connection allows them: system-schemas.ts.
        .filter((t) => schemaAllowed(conn, t.schema))
        .filter((t) => (schema === undefined || t.schema === schema) && (table === undefined || t.table === table))
        .map((t) => ({ schema: t.schema, table: t.table, name: `${t.schema}.${t.table}` }));
      const desc = sort.startsWith('-');
      const field = (desc ? sort.slice(1) : sort) as 'schema' | 'table' | 'name';
      items.sort((a, b) => (a[field] < b[field] ? -1 : a[field] > b[field] ? 1 : a.name < b.name ? -1 : a.name > b.name ? 1 : 0) * (desc ? -1 : 1));
      return { items: items.slice(offset, offset + limit), total: items.length, limit, offset, defaultSchema };
    },
  );

  app.get<{ Params: { id: string; table: string } }>(
    '/connections/:id/tables/:table/columns',
    {
      schema: {
        tags: ['connections'],
        summary: 'A table\'s columns (type, nullable, primary key) and foreign keys',
        params: tableParams,
        headers: passwordHeaders,
        response: { 200: tableInfo, ...errorResponses('SOURCE_TABLE_NOT_FOUND', ...BROWSE_ERRORS) },
      },
    },
    async (req) => {
      const { conn, mod } = await source(req.params.id, 'describeTable', passwordOf(req.headers));
      const ref = parseTableName(req.params.table);
      assertSchemaAllowed(conn, ref);
      const info = await viewerSafe(req, req.params.id, () => mod.describeTable!(conn, ref, req.log as unknown as Logger));
      if (!info) throw notFound(ref, req.params.table);
      return info;
    },
  );

  app.get<{ Params: { id: string; table: string }; Querystring: { limit: number; offset: number; where?: string; sort?: string; columns?: string } }>(
    '/connections/:id/tables/:table/rows',
    {
      schema: {
        tags: ['connections'],
        summary: 'Preview a table\'s rows, as the snapshot reads them',
        description:
          'Rows in key order unless `sort` says otherwise. `where` is a whereClause as in relationalTableFilters (same syntax, checked the same way, sent as bind parameters). ' +
          'Values as JSON: 64-bit integers and decimals as exact strings, bytes as base64, dates as ISO 8601.',
        params: tableParams,
        headers: passwordHeaders,
        querystring: {
          type: 'object',
          additionalProperties: false,
          properties: {
            limit: { type: 'integer', minimum: 1, maximum: MAX_READ_ROWS, default: 20 },
            offset: { type: 'integer', minimum: 0, maximum: 1_000_000_000, default: 0 },
            where: { type: 'string', minLength: 1, maxLength: 4000 },
            sort: { type: 'string', maxLength: 2000, description: 'Comma-separated columns, `-column` for descending; default the primary key' },
            columns: { type: 'string', maxLength: 8000, description: 'Comma-separated columns to return; default all' },
          },
        },
        response: {
          200: {
            type: 'object',
            required: ['table', 'columns', 'rows', 'limit', 'offset'],
            properties: {
              table: { type: 'string', description: 'The table as named in the path' },
              key: { type: 'array', items: { type: 'string' } },
              columns: {
                type: 'array',
                items: { type: 'object', properties: { name: { type: 'string' }, type: { type: 'string' }, sourceType: { type: 'string' }, nullable: { type: 'boolean' } } },
              },
              rows: { type: 'array', items: { type: 'object', additionalProperties: true } },
              limit: { type: 'integer' },
              offset: { type: 'integer' },
            },
          },
          ...errorResponses('SOURCE_TABLE_NOT_FOUND', 'FILTER_CLAUSE_INVALID', 'FILTER_COLUMN_UNKNOWN', 'SOURCE_TYPE_UNSUPPORTED', ...BROWSE_ERRORS),
        },
      },
    },
    async (req) => {
      const { conn, mod } = await source(req.params.id, 'readRows', passwordOf(req.headers));
      const ref = parseTableName(req.params.table);
      assertSchemaAllowed(conn, ref);
      const { limit, offset, where, sort, columns } = req.query;
      const list = columns?.split(',').map((c) => c.trim()).filter(Boolean);
      const { rows, schema } = await mod.readRows!(conn, ref, { limit, offset, where, sort: parseSort(sort), columns: list }, req.log as unknown as Logger).catch((err: unknown) => {
        if (err instanceof SluiceError && err.code === 'SOURCE_TABLE_NOT_FOUND') throw notFound(ref, req.params.table);
        throw err;
      });
      return {
        table: req.params.table,
        key: schema.key,
        columns: schema.columns.map((c) => ({ name: c.name, type: c.type, sourceType: c.sourceType, nullable: c.optional })),
        rows: rows.map(jsonRow),
        limit,
        offset,
      };
    },
  );
}
