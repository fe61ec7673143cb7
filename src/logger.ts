/**
 * pino logging: JSON lines, or pretty on a TTY. Credentials never reach a log line:
 * known secret fields are redacted by path, and URLs are masked before they are logged.
 */
import pino, { type Logger } from 'pino';
import pretty from 'pino-pretty';

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

export interface LoggerOptions {
  level: string;
  pretty: 'auto' | 'true' | 'false';
  /** Where to write (tests pass a stream); default stdout. */
  destination?: NodeJS.WritableStream;
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
  return pino(options, (opts.destination as pino.DestinationStream | undefined) ?? pino.destination({ sync: false }));
}

/** A URL with its password replaced, fit for logs and API answers. */
export function maskUrl(url: string): string {
  try {
    const u = new URL(url.replace(/^jdbc:/, ''));
    if (u.password) u.password = '****';
    const prefix = url.startsWith('jdbc:') ? 'jdbc:' : '';
    return prefix + u.toString();
  } catch {
    return url.replace(/(\/\/[^:/@]+:)[^@]*@/, '$1****@');
  }
}
