/**
 * How a connection URL becomes mysql client settings, identifier quoting, and how
 * driver errors become catalogue errors at the connector's boundary.
 *
 * Every session runs with `time_zone = '+00:00'` so TIMESTAMP columns are read as
 * UTC text in the snapshot (the binlog carries them as epoch seconds anyway), and
 * values come back as text, numbers or bytes (types.ts converts them and binlog values alike).
 * The driver is mysql2, which speaks caching_sha2_password (MySQL 8.0+'s default).
 */
import tls from 'node:tls';
import mysql from 'mysql2';
import { SluiceError, isSluiceError, type ErrorContext } from '../../src/errors';
import { openPreferringTls, sqlTls, tlsError, type SslMode } from '../../src/connection-tls';
import { mysqlConnectionOptions } from './options';
import { sourceAddress } from '../../src/source-kit/source-url';

/**
 * The one `ssl` object every session of a connection gets (queries, snapshot, the
 * binlog): node TLS material plus mysql2's `verifyIdentity` (check the host name too),
 * so that either driver takes it as is.
 */
export interface MysqlSsl {
  ca?: string;
  cert?: string;
  key?: string;
  rejectUnauthorized: boolean;
  verifyIdentity: boolean;
  /** The name the certificate must carry when it is not the host dialled. */
  servername?: string;
}

export interface MysqlConfig {
  host: string;
  port: number;
  database: string;
  user?: string;
  password?: string;
  connectTimeout: number;
  sslmode: SslMode;
  /** false: none (after a prefer fallback). */
  ssl?: MysqlSsl | false;
}

/**
 * `mysql://user:pass@host:port/db`, `mariadb://…` or `jdbc:mysql://host:port/db?user=…&password=…`.
 * TLS: the `sslmode`/`tls` options, else the URL's sslmode, or ssl=true/useSSL=true
 * (require), with libpq's meanings (src/connection-tls.ts).
 */
export function clientConfig(url: string, options: Record<string, unknown> = {}): MysqlConfig {
  // The one URL parser (src/connection-url.ts), through what both sources read of it.
  const u = sourceAddress(url, 'mysql', 3306);
  const { user, password } = u;
  const o = mysqlConnectionOptions({ options });
  const urlMode = u.params.get('sslmode') ?? (u.params.get('ssl') === 'true' || u.params.get('useSSL') === 'true' ? 'require' : null);
  const { mode, ssl } = sqlTls(o, urlMode);
  return {
    host: u.host,
    port: u.port,
    database: u.database,
    ...(user ? { user } : {}),
    ...(password ? { password } : {}),
    connectTimeout: o.connectTimeoutMs,
    sslmode: mode,
    ...(ssl
      ? {
          ssl: {
            ...(typeof ssl.ca === 'string' ? { ca: ssl.ca } : {}),
            ...(typeof ssl.cert === 'string' ? { cert: ssl.cert } : {}),
            ...(typeof ssl.key === 'string' ? { key: ssl.key } : {}),
            rejectUnauthorized: ssl.rejectUnauthorized !== false,
            verifyIdentity: mode === 'verify-full',
            ...(o.tls?.servername ? { servername: o.tls.servername } : {}),
          },
        }
      : {}),
  };
}

type StartTls = (this: { config: { host: string; ssl: MysqlSsl }; stream: tls.TLSSocket }, onSecure: (err?: Error | null) => void) => void;

/**
 * mysql2 checks the host name only when the host dialled is a name (not for an IP
 * address) and never against `ssl.servername`. Patched here (binlog connections included:
 * @vlasky/zongji uses the same mysql2): with `ssl.verifyIdentity` the certificate must name
 * `ssl.servername` or the host, checked before the client authenticates.
 */
function tlsChecks(connectionClass: { prototype: { startTLS: StartTls; sluiceTls?: true } }): void {
  const proto = connectionClass.prototype;
  if (proto.sluiceTls) return;
  const start = proto.startTLS;
  proto.startTLS = function (onSecure) {
    const ssl = this.config.ssl;
    if (!ssl.verifyIdentity || ssl.rejectUnauthorized === false) return start.call(this, onSecure);
    // mysql2 reads the flag as it starts; our check below replaces its own.
    this.config.ssl = { ...ssl, verifyIdentity: false };
    try {
      start.call(this, (err) => {
        const e = err ?? tls.checkServerIdentity(ssl.servername ?? this.config.host, this.stream.getPeerCertificate()) ?? null;
        onSecure(e);
      });
    } finally {
      this.config.ssl = ssl;
    }
  };
  proto.sluiceTls = true;
}
tlsChecks(mysql.Connection as unknown as { prototype: { startTLS: StartTls } });

/**
 * Settings for the mysql2 driver. DECIMAL and BIGINT as exact text, DATE/DATETIME/TIMESTAMP
 * as text (the session is UTC), JSON as text (types.ts parses it, so invalid JSON in a
 * MariaDB LONGTEXT is a record error), binary strings, BLOBs and BIT as bytes, small
 * integers and floats as numbers.
 */
export function driverConfig(c: MysqlConfig): mysql.ConnectionOptions {
  return {
    host: c.host,
    port: c.port,
    database: c.database,
    user: c.user,
    password: c.password,
    // A margin past our own handshake timer (see handshake), which tells a silent server from an unreachable one.
    connectTimeout: c.connectTimeout + 5000,
    charset: 'UTF8MB4_GENERAL_CI',
    timezone: 'Z',
    supportBigNumbers: true,
    bigNumberStrings: true,
    decimalNumbers: false,
    dateStrings: true,
    jsonStrings: true,
    ...(c.ssl ? { ssl: c.ssl } : {}),
  };
}

/** The identifier quote; named (U+0060) so no backtick appears in a regex or template here. */
const BACKTICK = '\u0060';

/** Quotes an identifier for SQL text: wrapped in backticks, each backtick inside doubled. */
export function ident(name: string): string {
  return BACKTICK + name.split(BACKTICK).join(BACKTICK + BACKTICK) + BACKTICK;
}

export function qualified(schema: string, table: string): string {
  return `${ident(schema)}.${ident(table)}`;
}

const NETWORK_CODES = new Set([
  'ECONNREFUSED', 'ENOTFOUND', 'EAI_AGAIN', 'ETIMEDOUT', 'ECONNRESET', 'EHOSTUNREACH', 'ENETUNREACH', 'EPIPE',
  'PROTOCOL_CONNECTION_LOST', 'PROTOCOL_SEQUENCE_TIMEOUT', 'ER_SERVER_SHUTDOWN', 'ER_CON_COUNT_ERROR',
  'ER_ACCESS_DENIED_ERROR', 'ER_BAD_DB_ERROR', 'PROTOCOL_ENQUEUE_AFTER_FATAL_ERROR', 'ER_CONNECTION_KILLED',
]);

export function isUnreachable(err: unknown): boolean {
  const e = err as { code?: unknown; fatal?: unknown; message?: unknown } | null;
  const code = typeof e?.code === 'string' ? e.code : '';
  // mysql2 refuses a query on a connection its server closed with a code-less fatal error.
  return NETWORK_CODES.has(code) || (typeof e?.message === 'string' && /Connection lost|ECONNREFUSED|server has gone away|connection is in closed state/i.test(e.message));
}

export function toSourceError(err: unknown, what: string, detail: ErrorContext = {}): SluiceError {
  if (isSluiceError(err)) return err;
  const message = err instanceof Error ? err.message : String(err);
  const code = (err as { code?: unknown } | null)?.code;
  const d = { ...detail, ...(typeof code === 'string' ? { mysqlCode: code } : {}) };
  const tls = tlsError(err, what, d);
  if (tls) return tls;
  if (code === 'ER_ACCESS_DENIED_ERROR') return new SluiceError('SOURCE_AUTH_FAILED', `${what}: ${message}`, d, { cause: err });
  if (isUnreachable(err)) return new SluiceError('SOURCE_UNREACHABLE', `${what}: ${message}`, d, { cause: err });
  if (code === 'ER_TABLEACCESS_DENIED_ERROR' || code === 'ER_SPECIFIC_ACCESS_DENIED_ERROR' || code === 'ER_DBACCESS_DENIED_ERROR') {
    return new SluiceError('SOURCE_PRIVILEGES_MISSING', `${what}: ${message}`, { ...d, missing: [message] }, { cause: err });
  }
  // 1236: the binlog position asked for is no longer on the server (purged); retrying cannot help.
  if (code === 'ER_MASTER_FATAL_ERROR_READING_BINLOG') return new SluiceError('SOURCE_POSITION_LOST', `${what}: ${message}`, d, { cause: err });
  return new SluiceError('SOURCE_READ_FAILED', `${what}: ${message}`, d, { cause: err });
}

/** A promise-shaped connection: query() with params, end(). */
export interface Conn {
  raw: mysql.Connection;
  query<T = Record<string, unknown>>(sql: string, values?: unknown[]): Promise<T[]>;
  /** Streams a result set row by row (for large reads); pauses the socket between rows. */
  end(): Promise<void>;
}

/**
 * Connects within `timeoutMs` from start to the end of the handshake. The driver's
 * connectTimeout stops at the TCP connect: a server that waits for the client to speak
 * first (PostgreSQL, Kafka, MongoDB, HTTP) left a connection test without an answer for
 * minutes. A MySQL server greets at once, so silence after the TCP connect is
 * CONNECTION_PROTOCOL_MISMATCH; no TCP connect in time is ETIMEDOUT (SOURCE_UNREACHABLE).
 */
function handshake(raw: mysql.Connection, timeoutMs: number): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    let tcp = false;
    const timer = setTimeout(() => {
      raw.destroy();
      if (tcp) {
        reject(new SluiceError('CONNECTION_PROTOCOL_MISMATCH', `connecting to MySQL: the server accepted the connection but sent no MySQL greeting within ${timeoutMs} ms (another kind of server listens on this port?)`, { kind: 'mysql' }));
      } else {
        reject(Object.assign(new Error(`no connection within ${timeoutMs} ms`), { code: 'ETIMEDOUT' }));
      }
    }, timeoutMs);
    raw.connect((err) => {
      clearTimeout(timer);
      if (err) reject(err);
      else resolve();
    });
    // mysql2 opens its socket in createConnection; `stream` is that socket.
    const stream = (raw as unknown as { stream?: NodeJS.EventEmitter & { connecting?: boolean } }).stream;
    if (stream && stream.connecting === false) tcp = true;
    stream?.once('connect', () => {
      tcp = true;
    });
  });
}

/**
 * Opens a session (TLS failures become their TLS_* code). sslmode prefer: a server that
 * offers no TLS is connected to in plain text, and `config` remembers that (ssl dropped),
 * so the sessions opened from it later (the binlog connection included) do the same.
 */
export async function connect(config: MysqlConfig, what = 'connecting to MySQL'): Promise<Conn> {
  return openPreferringTls(config, (c) => open(c, what));
}

async function open(config: MysqlConfig, what: string): Promise<Conn> {
  const raw = mysql.createConnection(driverConfig(config));
  // A connection whose server goes away emits 'error'; without a listener that
  // would crash the process. The next query on it fails and reports properly.
  raw.on('error', () => undefined);
  const conn: Conn = {
    raw,
    query: <T>(sql: string, values?: unknown[]) =>
      new Promise<T[]>((resolve, reject) => raw.query({ sql, values: values ?? [] }, (err, rows) => (err ? reject(err) : resolve(rows as unknown as T[])))),
    // A graceful COM_QUIT, but never waiting long for it: a connection whose server is
    // gone (or busy killing a replica thread) must not hold a stop.
    end: () =>
      new Promise<void>((resolve) => {
        const done = (): void => {
          clearTimeout(timer);
          raw.destroy();
          resolve();
        };
        const timer = setTimeout(done, 1000);
        try {
          raw.end(done);
        } catch {
          done();
        }
      }),
  };
  try {
    await handshake(raw, config.connectTimeout);
    await conn.query(`SET SESSION time_zone = '+00:00'`);
    return conn;
  } catch (err) {
    raw.destroy();
    throw toSourceError(err, what, { host: config.host, port: config.port, database: config.database });
  }
}
