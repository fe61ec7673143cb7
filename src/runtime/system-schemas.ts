/**
 * Which schemas a connection may browse or stream (issue 22, finding 4; README,
 * "Security"). A database's own catalogs hold its users and their password hashes
 * (PostgreSQL pg_authid's SCRAM verifiers, MariaDB mysql.global_priv's
 * authentication_string) and its server internals; sluice is not a door to them:
 *
 *   PostgreSQL      pg_catalog, information_schema, pg_toast, and every pg_* schema
 *   MySQL/MariaDB   mysql, information_schema, performance_schema, sys
 *
 * are never listed, described, previewed, validated, verified or streamed, whatever
 * the database user may read, unless an admin names the schema in the connection's
 * option `allowSystemSchemas` (e.g. `{"allowSystemSchemas": ["performance_schema"]}`;
 * only admins create and change connections). Names compare case-insensitively.
 *
 * Enforced here, called by the browse routes, stream create/replace and /validate (an
 * explicit name is refused at once), and at every place a run, a verification or a
 * mapping preview resolves its tables (patterns and bare names included).
 */
import { SluiceError } from '../errors';
import { parseConnectionUrl } from '../connection-url';
import type { TableRef } from '../core';

type Conn = { kind: string; url: string; options?: Record<string, unknown>; id?: string; name?: string };

const MYSQL_SYSTEM = new Set(['mysql', 'information_schema', 'performance_schema', 'sys']);

export function isSystemSchema(kind: string, schema: string): boolean {
  const s = schema.toLowerCase();
  if (kind === 'mysql') return MYSQL_SYSTEM.has(s);
  if (kind === 'postgresql') return s === 'information_schema' || s.startsWith('pg_');
  return false;
}

/** The schemas an admin allowed on this connection (`options.allowSystemSchemas`), lower case. */
export function allowedSystemSchemas(conn: Conn): Set<string> {
  const list = conn.options?.allowSystemSchemas;
  return new Set(Array.isArray(list) ? list.filter((x): x is string => typeof x === 'string').map((x) => x.toLowerCase()) : []);
}

/** The schema a bare table name means: PostgreSQL public, MySQL the URL's database. */
export function defaultSchemaOf(conn: Conn): string {
  if (conn.kind !== 'mysql') return 'public';
  try {
    return parseConnectionUrl(conn.url, 'mysql').database ?? '';
  } catch {
    return '';
  }
}

export function schemaAllowed(conn: Conn, schema: string): boolean {
  const s = schema === '' ? defaultSchemaOf(conn) : schema;
  return !isSystemSchema(conn.kind, s) || allowedSystemSchemas(conn).has(s.toLowerCase());
}

export function forbidden(conn: Conn, schema: string, detail: Record<string, unknown> = {}): SluiceError {
  const s = schema === '' ? defaultSchemaOf(conn) : schema;
  return new SluiceError(
    'SOURCE_SCHEMA_FORBIDDEN',
    `${s} is a system schema of the database: sluice neither browses nor streams it${conn.name ? ` (connection ${conn.name})` : ''}`,
    { schema: s, ...(conn.id ? { connectionId: conn.id } : {}), ...detail },
  );
}

/** Throws SOURCE_SCHEMA_FORBIDDEN for a table in a system schema the connection does not allow. */
export function assertSchemaAllowed(conn: Conn, ref: TableRef, detail: Record<string, unknown> = {}): void {
  if (!schemaAllowed(conn, ref.schema)) throw forbidden(conn, ref.schema, { table: ref.schema ? `${ref.schema}.${ref.table}` : ref.table, ...detail });
}

/**
 * Checks a stream's table names ("schema.table", bare, or patterns): each name, and each
 * pattern whose schema part is a plain name, must lie outside the forbidden schemas.
 * A pattern with a glob schema is checked when it is resolved (assertTablesAllowed).
 */
export function assertTableNamesAllowed(conn: Conn, names: readonly string[], field: string): void {
  for (const name of names) {
    const dot = name.indexOf('.');
    const schema = dot < 0 ? '' : name.slice(0, dot);
    if (/[*?]/.test(schema)) continue;
    if (!schemaAllowed(conn, schema)) throw forbidden(conn, schema, { field, table: name });
  }
}

/** Checks resolved "schema.table" names (a run's, a verification's, a preview's). */
export function assertTablesAllowed(conn: Conn, names: readonly string[]): void {
  assertTableNamesAllowed(conn, names, 'tables');
}
