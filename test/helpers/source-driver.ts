/**
 * Driving a Source directly in a connector's integration tests (no run loop): a
 * context to hand it, unique ids, and a Puller that reads its batches one at a time
 * so the test decides when to ack. Shared by the PostgreSQL and MySQL tests.
 */
import assert from 'node:assert/strict';
import pino from 'pino';
import type { ChangeEvent, ConnectorContext, EventBatch, Position } from '../../src/core';
import { isSluiceError } from '../../src/errors';

export const logger = pino({ level: process.env.SLUICE_TEST_LOG ?? 'silent' });

let seq = 0;
/** A stream id unique to this test run. */
export function uniqueId(prefix: string): string {
  return `${prefix}-${process.pid}-${Date.now().toString(36)}-${seq++}`;
}

/** A table name unique to this test run, at most `max` characters. */
export function uniqueTable(prefix: string, max: number): string {
  return `${prefix}_${process.pid}_${Date.now().toString(36)}_${seq++}`.slice(0, max);
}

export function context(streamId: string): ConnectorContext & { abort(): void } {
  const ac = new AbortController();
  return { streamId, runId: 'r1', logger, signal: ac.signal, abort: () => ac.abort() };
}

/** For assert.rejects: a SluiceError with code `c` whose detail has the fields given. */
export const errorCode = (c: string, field?: Record<string, unknown>) => (err: unknown): boolean => {
  assert.ok(isSluiceError(err), String(err));
  assert.equal(err.code, c, err.message);
  for (const [k, v] of Object.entries(field ?? {})) assert.equal(err.detail[k], v, `${k} in ${JSON.stringify(err.detail)}`);
  return true;
};

/** Pulls batches one at a time; the caller decides when to ack. */
export class Puller {
  readonly it: AsyncIterator<EventBatch>;
  #pending: Promise<IteratorResult<EventBatch>>;
  /** Starts the generator at once (async generators are lazy) and keeps one pull in flight. */
  constructor(iterable: AsyncIterable<EventBatch>) {
    this.it = iterable[Symbol.asyncIterator]();
    this.#pending = this.it.next();
    this.#pending.catch(() => undefined);
  }
  async next(timeoutMs = 20_000): Promise<EventBatch> {
    let timer: NodeJS.Timeout | undefined;
    const r = await Promise.race([
      this.#pending,
      new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`no batch within ${timeoutMs}ms`)), timeoutMs))),
    ]).finally(() => clearTimeout(timer));
    if (r.done) throw new Error('stream ended');
    this.#pending = this.it.next();
    this.#pending.catch(() => undefined);
    return r.value;
  }
  /** Resolves when the generator is finished; returns the remaining batches. */
  async rest(): Promise<EventBatch[]> {
    const out: EventBatch[] = [];
    for (let r = await this.#pending; !r.done; r = await this.#pending) {
      out.push(r.value);
      this.#pending = this.it.next();
    }
    return out;
  }
  /** Pulls until `n` events arrived; returns them and the last position seen. */
  async events(n: number, timeoutMs = 20_000): Promise<{ events: ChangeEvent[]; position: Position | null; batches: EventBatch[] }> {
    const events: ChangeEvent[] = [];
    const batches: EventBatch[] = [];
    let position: Position | null = null;
    while (events.length < n) {
      const b = await this.next(timeoutMs);
      batches.push(b);
      events.push(...b.events);
      if (b.position) position = b.position;
    }
    return { events, position, batches };
  }
}

/** A sink in memory: the events applied by key (a TOAST-unchanged `undefined` leaves the field as it was). */
export function applyEvents(state: Map<string, Record<string, unknown>>, events: ChangeEvent[]): void {
  for (const e of events) {
    const k = JSON.stringify(e.key);
    if (e.op === 'd') state.delete(k);
    else state.set(k, { ...state.get(k), ...Object.fromEntries(Object.entries(e.after!).filter(([, v]) => v !== undefined)) });
  }
}

/**
 * Reads the first `batches` batches of a fresh snapshot into `sink`, then closes the
 * source as a dying process would; resolves with the last position read (where a
 * second source resumes).
 */
export async function snapshotThenDie(
  source: { snapshot(plan: { tables: Array<{ schema: string; table: string }>; resumeFrom: Position | null }, ctx: ConnectorContext): AsyncIterable<EventBatch>; close(): Promise<void> },
  tables: Array<{ schema: string; table: string }>,
  streamId: string,
  sink: Map<string, Record<string, unknown>>,
  batches: number,
): Promise<Position | null> {
  let saved: Position | null = null;
  try {
    const p = new Puller(source.snapshot({ tables, resumeFrom: null }, context(streamId)));
    for (let i = 0; i < batches; i++) {
      const b = await p.next();
      applyEvents(sink, b.events);
      saved = b.position;
    }
  } finally {
    await source.close();
  }
  return saved;
}
