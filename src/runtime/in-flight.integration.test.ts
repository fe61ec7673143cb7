/**
 * Pipelined publishing against the real servers (PostgreSQL → Kafka → MongoDB): a batch
 * in the middle fails at the transport boundary while later batches went on into Kafka
 * and succeeded. No position at or past the failed batch is saved, nor acked to
 * PostgreSQL; a new run from the saved position brings MongoDB back to equal the source.
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import pino from 'pino';
import type { ConnectionSpec, EventBatch, Position, StreamSpec } from '../core';
import { SluiceError } from '../errors';
import { transportEnds, type Transport, type TransportEnds, type Transports } from '../transport';
import { postgresConnector } from '../../connectors/postgres';
import { mongodbConnector } from '../../connectors/mongodb';
import { createMemoryPersistence } from './persistence';
import { newCounters, runStream, type RunOutcome } from './run';
import { stackUrls } from '../../test/helpers/stack';
import { createOrders, mongoDb, pgClient, uid, waitConverged } from '../../test/helpers/pipeline';

const logger = pino({ level: process.env.SLUICE_TEST_LOG ?? 'silent' });
const closers: Array<() => Promise<unknown>> = [];
after(async () => {
  for (const c of closers.reverse()) await c().catch(() => undefined);
});

/** The batch that fails: the FAIL_AT-th change batch with events and a position. */
const FAIL_AT = 3;
/** Later batches that must have gone into Kafka (and succeeded) before it fails. */
const LATER_OK = 2;

interface Seen {
  /** Positions of the change batches, in publish order. */
  positions: string[];
  failedIndex: number;
  laterSucceeded: number;
}

/**
 * The Kafka transport, with one change batch in the middle held back and failed once
 * LATER_OK batches published after it were acknowledged by Kafka (or after 30 s).
 */
function failingMiddle(real: TransportEnds, seen: Seen): TransportEnds {
  return {
    kind: real.kind,
    ...(real.sinkEnd ? { sinkEnd: () => real.sinkEnd!() } : {}),
    open(far, stages): Transport {
      const t = real.open(far, stages);
      let wake: () => void = () => undefined;
      const laterDone = new Promise<void>((resolve) => (wake = resolve));
      const wrapped: Transport = {
        kind: t.kind,
        start: (ctx) => t.start(ctx),
        flush: (ctx) => t.flush!(ctx),
        onFatal: (l) => t.onFatal!(l),
        lag: () => t.lag!(),
        close: () => t.close(),
        publish(batch: EventBatch, ctx) {
          if (batch.events.length === 0 || !batch.position || batch.events[0]!.op === 'r') return t.publish(batch, ctx);
          const index = seen.positions.push(JSON.stringify(batch.position)) - 1;
          if (index === FAIL_AT) {
            seen.failedIndex = index;
            return (async () => {
              let timer: NodeJS.Timeout | undefined;
              await Promise.race([laterDone, new Promise((r) => (timer = setTimeout(r, 30_000)))]);
              clearTimeout(timer);
              throw new SluiceError('KAFKA_PUBLISH_FAILED', 'injected: Kafka rejected the middle batch');
            })();
          }
          return t.publish(batch, ctx).then(() => {
            if (seen.failedIndex >= 0 && index > seen.failedIndex && ++seen.laterSucceeded >= LATER_OK) wake();
          });
        },
      };
      return wrapped;
    },
  };
}

test('a failed middle batch saves and acks no later position; the next run converges', { timeout: 240_000 }, async () => {
  const urls = stackUrls();
  const pg = await pgClient();
  closers.push(() => pg.end());
  const tag = uid();
  const name = `inflight_${tag}`;
  const slot = `sluice_inflight${tag}`;
  await createOrders(pg, `public.${name}`, 50);
  const { client, db } = await mongoDb(name);
  closers.push(() => client.close());
  const mongoUrl = new URL(urls.mongodb);
  mongoUrl.pathname = `/${name}`;
  const source: ConnectionSpec = { id: 'src', name: 'src', kind: 'postgresql', url: urls.postgres, options: {} };
  const sink: ConnectionSpec = { id: 'dst', name: 'dst', kind: 'mongodb', url: mongoUrl.toString(), options: {} };
  // Small batches, many of them in flight at once.
  const stream: StreamSpec = { id: `inflight-${tag}`, name, source: { connectionId: 'src' }, sink: { connectionId: 'dst' }, transport: { kind: 'kafka' }, mode: 'CDC', tables: [`public.${name}`], options: { maxBatchSize: 5, inFlightBytes: 64 * 1024 * 1024 } };
  const store = createMemoryPersistence({ connections: [source, sink], streams: [stream] });
  const saved: string[] = [];
  const save = store.savePosition.bind(store);
  store.savePosition = async (id, phase, position: Position) => {
    if (phase === 'cdc') saved.push(JSON.stringify(position));
    await save(id, phase, position);
  };
  closers.push(async () => {
    await pg.query(`SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE slot_name = $1 AND NOT active`, [slot]);
    await pg.query(`DROP PUBLICATION IF EXISTS ${slot}`);
  });
  const kafka = (_kind: string, s: StreamSpec): TransportEnds => transportEnds('kafka', s, { kafka: { brokers: urls.kafka } });

  const start = (transports: Transports, onStreaming: () => void): { abort: AbortController; done: Promise<RunOutcome> } => {
    const abort = new AbortController();
    const done = runStream({
      stream,
      sourceConnection: source,
      sinkConnection: sink,
      sourceModule: postgresConnector,
      sinkModule: mongodbConnector,
      ctx: { streamId: stream.id, runId: 'r', logger, signal: abort.signal },
      persistence: store,
      transports,
      counters: newCounters(),
      onPhase: async (e) => {
        if (e === 'snapshotDone') onStreaming();
      },
      onBatch: () => undefined,
    });
    return { abort, done };
  };

  // Run 1: the stream's changes go in many small transactions, so many batches carry a position.
  const seen: Seen = { positions: [], failedIndex: -1, laterSucceeded: 0 };
  let streaming!: () => void;
  const cdc = new Promise<void>((r) => (streaming = r));
  const first = start((k, s) => failingMiddle(kafka(k, s), seen), () => streaming());
  await cdc;
  for (let id = 51; id <= 250; id++) await pg.query(`INSERT INTO public.${name} VALUES ($1, $2, 'new', 1.50, date_trunc('milliseconds', now()))`, [id, id % 7]);
  await pg.query(`UPDATE public.${name} SET n = n + 1 WHERE id % 3 = 0`);
  const outcome = await first.done;
  assert.equal(outcome.kind, 'failed', `the run fails with its middle batch: ${JSON.stringify(outcome)}`);
  assert.equal(((outcome as { error: SluiceError }).error).code, 'KAFKA_PUBLISH_FAILED');
  assert.equal(seen.failedIndex, FAIL_AT);
  assert.ok(seen.laterSucceeded >= LATER_OK, `later batches were durable in Kafka before the failure (${seen.laterSucceeded})`);
  // Every position saved belongs to a batch before the failed one.
  const savedIndexes = saved.map((p) => seen.positions.indexOf(p)).filter((i) => i >= 0);
  assert.ok(savedIndexes.length > 0, 'the batches before the failed one were saved');
  assert.ok(Math.max(...savedIndexes) < FAIL_AT, `no position at or past the failed batch was saved: saved ${savedIndexes.join(',')}, failed ${FAIL_AT}`);
  assert.equal(JSON.stringify(await store.loadPosition(stream.id, 'cdc')), seen.positions[FAIL_AT - 1]);
  // Nor acked: the slot confirmed no LSN past the last saved position.
  const lastSaved = JSON.parse(seen.positions[FAIL_AT - 1]!) as { lsn?: string };
  const failed = JSON.parse(seen.positions[FAIL_AT]!) as { lsn?: string };
  if (lastSaved.lsn && failed.lsn) {
    const confirmed = await pg.query(`SELECT confirmed_flush_lsn < $1::pg_lsn AS before FROM pg_replication_slots WHERE slot_name = $2`, [failed.lsn, slot]);
    assert.equal(confirmed.rows[0]?.before, true, `the slot's confirmed LSN stays before the failed batch ${failed.lsn}`);
  }

  // Run 2: the plain Kafka transport, from the saved position.
  let streaming2!: () => void;
  const cdc2 = new Promise<void>((r) => (streaming2 = r));
  const second = start(kafka, () => streaming2());
  await cdc2;
  await pg.query(`DELETE FROM public.${name} WHERE id % 10 = 0`);
  await waitConverged(pg, `public.${name}`, db, name, 120_000);
  second.abort.abort();
  const outcome2 = await second.done;
  assert.equal(outcome2.kind, 'aborted', JSON.stringify(outcome2));
});
