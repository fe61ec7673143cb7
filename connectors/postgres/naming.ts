/**
 * Names of what the connector creates in the source database, and how a
 * connection URL becomes pg client settings.
 *
 * Each stream owns one publication and one logical replication slot, both named
 * `sluice_<stream id without '-', lower case>` (cut to PostgreSQL's 63-byte
 * identifier limit). Stream ids match ^[A-Za-z0-9-]+$, so the name is a plain
 * identifier that needs no quoting rules of its own; it is derived, never stored,
 * so a restarted daemon finds the same slot, and deleting the stream (drop())
 * removes exactly these two objects.
 */
import type { ClientConfig } from 'pg';
import { sourceAddress } from '../../src/source-kit/source-url';
import { sqlTls } from '../../src/connection-tls';
import type { PgConfig } from './pg-errors';
import { RAW_TEXT_TYPES, SESSION_OPTIONS } from './types';
import { postgresConnectionOptions } from './options';

const MAX_IDENTIFIER = 63;

export function slotName(streamId: string): string {
  return `sluice_${streamId.replace(/-/g, '').toLowerCase()}`.slice(0, MAX_IDENTIFIER);
}

export function publicationName(streamId: string): string {
  return slotName(streamId);
}

/** Quotes an identifier for SQL text (schema, table, column names). */
export function ident(name: string): string {
  return `"${name.replace(/"/g, '""')}"`;
}

export function qualified(schema: string, table: string): string {
  return `${ident(schema)}.${ident(table)}`;
}

/** Escapes a string literal (only for replication-protocol commands, which take no parameters). */
export function literal(value: string): string {
  return `'${value.replace(/'/g, "''")}'`;
}

/**
 * `postgresql://user:pass@host:port/db` (handed to pg as is) or
 * `jdbc:postgresql://host:port/db?user=…&password=…`. Every session gets the fixed
 * output settings the type converter relies on, and raw text values. TLS: the
 * `sslmode`/`tls` options, else the URL's sslmode (or ssl=true: require), with libpq's
 * meanings (src/connection-tls.ts); every session uses it, the replication one included.
 */
export function clientConfig(url: string, options: Record<string, unknown> = {}): PgConfig {
  const o = postgresConnectionOptions({ options });
  const base: ClientConfig = {
    options: SESSION_OPTIONS,
    types: RAW_TEXT_TYPES,
    application_name: o.applicationName,
    connectionTimeoutMillis: o.connectTimeoutMs,
  };
  // The one URL parser (src/connection-url.ts), through what both sources read of it.
  const u = sourceAddress(url, 'postgresql', 5432);
  const { mode, ssl } = sqlTls(o, u.params.get('sslmode') ?? (u.params.get('ssl') === 'true' ? 'require' : null));
  return {
    ...base,
    host: u.host,
    port: u.port,
    database: u.database,
    user: u.user,
    password: u.password,
    sslmode: mode,
    ...(ssl ? { ssl } : {}),
  };
}
