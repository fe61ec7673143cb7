/**
 * What crosses between a run and its sink worker (host.ts, worker.ts): plain data only,
 * so that the same messages can later cross a socket to a `--role sink` node (issue 20).
 *
 * - in: the worker's data (the stream, the sink connection with its credentials, the
 *   transport's settings), then calls (start, follow, lag, close) and an abort;
 * - out: replies, the far end's failure for good, and what the run shows an operator:
 *   log lines, metric events, counter changes and job updates.
 */
import type { ConnectionSpec, ConnectorContext, RunEvent, StreamSpec, TableRef } from '../../core';
import { ERRORS, SluiceError, type ErrorCode } from '../../errors';
import type { Logger } from '../../logger';
import type { RunCounters } from '../persistence';
import type { WrittenEvent } from '../../metrics/stream-meter';

/** How a sink worker is built: plain, structured-clonable data. Holds credentials: never logged. */
export interface SinkWorkerData {
  streamId: string;
  runId: string;
  /** The run's log level, so that the worker formats only the lines the run would log. */
  logLevel: string;
  /** The plan's stream, tables resolved, mapping rules included. */
  stream: StreamSpec;
  sinkConnection: ConnectionSpec;
  /** The transport's kind and settings, as `transportEnds` takes them. */
  transport: { kind: string; settings: Record<string, unknown> };
}

export type CallOp = 'start' | 'follow' | 'lag' | 'close';

export type ToWorker = { t: 'call'; id: number; op: CallOp; args?: unknown } | { t: 'abort' };


export type FromWorker =
  | { t: 'reply'; id: number; ok: true; value?: unknown }
  | { t: 'reply'; id: number; ok: false; error: WireError }
  | { t: 'fatal'; error: WireError }
  | { t: 'log'; line: string }
  | { t: 'count'; event: RunEvent; n?: number; table?: TableRef }
  | { t: 'report'; update: Parameters<NonNullable<ConnectorContext['report']>>[0] }
  | { t: 'written'; events: WrittenEvent[]; at: number; threadId: number }
  | { t: 'failed'; n: number }
  | { t: 'counter'; key: keyof RunCounters; delta: number };

export interface WireError {
  name: string;
  message: string;
  stack?: string;
  code?: unknown;
  retriable?: unknown;
  suggestion?: string;
  detail?: Record<string, unknown>;
  cause?: WireError;
}

/** An error as plain data: its class's fields (a SluiceError's code, detail, suggestion) and its causes. */
export function encodeError(err: unknown, depth = 0): WireError {
  if (!(err instanceof Error)) return { name: 'Error', message: String(err) };
  const e = err as Error & { code?: unknown; retriable?: unknown; suggestion?: unknown; detail?: unknown };
  const out: WireError = { name: e.name, message: e.message };
  if (e.stack !== undefined) out.stack = e.stack;
  if (typeof e.code === 'string' || typeof e.code === 'number') out.code = e.code;
  if (typeof e.retriable === 'boolean') out.retriable = e.retriable;
  if (typeof e.suggestion === 'string') out.suggestion = e.suggestion;
  if (e.detail && typeof e.detail === 'object') out.detail = plainDetail(e.detail as Record<string, unknown>);
  if (e.cause !== undefined && depth < 4) out.cause = encodeError(e.cause, depth + 1);
  return out;
}

/** Detail values that do not clone (a function, a class instance with methods) become their JSON form. */
function plainDetail(detail: Record<string, unknown>): Record<string, unknown> {
  try {
    return structuredClone(detail);
  } catch {
    return JSON.parse(JSON.stringify(detail, (_k, v: unknown) => (typeof v === 'bigint' ? v.toString() : v))) as Record<string, unknown>;
  }
}

/** The error again: a SluiceError for a catalogue code (so status, retry policy and failureError read it as before), else an Error with its fields. */
export function decodeError(w: WireError): Error {
  const cause = w.cause ? decodeError(w.cause) : undefined;
  let err: Error;
  if (w.name === 'SluiceError' && typeof w.code === 'string' && Object.hasOwn(ERRORS, w.code)) {
    err = new SluiceError(w.code as ErrorCode, w.message, w.detail ?? {}, { ...(cause ? { cause } : {}), ...(w.suggestion !== undefined ? { suggestion: w.suggestion } : {}) });
  } else {
    err = new Error(w.message, cause ? { cause } : undefined);
    err.name = w.name;
    const fields = err as unknown as Record<string, unknown>;
    if (w.code !== undefined) fields.code = w.code;
    if (w.retriable !== undefined) fields.retriable = w.retriable;
    if (w.detail !== undefined) fields.detail = w.detail;
  }
  if (w.stack !== undefined) err.stack = w.stack;
  return err;
}

/** pino's fields of its own, which the run's logger sets again. */
const OWN_FIELDS = new Set(['level', 'time', 'pid', 'hostname', 'service', 'msg']);
const LEVELS: Record<number, 'trace' | 'debug' | 'info' | 'warn' | 'error' | 'fatal'> = { 10: 'trace', 20: 'debug', 30: 'info', 40: 'warn', 50: 'error', 60: 'fatal' };

/** Logs a line the worker's pino wrote through the run's logger: the same fields, the run's bindings (stream, run) added. */
export function replayLogLine(logger: Logger, line: string): void {
  let parsed: Record<string, unknown>;
  try {
    parsed = JSON.parse(line) as Record<string, unknown>;
  } catch {
    logger.warn({ line: line.slice(0, 500) }, 'the sink worker wrote a log line that is not JSON');
    return;
  }
  const level = LEVELS[parsed.level as number] ?? 'info';
  const fields: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(parsed)) if (!OWN_FIELDS.has(k)) fields[k] = v;
  logger[level](fields, typeof parsed.msg === 'string' ? parsed.msg : '');
}
