/** Helpers for the PostgreSQL integration tests: drive a Source directly against the stack's server. */
import { Client } from 'pg';
import pino from 'pino';
import type { ChangeEvent, ConnectorContext, EventBatch, Position, StreamSpec } from '../../src/core';
import { PostgresSource } from './source';
import { slotName } from './naming';
import { stackUrls } from '../../test/helpers/stack';
import { waitFor } from '../../test/helpers/wait-for';

/** The stack's PostgreSQL; only SLUICE_TEST_POSTGRES_URL is needed to run these tests alone. */
export function postgresUrl(): string | undefined {
  try {
    return stackUrls().postgres;
  } catch {
    return process.env.SLUICE_TEST_POSTGRES_URL?.trim() || undefined;
  }
}

export const skipReason = (): string | false => (postgresUrl() ? false : 'SLUICE_TEST_POSTGRES_URL is not set (start the test stack)');

export async function admin(): Promise<Client> {
  const c = new Client({ connectionString: postgresUrl() });
  c.on('error', () => undefined); // a server restart shows up on the next query instead
  await c.connect();
  return c;
}

let seq = 0;
/** A stream id unique to this test run. */
export function uniqueId(prefix: string): string {
  return `${prefix}-${process.pid}-${Date.now().toString(36)}-${seq++}`;
}

export function streamSpec(id: string, tables: string[], options: Record<string, unknown> = {}, extra: Partial<StreamSpec> = {}): StreamSpec {
  return {
    id,
    name: id,
    source: { connectionId: 'pg' },
    sink: { connectionId: 'mongo' },
    transport: { kind: 'direct' },
    mode: 'CDC',
    tables,
    options,
    ...extra,
  };
}

export const logger = pino({ level: process.env.SLUICE_TEST_LOG ?? 'silent' });

export function makeSource(stream: StreamSpec, url = postgresUrl()!): PostgresSource {
  return new PostgresSource({ connection: { id: 'pg', name: 'pg', kind: 'postgresql', url, options: {} }, stream, logger });
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

export async function confirmedFlush(c: Client, streamId: string): Promise<bigint | null> {
  const { rows } = await c.query('SELECT confirmed_flush_lsn::text AS lsn FROM pg_replication_slots WHERE slot_name = $1', [slotName(streamId)]);
  const lsn = (rows[0] as { lsn: string | null } | undefined)?.lsn;
  if (!lsn) return null;
  const [hi, lo] = lsn.split('/');
  return (BigInt(`0x${hi}`) << 32n) | BigInt(`0x${lo}`);
}

/** Drops what a test's source created, whatever state it is in. */
export async function cleanup(source: PostgresSource): Promise<void> {
  await source.close().catch(() => undefined);
  await source.drop().catch(() => undefined);
}

/**
 * Resolves once a walsender streams from the stream's slot. (The slot shows up as
 * "active" already while pg_create_logical_replication_slot waits for a consistent
 * point; writes made before that point are not part of the stream.)
 */
export async function streaming(c: Client, streamId: string): Promise<void> {
  await waitFor(
    async () =>
      ((await c.query('SELECT 1 FROM pg_replication_slots s JOIN pg_stat_replication r ON r.pid = s.active_pid WHERE s.slot_name = $1', [slotName(streamId)])).rowCount ?? 0) > 0,
    { timeoutMs: 20_000, intervalMs: 20, message: `a walsender on ${slotName(streamId)}` },
  );
}
