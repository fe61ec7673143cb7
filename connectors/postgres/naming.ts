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
import { SluiceError } from '../../src/errors';
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
 * output settings the type converter relies on, and raw text values.
 */
export function clientConfig(url: string, options: Record<string, unknown> = {}): ClientConfig {
  const o = postgresConnectionOptions({ options });
  const base: ClientConfig = {
    options: SESSION_OPTIONS,
    types: RAW_TEXT_TYPES,
    application_name: o.applicationName,
    connectionTimeoutMillis: o.connectTimeoutMs,
  };
  let parsed: URL;
  try {
    parsed = new URL(url.startsWith('jdbc:') ? url.slice(5) : url);
  } catch {
    throw new SluiceError('SOURCE_CONFIG_INVALID', 'the connection url is not a PostgreSQL URL', {}, {
      suggestion: 'Use postgresql://user:password@host:port/database or jdbc:postgresql://host:port/database?user=…&password=…',
    });
  }
  if (parsed.protocol !== 'postgresql:' && parsed.protocol !== 'postgres:') {
    throw new SluiceError('SOURCE_CONFIG_INVALID', `the connection url scheme ${parsed.protocol} is not postgresql:`, {});
  }
  const database = decodeURIComponent(parsed.pathname.replace(/^\//, ''));
  if (!database) {
    throw new SluiceError('SOURCE_CONFIG_INVALID', 'the connection url names no database', {}, {
      suggestion: 'Add the database to the url path: postgresql://host:port/<database>',
    });
  }
  const q = parsed.searchParams;
  const sslmode = q.get('sslmode') ?? (q.get('ssl') === 'true' ? 'require' : null);
  return {
    ...base,
    host: parsed.hostname.replace(/^\[|\]$/g, '') || '127.0.0.1',
    port: parsed.port ? Number(parsed.port) : 5432,
    database,
    user: decodeURIComponent(parsed.username) || q.get('user') || undefined,
    password: decodeURIComponent(parsed.password) || q.get('password') || undefined,
    ...(sslmode && sslmode !== 'disable' ? { ssl: { rejectUnauthorized: sslmode === 'verify-full' || sslmode === 'verify-ca' } } : {}),
  };
}
