/**
 * Relational Migrator's `POST /api/v1/jobs`, translated: its request (JDBC details,
 * MongoDB connection string, options, table filters) into sluice connections and a
 * stream spec. A stream's state back into RM's job response is rm-job-view.ts. Pure:
 * no store, no HTTP, so every rule here has a unit test (rm-jobs.test.ts).
 */
import { SluiceError } from '../errors';
import { formatConnectionUrl, parseConnectionUrl } from '../connection-url';
import type { StreamInput } from '../store/streams';
import type { RmJobEcho } from '../store/rm-jobs';

/** RM's `jdbcConnectionDetails.type` values sluice can read from. */
export const SUPPORTED_SOURCE_TYPES = ['POSTGRESQL', 'MYSQL', 'MARIADB'] as const;
const SUBPROTOCOLS: Record<string, 'postgresql' | 'mysql'> = { postgresql: 'postgresql', mysql: 'mysql', mariadb: 'mysql' };
const TYPE_KIND: Record<string, 'postgresql' | 'mysql'> = { POSTGRESQL: 'postgresql', MYSQL: 'mysql', MARIADB: 'mysql' };

const tableFilter = {
  type: 'object',
  additionalProperties: false,
  properties: {
    whereClause: { type: 'string', maxLength: 10000, description: 'Contents of the SQL WHERE clause to filter rows for the specified source table.' },
    rowCount: { type: 'integer', minimum: 0, description: 'Optional limit to the number of rows returned from the source table.' },
  },
} as const;

export const tableFilters = {
  type: 'object',
  description: 'An object where each key represents a schema name. Each schema contains tables that you can apply table filters on.',
  additionalProperties: { type: 'object', description: 'An object where each key represents a table name within a schema.', additionalProperties: tableFilter },
} as const;

export const rmOptions = {
  type: 'object',
  additionalProperties: false,
  required: ['mode'],
  properties: {
    dropCollections: { type: 'boolean', default: false },
    mode: { type: 'string', enum: ['SNAPSHOT', 'CDC', 'CDC_ONLY'] },
    errorHandling: { type: 'string', enum: ['FAIL', 'WARN', 'SKIP'], default: 'FAIL' },
    errorTolerance: { type: 'integer', minimum: 0, description: 'Record-level failures tolerated before the migration stops.' },
  },
} as const;

/** RM's request schema, field for field (additional properties refused where RM refuses them). */
export const jobBodySchema = {
  type: 'object',
  additionalProperties: false,
  required: ['projectId', 'jdbcConnectionDetails', 'mongodbConnectionDetails', 'options', 'verification'],
  properties: {
    // RM's response requires ^[A-Za-z0-9-]+$ for projectId, so the request is held to it.
    projectId: { type: 'string', pattern: '^[A-Za-z0-9-]+$', minLength: 1, maxLength: 100 },
    jdbcConnectionDetails: {
      type: 'object',
      additionalProperties: false,
      required: ['type', 'url'],
      properties: {
        id: { type: 'string' },
        type: { type: 'string', minLength: 1, maxLength: 100, description: `Database type. sluice reads ${SUPPORTED_SOURCE_TYPES.join(', ')}; other RM types are refused.` },
        url: { type: 'string', minLength: 1, maxLength: 4096, description: 'jdbc:postgresql://host:port/db, jdbc:mysql://…, jdbc:mariadb://… (user and password as query parameters or the fields beside)' },
        user: { type: 'string', maxLength: 1000 },
        password: { type: 'string', maxLength: 4096, writeOnly: true },
        savePassword: { type: 'boolean', default: false },
        existingConnectionId: { type: 'string', pattern: '^[A-Za-z0-9-]+$', maxLength: 64 },
        oraclePdbName: { type: 'string' },
        isManualUri: { type: 'boolean', default: false },
      },
    },
    mongodbConnectionDetails: {
      type: 'object',
      additionalProperties: false,
      required: ['connectionString'],
      properties: {
        id: { type: 'string' },
        connectionString: { type: 'string', minLength: 1, maxLength: 4096, description: 'mongodb://…/<database> or mongodb+srv://…/<database>' },
        projectId: { type: 'string', description: 'Atlas projectId' },
        savePassword: { type: 'boolean', default: false },
        projectName: { type: 'string', description: 'Atlas project name' },
        clusterName: { type: 'string', description: 'Atlas cluster name' },
        existingConnectionId: { type: 'string', pattern: '^[A-Za-z0-9-]+$', maxLength: 64 },
      },
    },
    options: rmOptions,
    verification: { type: 'object', additionalProperties: false, required: ['enabled'], properties: { enabled: { type: 'boolean', default: false } } },
    relationalTableFilters: tableFilters,
  },
} as const;

export interface RmJobRequest {
  projectId: string;
  jdbcConnectionDetails: {
    id?: string;
    type: string;
    url: string;
    user?: string;
    password?: string;
    savePassword?: boolean;
    existingConnectionId?: string;
    oraclePdbName?: string;
    isManualUri?: boolean;
  };
  mongodbConnectionDetails: {
    id?: string;
    connectionString: string;
    projectId?: string;
    savePassword?: boolean;
    projectName?: string;
    clusterName?: string;
    existingConnectionId?: string;
  };
  options: { dropCollections?: boolean; mode: 'SNAPSHOT' | 'CDC' | 'CDC_ONLY'; errorHandling?: 'FAIL' | 'WARN' | 'SKIP'; errorTolerance?: number };
  verification: { enabled: boolean };
  relationalTableFilters?: Record<string, Record<string, { whereClause?: string; rowCount?: number }>>;
}

/** A connection as sluice stores it: the URL without its password, the password apart. */
export interface ParsedConnection {
  kind: 'postgresql' | 'mysql' | 'mongodb';
  url: string;
  password?: string;
  /** What the job response shows: the URL as given, minus the password. */
  display: string;
}

const unsupported = (field: string, what: string): SluiceError =>
  new SluiceError(
    'CONNECTOR_UNKNOWN',
    `${what} is not supported; sluice reads ${SUPPORTED_SOURCE_TYPES.join(', ')} (jdbc:postgresql://, jdbc:mysql://, jdbc:mariadb://)`,
    { field, supported: [...SUPPORTED_SOURCE_TYPES] },
    { suggestion: `Use a source of type ${SUPPORTED_SOURCE_TYPES.join(', ')} with a matching JDBC URL.` },
  );

const badUrl = (field: string, why: string): SluiceError =>
  new SluiceError('CONNECTION_URL_INVALID', `body field "${field}" ${why}`, { field }, {
    suggestion: 'Send a JDBC URL such as jdbc:postgresql://host:5432/db?user=u, jdbc:mysql://host:3306/db or jdbc:mariadb://host:3306/db.',
  });

/** The connection kind of an RM source type; any type but the supported ones is refused, naming them. */
export function sourceKindOf(type: string): 'postgresql' | 'mysql' {
  const kind = TYPE_KIND[type.trim().toUpperCase()];
  if (!kind) throw unsupported('jdbcConnectionDetails.type', `Source type ${type}`);
  return kind;
}

/**
 * `jdbcConnectionDetails` → a postgresql or mysql connection. The user and password
 * may sit in the URL's query (JDBC style), in its userinfo, or in the fields beside
 * it (the fields win, as in RM's form). Only mysql, mariadb and postgresql
 * subprotocols are read; the type must agree with the URL.
 */
export function parseJdbc(details: RmJobRequest['jdbcConnectionDetails']): ParsedConnection {
  const typeKind = sourceKindOf(details.type);
  const field = 'jdbcConnectionDetails.url';
  const m = /^(?:jdbc:)?([A-Za-z][A-Za-z0-9+.-]*):(.*)$/s.exec(details.url.trim());
  if (!m) throw badUrl(field, 'is not a JDBC URL (jdbc:<subprotocol>://host:port/database)');
  const sub = m[1]!.toLowerCase() === 'postgres' ? 'postgresql' : m[1]!.toLowerCase();
  const kind = SUBPROTOCOLS[sub];
  if (!kind) throw unsupported(field, `JDBC subprotocol "${sub}"`);
  if (kind !== typeKind) throw badUrl(field, `is a ${sub} URL, but jdbcConnectionDetails.type is ${details.type}`);
  if (!m[2]!.startsWith('//')) throw badUrl(field, 'has no //host part (jdbc:<subprotocol>://host:port/database)');
  // The one URL parser (src/connection-url.ts): it refuses what it cannot read safely, naming the field.
  const u = parseConnectionUrl(details.url, kind, field);
  if (u.hosts.length === 0) throw badUrl(field, 'names no host');
  const user = details.user ?? u.user;
  const password = details.password ?? u.password;
  const hosts = u.raw.hosts;
  const path = u.raw.path === '/' ? '' : u.raw.path;
  // The user moves into the userinfo of the stored URL; the display keeps the URL's own shape.
  const others = u.raw.params.filter((_, i) => u.params[i]!.name.toLowerCase() !== 'user');
  const userinfo = user ? `${encodeURIComponent(user)}@` : '';
  const url = `${kind}://${userinfo}${hosts}${path}${others.length ? `?${others.join('&')}` : ''}`;
  const shownUser = u.raw.userinfo && details.user === undefined && u.user ? `${encodeURIComponent(u.user)}@` : '';
  const display = `jdbc:${sub}://${shownUser}${hosts}${path}${u.raw.params.length ? `?${u.raw.params.join('&')}` : ''}`;
  return { kind, url, display, ...(password !== undefined && password !== '' ? { password } : {}) };
}

/** The MongoDB connection string → a mongodb connection and the database it names (null: none). */
export function parseMongoUri(connectionString: string): ParsedConnection & { database: string | null } {
  const u = parseConnectionUrl(connectionString, 'mongodb', 'mongodbConnectionDetails.connectionString');
  const url = formatConnectionUrl(u);
  return { kind: 'mongodb', url, display: url, database: u.database || null, ...(u.password ? { password: u.password } : {}) };
}

/** Deterministic names: a second POST for the same project reuses its connections and stream. */
export const jobNames = (projectId: string) => ({
  stream: `rm-${projectId}`,
  source: `rm-${projectId}-source`,
  sink: `rm-${projectId}-mongodb`,
});

/**
 * The stream a job runs. Its tables are those the filters name; with no filters, every
 * table of the source's default schema (RM migrates the whole project).
 */
export function toStreamInput(req: RmJobRequest, ids: { sourceId: string; sinkId: string }): StreamInput {
  const filters = req.relationalTableFilters ?? {};
  const tables = Object.entries(filters).flatMap(([schema, t]) => Object.keys(t).map((table) => `${schema}.${table}`));
  // No transport: the daemon's default (Kafka when it has brokers, else direct).
  return {
    name: jobNames(req.projectId).stream,
    source: { connectionId: ids.sourceId },
    sink: { connectionId: ids.sinkId },
    mode: req.options.mode,
    tables: tables.length ? tables : ['*'],
    ...(Object.keys(filters).length ? { relationalTableFilters: filters } : {}),
    options: {
      dropCollections: req.options.dropCollections ?? false,
      errorHandling: req.options.errorHandling ?? 'FAIL',
      errorTolerance: req.options.errorTolerance ?? 0,
    },
  } as StreamInput;
}

/** What GET /jobs/{id} echoes: connection strings without passwords, Atlas names. */
export function toEcho(req: RmJobRequest, shown: { jdbc: string; mongodb: string }): RmJobEcho {
  const m = req.mongodbConnectionDetails;
  const atlas = {
    ...(m.projectName !== undefined ? { mongoDbProjectName: m.projectName } : {}),
    ...(m.projectId !== undefined ? { mongoDbProjectId: m.projectId } : {}),
    ...(m.clusterName !== undefined ? { mongoDbClusterName: m.clusterName } : {}),
  };
  return {
    jdbcConnectionString: shown.jdbc,
    mongoDbConnectionString: shown.mongodb,
    verificationRequested: req.verification.enabled,
    ...(Object.keys(atlas).length ? { atlasMetadata: atlas } : {}),
  };
}
