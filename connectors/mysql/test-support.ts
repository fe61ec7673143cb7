/** Helpers for the MySQL integration tests: drive a Source directly against the stack's MariaDB. */
import pino from 'pino';
import type { ChangeEvent, ConnectorContext, EventBatch, Position, StreamSpec } from '../../src/core';
import { stackUrls } from '../../test/helpers/stack';
import { clientConfig, connect, type Conn } from './naming';
import { MysqlSource } from './source';


/** The stack's MariaDB; only SLUICE_TEST_MYSQL_URL is needed to run these tests alone. */
export function mysqlUrl(): string | undefined {
  try {
    return stackUrls().mysql;
  } catch {
    return process.env.SLUICE_TEST_MYSQL_URL?.trim() || undefined;
  }
}

export const skipReason = (): string | false => (mysqlUrl() ? false : 'SLUICE_TEST_MYSQL_URL is not set (start the test stack)');

export async function admin(url = mysqlUrl()!): Promise<Conn> {
  return connect(clientConfig(url));
}

export function database(): string {
  return clientConfig(mysqlUrl()!).database;
}

let seq = 0;
export function uniqueId(prefix: string): string {
  return `${prefix}-${process.pid}-${Date.now().toString(36)}-${seq++}`;
}
/** A table name for a test (MySQL identifiers: 64 characters). */
export function tableName(prefix: string): string {
  return `${prefix}_${process.pid}_${Date.now().toString(36)}_${seq++}`.slice(0, 64);
}

export function streamSpec(id: string, tables: string[], options: Record<string, unknown> = {}, extra: Partial<StreamSpec> = {}): StreamSpec {
  return { id, name: id, source: { connectionId: 'my' }, sink: { connectionId: 'mongo' }, transport: { kind: 'direct' }, mode: 'CDC', tables, options, ...extra };
}

export const logger = pino({ level: process.env.SLUICE_TEST_LOG ?? 'silent' });

export function makeSource(stream: StreamSpec, url = mysqlUrl()!, options: Record<string, unknown> = {}): MysqlSource {
  return new MysqlSource({ connection: { id: 'my', name: 'my', kind: 'mysql', url, options }, stream, logger });
}

export function context(streamId: string): ConnectorContext & { abort(): void } {
  const ac = new AbortController();
  return { streamId, runId: 'r1', logger, signal: ac.signal, abort: () => ac.abort() };
}

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

