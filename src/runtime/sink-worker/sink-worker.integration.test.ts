/**
 * The Kafka sink end in a worker thread (host.ts, worker.ts) against the stack's Kafka and
 * FerretDB: rows reach MongoDB from another thread, and what an operator sees (metrics on
 * the daemon's registry, log lines with the run's fields, counters) and a sink failure
 * for good come back to the run as they would in process.
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { Writable } from 'node:stream';
import { threadId } from 'node:worker_threads';
import pino from 'pino';
import { MongoClient } from 'mongodb';
import { stackUrls } from '../../../test/helpers/stack';
import { waitFor } from '../../../test/helpers/wait-for';
import type { ChangeEvent, ConnectionSpec, ConnectorContext, StreamSpec, TableSchema } from '../../core';
import { SluiceError } from '../../errors';
import { createMetrics } from '../../metrics';
import { KafkaCarrier } from '../../transport/kafka';
import type { RunCounters } from '../persistence';
import { WORKER_EXIT_MS, WorkerSinkEnd } from './host';

const urls = stackUrls();
const run = randomUUID().slice(0, 8);
const db = `sinkworker_${run}`;
const mongo = new MongoClient(urls.mongodb);
const closing: Array<() => Promise<void>> = [];
after(async () => {
  for (const c of closing) await c().catch(() => undefined);
  await mongo.db(db).dropDatabase().catch(() => undefined);
  await mongo.close();
});

const schema: TableSchema = {
  key: ['id'],
  columns: [
    { name: 'id', type: 'int64', sourceType: 'int8', optional: false },
    { name: 'f', type: 'float64', sourceType: 'float8', optional: true },
  ],
};

let seq = 0;
function row(id: number, f: number): ChangeEvent {
  seq++;
  return {
    table: { schema: 'public', table: 'items' },
    op: 'c',
    key: { id: BigInt(id) },
    before: null,
    after: { id: BigInt(id), f },
    source: { connector: 'postgresql', name: 'pg', db: 'app', schema: 'public', table: 'items', ts_ms: Date.now() - 5, snapshot: 'false', lsn: `0/${(0x1000 + seq).toString(16)}`, txId: seq },
    ts_ms: Date.now(),
    schema,
  };
}

function spec(name: string, options: StreamSpec['options'] = {}): StreamSpec {
  return { id: `sw-${run}-${name}`, name, source: { connectionId: 'src' }, sink: { connectionId: 'snk' }, transport: { kind: 'kafka' }, mode: 'CDC_ONLY', tables: ['public.items'], options: { topicPrefix: `sw.${run}.${name}`, ...options } };
}

const sinkConnection: ConnectionSpec = { id: 'snk', name: 'ferret', kind: 'mongodb', url: `${urls.mongodb.replace(/\/?(\?|$)/, `/${db}$1`)}`, options: {} };
const kafka = { brokers: [urls.kafka] };

/** A run's side of the boundary: its logger (lines kept), metrics, counters and job updates. */
function runSide(stream: StreamSpec) {
  const lines: Array<Record<string, unknown>> = [];
  const out = new Writable({
    write(chunk: Buffer, _e, done) {
      for (const l of chunk.toString().split('\n')) if (l) lines.push(JSON.parse(l) as Record<string, unknown>);
      done();
    },
  });
  const logger = pino({ level: 'info' }, out).child({ streamId: stream.id, runId: 'run-1' });
  const metrics = createMetrics();
  const meter = metrics.meter(stream);
  const counters: RunCounters = { eventsRead: 0, eventsWritten: 0, snapshotRows: 0, cdcEvents: 0, batches: 0, eventsFailed: 0, deadLettered: 0 };
  const reports: unknown[] = [];
  const abort = new AbortController();
  const ctx: ConnectorContext = { streamId: stream.id, runId: 'run-1', logger, signal: abort.signal, report: (u) => reports.push(u), count: (e, n, t) => meter.count(e, n, t) };
  return { lines, metrics, meter, counters, reports, abort, ctx };
}

async function counter(metrics: ReturnType<typeof createMetrics>, name: string, labels: Record<string, string>): Promise<number | undefined> {
  const m = (await metrics.registry.getMetricsAsJSON()).find((x) => x.name === name);
  const v = (m?.values as Array<{ labels: Record<string, unknown>; value: number; metricName?: string }> | undefined)?.find((s) => (s.metricName ?? name) === name && Object.entries(labels).every(([k, l]) => s.labels[k] === l));
  return v?.value;
}

async function open(stream: StreamSpec, side: ReturnType<typeof runSide>) {
  const far = new WorkerSinkEnd({ stream, sinkConnection, transport: { kind: 'kafka', settings: { kafka } } }, { counters: side.counters, meter: side.meter });
  const carrier = new KafkaCarrier({ stream, kafka, follow: (t) => far.follow(t) });
  closing.push(() => carrier.close(), () => far.close());
  await carrier.start(side.ctx);
  await far.start({ sink: undefined as never }, side.ctx);
  return { far, carrier };
}

test('rows reach MongoDB from the worker thread; metrics, logs and flush are the run’s as in process; close ends the thread', async () => {
  const stream = spec('rows');
  const side = runSide(stream);
  const { far, carrier } = await open(stream, side);
  await carrier.publish({ events: [row(1, 1.5), row(2, 2.5), row(3, 3.5)], position: null }, side.ctx);
  // flush waits for the group to commit, which the worker does only after MongoDB acknowledged.
  await carrier.flush!(side.ctx);
  const docs = await mongo.db(db).collection('items').find({}).sort({ _id: 1 }).toArray();
  assert.deepEqual(
    docs.map((d) => d.f),
    [1.5, 2.5, 3.5],
  );
  assert.ok(far.sinkThreadId !== undefined && far.sinkThreadId !== threadId, `the sink wrote in thread ${far.sinkThreadId}, not this one (${threadId})`);
  assert.equal(await counter(side.metrics, 'sluice_events_written_total', { stream: stream.id, table: 'public.items' }), 3);
  const latency = (await side.metrics.registry.getMetricsAsJSON()).find((m) => m.name === 'sluice_end_to_end_latency_seconds');
  assert.equal((latency?.values as Array<{ metricName?: string; value: number }>).find((v) => v.metricName === 'sluice_end_to_end_latency_seconds_count')?.value, 3);
  // The worker's log lines come out of the run's logger, with its bindings and their own fields.
  const joined = side.lines.find((l) => l.msg === 'kafka consumer joined its group');
  assert.ok(joined, 'the consumer’s join is logged through the run’s logger');
  assert.equal(joined.streamId, stream.id);
  assert.equal(joined.runId, 'run-1');
  assert.equal(joined.groupId, `sluice.${stream.id}`);
  assert.equal(far.running, true);
  const t0 = Date.now();
  await Promise.all([far.close(), carrier.close()]);
  await far.ended();
  assert.equal(far.running, false);
  assert.ok(Date.now() - t0 < WORKER_EXIT_MS, 'the worker thread ended by itself, not terminated past the bound');
  assert.equal(await far.lag(), null);
});

test('a record the sink refuses under FAIL fails the stream from the worker with the same error, counted in the run', async () => {
  const stream = spec('fail', { errorHandling: 'FAIL' });
  const side = runSide(stream);
  const { far, carrier } = await open(stream, side);
  let fatal: unknown;
  far.onFatal((err) => (fatal = err));
  // FerretDB stores only finite doubles: NaN is refused for this one record.
  await carrier.publish({ events: [row(10, 1), row(11, Number.NaN)], position: null }, side.ctx);
  await waitFor(() => fatal !== undefined, { timeoutMs: 60_000, intervalMs: 50, message: 'the worker’s sink failure' });
  assert.ok(fatal instanceof SluiceError, `a SluiceError again, not ${String(fatal)}`);
  assert.equal(fatal.code, 'SINK_RECORD_REJECTED');
  assert.equal(fatal.retriable, false);
  assert.equal(fatal.detail.errorHandling, 'FAIL');
  assert.equal(fatal.detail.field, 'f');
  assert.equal(side.counters.eventsFailed, 1);
  assert.ok(side.lines.some((l) => l.msg === 'the sink failed for good; the stream stops' && l.streamId === stream.id));
  await Promise.all([far.close(), carrier.close()]);
});
