import { test } from 'node:test';
import assert from 'node:assert/strict';
import pino from 'pino';
import { createMetrics } from './index';
import { MAX_TABLES_PER_STREAM, OTHER_TABLE } from './stream-meter';
import { RUN_EVENTS, type ChangeEvent, type ConnectionSpec, type EventBatch, type Sink, type StreamSpec } from '../core';
import { Supervisor } from '../runtime/supervisor';
import { createRegistry } from '../runtime/registry';
import { createMemoryPersistence } from '../runtime/persistence';
import { createMemoryConnectors } from '../runtime/testing/memory-connectors';
import { waitFor } from '../../test/helpers/wait-for';

async function value(m: ReturnType<typeof createMetrics>, name: string, labels: Record<string, string>): Promise<number | undefined> {
  const metric = (await m.registry.getMetricsAsJSON()).find((x) => x.name === name);
  const v = (metric?.values as Array<{ labels: Record<string, unknown>; value: number; metricName?: string }> | undefined)?.find(
    (s) => (s.metricName ?? name) === name && Object.entries(labels).every(([k, l]) => s.labels[k] === l),
  );
  return v?.value;
}

function event(table: string, op: ChangeEvent['op'], commitAgoMs: number): ChangeEvent {
  const [schema, name] = table.split('.') as [string, string];
  return {
    table: { schema, table: name },
    op,
    key: { id: 1 },
    before: null,
    after: { id: 1 },
    source: { connector: 'test', name: 't', db: 'db', schema, table: name, ts_ms: Date.now() - commitAgoMs, snapshot: op === 'r' },
    ts_ms: Date.now(),
  };
}

const ctx = { streamId: 's', runId: 'r', logger: pino({ level: 'silent' }), signal: new AbortController().signal };

test('metric names follow Prometheus conventions: counters end in _total, nothing else does, units in the name', async () => {
  const json = await createMetrics().registry.getMetricsAsJSON();
  for (const m of json.filter((x) => x.name.startsWith('sluice_'))) {
    if (String(m.type) === 'counter') assert.match(m.name, /_total$/, m.name);
    else assert.doesNotMatch(m.name, /_total$/, m.name);
    if (String(m.type) === 'histogram') assert.match(m.name, /_(seconds|events)$/, m.name);
  }
  // The gauges prom-client names like counters are gone (promtool check metrics rejects them).
  assert.equal(json.find((m) => m.name === 'nodejs_active_handles_total'), undefined);
});

test('a meter starts its stream\'s series at zero, counts reads per table and writes only once the sink acknowledged', async () => {
  const m = createMetrics();
  const meter = m.meter({ id: 's1', tables: ['public.orders', 'public.items'] });
  assert.equal(await value(m, 'sluice_events_written_total', { stream: 's1', table: 'public.items' }), 0);
  assert.equal(await value(m, 'sluice_kafka_errors_total', { stream: 's1' }), 0);

  const batch: EventBatch = { events: [event('public.orders', 'c', 2000), event('public.orders', 'u', 2000), event('public.items', 'r', 0)], position: null };
  meter.read(batch);
  assert.equal(await value(m, 'sluice_events_read_total', { stream: 's1', table: 'public.orders' }), 2);
  assert.equal(await value(m, 'sluice_events_read_total', { stream: 's1', table: 'public.items' }), 1);

  let fail = true;
  const inner: Sink = { write: async () => { if (fail) throw new Error('refused'); }, close: async () => undefined };
  const sink = meter.sink(inner);
  await assert.rejects(sink.write(batch, ctx), /refused/);
  assert.equal(await value(m, 'sluice_events_written_total', { stream: 's1', table: 'public.orders' }), 0, 'nothing counted for a refused write');
  fail = false;
  await sink.write(batch, ctx);
  assert.equal(await value(m, 'sluice_events_written_total', { stream: 's1', table: 'public.orders' }), 2);
  // Latency: the two changes (committed ~2 s ago), not the snapshot row.
  const histogram = await m.registry.getSingleMetricAsString('sluice_end_to_end_latency_seconds');
  assert.equal(histogram.match(/_count\{stream="s1"\} (\d+)/)?.[1], '2');
  const sum = Number(histogram.match(/_sum\{stream="s1"\} (\S+)/)?.[1]);
  assert.ok(sum >= 4 && sum < 10, `latency sum ${sum}`);
});

test('snapshot progress, source lag, lag probes and counted events land in their metrics', async () => {
  const m = createMetrics();
  const meter = m.meter({ id: 's2', tables: ['public.orders'] });
  meter.delivered({ events: [event('public.orders', 'r', 0)], position: null, snapshot: { table: { schema: 'public', table: 'orders' }, rowsDone: 25, rowsTotal: 100, tableDone: false } }, 'snapshot');
  assert.equal(await value(m, 'sluice_snapshot_progress_ratio', { stream: 's2', table: 'public.orders' }), 0.25);
  assert.equal(await value(m, 'sluice_snapshot_rows_total', { stream: 's2', table: 'public.orders' }), 1);
  meter.snapshotComplete();
  assert.equal(await value(m, 'sluice_snapshot_progress_ratio', { stream: 's2', table: 'public.orders' }), 1);

  meter.delivered({ events: [event('public.orders', 'u', 3000)], position: null }, 'cdc');
  const lag = (await value(m, 'sluice_source_lag_seconds', { stream: 's2' }))!;
  assert.ok(lag >= 3 && lag < 6, `lag ${lag}`);
  meter.delivered({ events: [], position: { lsn: '0/1' } }, 'cdc');
  assert.equal(await value(m, 'sluice_source_lag_seconds', { stream: 's2' }), 0, 'a heartbeat means caught up');

  meter.lag({ bytes: 10, retainedBytes: 4096 }, 7);
  assert.equal(await value(m, 'sluice_source_lag_bytes', { stream: 's2' }), 10);
  assert.equal(await value(m, 'sluice_source_slot_retained_wal_bytes', { stream: 's2' }), 4096);
  assert.equal(await value(m, 'sluice_kafka_consumer_lag_messages', { stream: 's2' }), 7);

  meter.count(RUN_EVENTS.KAFKA_ERROR);
  meter.count(RUN_EVENTS.MONGODB_ERROR, 2);
  meter.count(RUN_EVENTS.DEAD_LETTERED, 3);
  meter.count(RUN_EVENTS.FILTERED, 4, { schema: 'public', table: 'orders' });
  meter.failed(5);
  assert.equal(await value(m, 'sluice_kafka_errors_total', { stream: 's2' }), 1);
  assert.equal(await value(m, 'sluice_mongodb_errors_total', { stream: 's2' }), 2);
  assert.equal(await value(m, 'sluice_dead_letters_total', { stream: 's2' }), 3);
  assert.equal(await value(m, 'sluice_events_filtered_total', { stream: 's2', table: 'public.orders' }), 4);
  assert.equal(await value(m, 'sluice_events_failed_total', { stream: 's2' }), 5);
});

test('forget drops every series of a deleted stream, histograms included, and leaves the others', async () => {
  const m = createMetrics();
  for (const id of ['gone', 'kept']) {
    const meter = m.meter({ id, tables: ['public.orders'] });
    m.streamState.set({ stream: id, state: 'FAILED' }, 1);
    meter.delivered({ events: [event('public.orders', 'u', 10)], position: null }, 'cdc');
    await meter.sink({ write: async () => undefined, close: async () => undefined }).write({ events: [event('public.orders', 'u', 10)], position: null }, ctx);
  }
  await m.forget('gone');
  const text = await m.registry.metrics();
  assert.doesNotMatch(text, /stream="gone"/);
  assert.match(text, /sluice_stream_state\{stream="kept",state="FAILED"\} 1/);
  assert.match(text, /sluice_end_to_end_latency_seconds_count\{stream="kept"\} 1/);
  assert.match(text, /sluice_batch_size_events_bucket\{le="1",stream="kept",phase="cdc"\} 1/);
});

test('the table label stays bounded: past the cap, further tables share one series', async () => {
  const m = createMetrics();
  const meter = m.meter({ id: 's3', tables: [] });
  const events = Array.from({ length: MAX_TABLES_PER_STREAM + 5 }, (_, i) => event(`public.t${i}`, 'c', 0));
  meter.read({ events, position: null });
  const series = ((await m.registry.getMetricsAsJSON()).find((x) => x.name === 'sluice_events_read_total')!.values as unknown[]).length;
  assert.equal(series, MAX_TABLES_PER_STREAM + 1);
  assert.equal(await value(m, 'sluice_events_read_total', { stream: 's3', table: OTHER_TABLE }), 5);
});

test('the supervisor\'s runs feed the meter, and releasing the stream drops its series', async () => {
  const mem = createMemoryConnectors();
  const registry = createRegistry();
  registry.register(mem.sourceModule);
  registry.register(mem.sinkModule);
  const conn = (id: string, kind: string): ConnectionSpec => ({ id, name: id, kind, url: `memory://${id}`, options: {} });
  const store = createMemoryPersistence({ connections: [conn('src', 'memory-source'), conn('dst', 'memory-sink')] });
  const spec: StreamSpec = { id: 'm1', name: 'm1', source: { connectionId: 'src' }, sink: { connectionId: 'dst' }, transport: { kind: 'direct' }, mode: 'CDC', tables: ['public.orders'], options: {} };
  store.putStream(spec);
  const metrics = createMetrics();
  const sup = new Supervisor({ registry, logger: pino({ level: 'silent' }), persistence: store, meter: (s) => metrics.meter(s), forget: (id) => void metrics.forget(id) });
  mem.source('src').setTable('public.orders', [1, 2, 3].map((id) => ({ id })));
  await sup.start('m1');
  await waitFor(async () => (await sup.status('m1')).state === 'STREAMING', { message: 'streaming' });
  const l = { stream: 'm1', table: 'public.orders' };
  await waitFor(async () => (await value(metrics, 'sluice_events_written_total', l)) === 3, { message: 'snapshot rows written' });
  assert.equal(await value(metrics, 'sluice_snapshot_rows_total', l), 3);
  assert.equal(await value(metrics, 'sluice_snapshot_progress_ratio', l), 1);
  await sup.stop('m1');
  // Deleting the stream (release) drops its series: a deleted FAILED stream must not keep alerting.
  await sup.release('m1');
  await waitFor(async () => !(await metrics.registry.metrics()).includes('stream="m1"'), { message: 'series of the released stream dropped' });
});
