/**
 * Turns what `pg` throws into catalogue errors at the connector's boundary, so the
 * run loop can tell "database down, retry" from "fix your setup".
 */
import { Client, type ClientConfig } from 'pg';
import { SluiceError, isSluiceError, type ErrorContext } from '../../src/errors';
import { openPreferringTls, tlsError, type SslMode } from '../../src/connection-tls';

/** pg settings plus the sslmode they came from (pg ignores the extra field; connect() reads it for prefer). */
export type PgConfig = ClientConfig & { sslmode?: SslMode };

const NETWORK_CODES = new Set(['ECONNREFUSED', 'ENOTFOUND', 'EAI_AGAIN', 'ETIMEDOUT', 'ECONNRESET', 'EHOSTUNREACH', 'ENETUNREACH', 'EPIPE']);
// SQLSTATE classes 08 (connection), 57P0x (shutdown), 53 (resources), 28 (auth), 3D000 (no database).
const UNREACHABLE_SQLSTATE = /^(08|57P0|53|28|3D000)/;

export function isUnreachable(err: unknown): boolean {
  const e = err as { code?: unknown; message?: unknown } | null;
  const code = typeof e?.code === 'string' ? e.code : '';
  if (NETWORK_CODES.has(code) || UNREACHABLE_SQLSTATE.test(code)) return true;
  return typeof e?.message === 'string' && /Connection terminated|timeout expired|connect ETIMEDOUT/i.test(e.message);
}

export function toSourceError(err: unknown, what: string, detail: ErrorContext = {}): SluiceError {
  if (isSluiceError(err)) return err;
  const message = err instanceof Error ? err.message : String(err);
  const sqlstate = (err as { code?: unknown } | null)?.code;
  const d = { ...detail, ...(typeof sqlstate === 'string' ? { sqlstate } : {}) };
  const tls = tlsError(err, what, d);
  if (tls) return tls;
  // pg's words for bytes that are no PostgreSQL message: another kind of server on that port.
  if (/received invalid response/i.test(message)) {
    return new SluiceError('CONNECTION_PROTOCOL_MISMATCH', `${what}: the server answered with bytes that are not PostgreSQL's (another kind of server listens on this port?)`, { ...d, kind: 'postgresql' }, { cause: err });
  }
  // Class 28: invalid authorization (wrong password, no pg_hba.conf entry): waiting does not fix it.
  if (typeof sqlstate === 'string' && sqlstate.startsWith('28')) return new SluiceError('SOURCE_AUTH_FAILED', `${what}: ${message}`, d, { cause: err });
  if (isUnreachable(err)) return new SluiceError('SOURCE_UNREACHABLE', `${what}: ${message}`, d, { cause: err });
  if (sqlstate === '42501') return new SluiceError('SOURCE_PRIVILEGES_MISSING', `${what}: ${message}`, { ...d, missing: [message] }, { cause: err });
  return new SluiceError('SOURCE_READ_FAILED', `${what}: ${message}`, d, { cause: err });
}

/**
 * Opens a client; failures become SOURCE_UNREACHABLE (or the matching code: a TLS
 * failure its TLS_* code). sslmode prefer: a server that answers the SSLRequest with
 * "no" is connected to in plain text, and `config` remembers that (ssl dropped), so the
 * sessions opened from it later (the replication connection included) do the same.
 */
export async function connect(config: PgConfig, what = 'connecting to PostgreSQL'): Promise<Client> {
  return openPreferringTls(config, (c) => open(c, what));
}

async function open(config: ClientConfig, what: string): Promise<Client> {
  const client = new Client(config);
  // An idle client whose server goes away emits 'error'; without a listener that
  // would crash the process. The next query on it fails and reports properly.
  client.on('error', () => undefined);
  try {
    await client.connect();
    return client;
  } catch (err) {
    await client.end().catch(() => undefined);
    const detail = { host: config.host, port: config.port, database: config.database };
    if (err instanceof Error && err.message === 'timeout expired') {
      // pg's own words say nothing of what timed out.
      const e = new Error(`no PostgreSQL answer within ${config.connectionTimeoutMillis} ms (the server is down or filtered, or another kind of server that waits for its client listens on this port)`);
      throw new SluiceError('SOURCE_UNREACHABLE', `${what}: ${e.message}`, detail, { cause: err });
    }
    throw toSourceError(err, what, detail);
  }
}
