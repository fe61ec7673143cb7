/**
 * pino logging: JSON lines, or pretty on a TTY. Credentials never reach a log line:
 * known secret fields are redacted by path, and URLs are masked before they are logged.
 */
import pino, { type Logger } from 'pino';
import pretty from 'pino-pretty';
import { maskConnectionUrl } from './connection-url';

export type { Logger } from 'pino';

const SECRET_FIELDS = ['password', 'passwords', 'secret', 'secretKey', 'adminKey', 'apiKey', 'key', 'token', 'authorization'];

export const REDACT_PATHS = [
  ...SECRET_FIELDS,
  ...SECRET_FIELDS.map((f) => `*.${f}`),
  ...SECRET_FIELDS.map((f) => `*.*.${f}`),
  'req.headers["x-api-key"]',
  'req.headers.authorization',
  'headers["x-api-key"]',
  'headers.authorization',
  'req.headers["x-connection-password"]',
  'headers["x-connection-password"]',
];

/** Query parameters whose values are never logged: a key sent as `?apiKey=` was logged in clear (issue 22). */
const SECRET_QUERY = /key|token|secret|pass|pwd|auth|credential|sig/i;

/** A request URL fit for a log line: the values of secret-looking query parameters replaced. */
export function redactQuery(url: string): string {
  const q = url.indexOf('?');
  if (q < 0) return url;
  const params = url
    .slice(q + 1)
    .split('&')
    .map((p) => {
      const eq = p.indexOf('=');
      let name = eq < 0 ? p : p.slice(0, eq);
      try {
        name = decodeURIComponent(name);
      } catch {
        // a malformed escape: judged as written
      }
      return SECRET_QUERY.test(name) ? `${eq < 0 ? p : p.slice(0, eq)}=[redacted]` : p;
    });
  return `${url.slice(0, q)}?${params.join('&')}`;
}

/**
 * How the API's request logs show a request (Fastify takes its logger's `req` serializer
 * over its own): as Fastify does, with the query's secrets redacted.
 */
export function requestSerializer(req: { method?: string; url?: string; host?: string; ip?: string; socket?: { remotePort?: number } }) {
  return { method: req.method, url: typeof req.url === 'string' ? redactQuery(req.url) : req.url, host: req.host, remoteAddress: req.ip, remotePort: req.socket?.remotePort };
}

export interface LoggerOptions {
  level: string;
  pretty: 'auto' | 'true' | 'false';
  /** Where to write (tests pass a stream); default stdout. */
  destination?: NodeJS.WritableStream;
}

/** How long the last log lines may take to reach a stdout that does not drain, at exit. */
export const EXIT_FLUSH_MS = 1000;
/** Log bytes held for a stdout that does not take them; lines past this are dropped. */
const MAX_BUFFERED_BYTES = 8 * 1024 * 1024;

type Destination = ReturnType<typeof pino.destination>;

/**
 * stdout, asynchronously, such that a pipe nobody reads never holds the process: pino
 * flushes synchronously at exit, and sonic-boom retries that write for ever while the
 * pipe is full (EAGAIN), so a daemon whose parent died or stopped reading could not
 * exit (seen on SIGTERM). Here the exit flush gets EXIT_FLUSH_MS, and the buffer for a
 * stuck stdout is bounded: what cannot be written is dropped, never waited for.
 */
function stdoutDestination(): Destination {
  let budgetUntil = 0;
  const dest = pino.destination({
    sync: false,
    maxLength: MAX_BUFFERED_BYTES,
    // Asynchronous writes keep retrying (budgetUntil 0); the synchronous one gives up in time.
    retryEAGAIN: () => budgetUntil === 0 || Date.now() < budgetUntil,
  });
  const flushSync = dest.flushSync.bind(dest);
  dest.flushSync = () => {
    budgetUntil = Date.now() + EXIT_FLUSH_MS;
    try {
      flushSync();
    } catch {
      // stdout is stuck or gone: the lines still held are dropped
    } finally {
      budgetUntil = 0;
    }
  };
  return dest;
}

/**
 * Writes out what the logger holds, waiting at most EXIT_FLUSH_MS, then exits with
 * `code`. The only way the daemon exits, so that logging can never delay an exit.
 */
export function flushAndExit(logger: Logger, code: number): void {
  let done = false;
  const exit = (): void => {
    if (done) return;
    done = true;
    // pino's synchronous flush at exit writes what is left, within EXIT_FLUSH_MS (see above).
    process.exit(code);
  };
  process.exitCode = code;
  setTimeout(exit, EXIT_FLUSH_MS);
  try {
    logger.flush(() => exit());
  } catch {
    exit();
  }
}

export function createLogger(opts: LoggerOptions): Logger {
  const usePretty = opts.pretty === 'true' || (opts.pretty === 'auto' && process.stdout.isTTY === true && !opts.destination);
  const options: pino.LoggerOptions = {
    level: opts.level,
    base: { service: 'sluice', pid: process.pid },
    redact: { paths: REDACT_PATHS, censor: '[redacted]' },
    timestamp: pino.stdTimeFunctions.isoTime,
  };
  if (usePretty) return pino(options, pretty({ colorize: true, sync: true }));
  if (opts.destination) return pino(options, opts.destination as pino.DestinationStream);
  return pino(options, stdoutDestination());
}

/** A URL with its password replaced, fit for logs and API answers (the one parser: src/connection-url.ts). */
export function maskUrl(url: string): string {
  return maskConnectionUrl(url);
}
