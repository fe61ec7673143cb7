/**
 * The parts every source's benchmark shares (`npm run bench -- pg | mysql`): the
 * daemon with an RSS sampler, the snapshot measure beside its baseline, the CDC
 * measure into Kafka beside its baseline, and end-to-end latency at a steady rate.
 * A scenario file supplies only what is specific to its database.
 */
import fs from 'node:fs';
import { Kafka, logLevel } from 'kafkajs';
import type { Db } from 'mongodb';
import { startDaemon, tmpDataDir, type RunningDaemon } from '../test/helpers/daemon';
import { createStream, knob, mongoDb, rssBytes, streamStatus, uid, type SourceKind } from '../test/helpers/pipeline';
import { schemaRegistryUrl, stackUrls } from '../test/helpers/stack';
import { waitFor } from '../test/helpers/wait-for';
import { percentile, writeReport, type Row } from './report';

export const SNAPSHOT_ROWS = knob('BENCH_SNAPSHOT_ROWS', 200000);
export const CDC_ROWS = knob('BENCH_CDC_ROWS', 200000);
export const RATE = knob('BENCH_RATE', 2000);
export const SECONDS = knob('BENCH_SECONDS', 20);
export const BATCH = knob('BENCH_BATCH', 5000);
/** The transports the latency measure runs through, in turn (BENCH_LATENCY_TRANSPORT=kafka | direct | kafka,direct). */
const LATENCY_TRANSPORTS = (process.env.BENCH_LATENCY_TRANSPORT ?? 'kafka,direct').split(',').map((t) => t.trim()).filter((t): t is 'kafka' | 'direct' => t === 'kafka' || t === 'direct');
const ADMIN = 'bench-admin-key-0123456789abcdef';
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
export const log = (msg: string) => process.stderr.write(`[bench] ${msg}\n`);

/** The record format of the Kafka streams (BENCH_KAFKA_FORMAT: json, json-payload, avro, json-schema; the registry formats use the stack's schema registry). */
export const KAFKA_FORMAT = process.env.BENCH_KAFKA_FORMAT ?? 'json';
/** The transport field of the benchmark's Kafka streams (set by runBench). */
let kafkaTransport: Record<string, unknown> = { kind: 'kafka' };

/** The `transport` of a Kafka stream in `format`: json is the default; the registry formats get a kafka connection naming the stack's registry. */
async function kafkaTransportOf(d: RunningDaemon, format: string): Promise<Record<string, unknown>> {
  if (format === 'json') return { kind: 'kafka' };
  if (format !== 'avro' && format !== 'json-schema') return { kind: 'kafka', format };
  const conn = await d.api('/api/v1/connections', { method: 'POST', body: { name: 'bench-kafka', kind: 'kafka', url: `kafka://${stackUrls().kafka}`, options: { schemaRegistry: { url: schemaRegistryUrl() } } } });
  if (conn.status !== 201) throw new Error(`kafka connection: ${JSON.stringify(conn.body)}`);
  return { kind: 'kafka', connectionId: conn.body.id, format };
}

export type Measures = Record<'snapshot' | 'cdc' | 'latency', (d: RunningDaemon) => Promise<Row[]>>;

/**
 * Starts a daemon with Kafka, samples its RSS, runs the measures (BENCH_ONLY=snapshot,cdc,latency
 * picks some; the report is then named `<scenario>-<picked>`), and writes the report with the
 * peak RSS. BENCH_DAEMON_NODE_ARGS (space-separated) go on the daemon's node command line,
 * e.g. `--cpu-prof --cpu-prof-dir=/tmp/prof`; the daemon's SLUICE_KAFKA_* settings and MALLOC_ARENA_MAX are
 * passed on. BENCH_KAFKA_FORMAT (json) picks the Kafka streams' record format; the report is
 * then named `<scenario>-<format>`.
 */
export async function runBench(scenario: string, measures: Measures): Promise<void> {
  const all = Object.keys(measures) as Array<keyof Measures>;
  const only = process.env.BENCH_ONLY ? all.filter((m) => process.env.BENCH_ONLY!.split(',').map((x) => x.trim()).includes(m)) : all;
  const nodeArgs = (process.env.BENCH_DAEMON_NODE_ARGS ?? '').split(' ').filter((a) => a !== '');
  // The daemon's own settings (SLUICE_KAFKA_*) and glibc's malloc arenas (MALLOC_ARENA_MAX) are passed on.
  const passed = Object.fromEntries(Object.entries(process.env).filter(([k]) => k.startsWith('SLUICE_KAFKA_') || k === 'MALLOC_ARENA_MAX'));
  const env = { ...passed, SLUICE_KAFKA_BROKERS: stackUrls().kafka };
  const d = await startDaemon(tmpDataDir('sluice-bench-'), env, { adminKey: ADMIN, nodeArgs });
  kafkaTransport = await kafkaTransportOf(d, KAFKA_FORMAT);
  let peak = 0;
  const sampler = setInterval(() => {
    const rss = rssBytes(d.proc.pid as number);
    peak = Math.max(peak, rss);
    phasePeak = Math.max(phasePeak, rss);
  }, 200);
  const rows: Row[] = [];
  try {
    for (const m of only) rows.push(...(await measures[m](d)));
  } finally {
    clearInterval(sampler);
    await d.stop('SIGTERM');
  }
  const mb = peak / 1048576;
  rows.push({ measure: 'peak RSS of the daemon', sluice: mb, baseline: null, unit: 'MB', target: '≤ 300 MB', met: mb <= 300 });
  const name = `${scenario}${KAFKA_FORMAT === 'json' ? '' : `-${KAFKA_FORMAT}`}${only.length === all.length ? '' : `-${only.join('+')}`}`;
  const out = writeReport(name, { SNAPSHOT_ROWS, CDC_ROWS, RATE, SECONDS, BATCH, LATENCY_TRANSPORTS, KAFKA_FORMAT, MALLOC_ARENA_MAX: process.env.MALLOC_ARENA_MAX ?? null }, rows);
  process.stdout.write(fs.readFileSync(out.md, 'utf8'));
  log(`wrote ${out.json} and ${out.md}`);
}

export function main(run: () => Promise<void>): void {
  run().catch((err) => {
    process.stderr.write(`${(err as Error).stack}\n`);
    process.exit(1);
  });
}

/** Buffers documents and insertMany's them BATCH at a time, as the baselines do. */
export function batchInserter(db: Db, collection: string): { add: (doc: Record<string, unknown>) => Promise<void>; flush: () => Promise<void> } {
  const coll = db.collection(collection);
  let docs: Record<string, unknown>[] = [];
  const flush = async (): Promise<void> => {
    if (docs.length) await coll.insertMany(docs, { ordered: true });
    docs = [];
  };
  return {
    add: async (doc) => {
      docs.push(doc);
      if (docs.length >= BATCH) await flush();
    },
    flush,
  };
}

/**
 * Snapshot rows/s: `baseline` (reading the table and insertMany, timed here) against a
 * SNAPSHOT stream of the same table through the direct transport.
 */
export async function snapshotBench(
  d: RunningDaemon,
  spec: { sourceKind: SourceKind; table: string; baseline: (db: Db) => Promise<void>; baselineName: string },
): Promise<Row> {
  const id = uid();
  const base = await mongoDb(`bench_copy_${id}`);
  const b0 = performance.now();
  await spec.baseline(base.db);
  const baselineMs = performance.now() - b0;
  await base.db.dropDatabase().catch(() => undefined);
  await base.client.close();
  const sinkDb = `bench_snap_${id}`;
  const ids = await createStream(d, { name: `bench-snap-${id}`, mongoDb: sinkDb, tables: [spec.table], mode: 'SNAPSHOT', transport: 'direct', sourceKind: spec.sourceKind, options: { snapshotChunkSize: BATCH } });
  const t0 = performance.now();
  await d.api(`/api/v1/streams/${ids.streamId}/start`, { method: 'POST' });
  // Polled every 100 ms: each poll costs the daemon an API call, which the baseline does not pay.
  await waitFor(async () => (await streamStatus(d, ids.streamId)).status === 'COMPLETED', { timeoutMs: 1800000, intervalMs: 100 });
  const sluiceMs = performance.now() - t0;
  await d.api(`/api/v1/streams/${ids.streamId}`, { method: 'DELETE' });
  const sink = await mongoDb(sinkDb);
  await sink.db.dropDatabase().catch(() => undefined);
  await sink.client.close();
  const sluice = SNAPSHOT_ROWS / (sluiceMs / 1000);
  const baseline = SNAPSHOT_ROWS / (baselineMs / 1000);
  return { measure: 'snapshot', sluice, baseline, unit: 'rows/s', ratio: sluice / baseline, target: '≥ 70%', met: sluice / baseline >= 0.7, note: `baseline: ${spec.baselineName}; sluice: direct transport, batch ${BATCH}` };
}

/** The daemon's peak RSS since the last call (in MB), for one phase of a measure; runBench samples it. */
let phasePeak = 0;
function phasePeakMb(): number {
  const mb = phasePeak / 1048576;
  phasePeak = 0;
  return mb;
}

/** CPU time the process has used (user + system), in seconds, from /proc (clock ticks of 10 ms). */
function cpuSeconds(pid: number): number {
  const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) / 100;
}

/** Waits until `db`'s collection `name` holds `rows` documents: the last id first (cheap), then the count. */
async function untilInMongo(db: Db, name: string, rows: number): Promise<void> {
  const coll = db.collection(name);
  await waitFor(async () => (await coll.findOne({ _id: rows as never }, { projection: { _id: 1 } })) !== null, { timeoutMs: 1800000, intervalMs: 50 });
  await waitFor(async () => (await coll.countDocuments()) >= rows, { timeoutMs: 1800000, intervalMs: 200 });
}

/**
 * CDC through each transport, on the same CDC_ROWS changes. Two CDC_ONLY streams of the
 * table are started, then paused (Kafka, direct); `load` writes the changes and `baseline`
 * decodes the same range (timed by the caller, in ms). Then, one stream at a time:
 *   - the Kafka stream is resumed and timed until its topic holds CDC_ROWS more records
 *     (CDC into Kafka, against the baseline) and until MongoDB holds every row (end to
 *     end through Kafka);
 *   - the direct stream is resumed and timed until its MongoDB database holds every row
 *     (end to end, direct: the reference of the Kafka path's end-to-end rate).
 * The daemon's CPU time over each phase is reported per 100k events.
 */
export async function cdcBench(
  d: RunningDaemon,
  spec: { sourceKind: SourceKind; name: string; table: string; load: () => Promise<void>; baseline: () => Promise<number>; measure: string; note: string },
): Promise<Row[]> {
  const pid = d.proc.pid as number;
  const ids = await createStream(d, { name: spec.name, mongoDb: spec.name, tables: [spec.table], mode: 'CDC_ONLY', sourceKind: spec.sourceKind, extra: { transport: kafkaTransport } });
  const directDb = `${spec.name}_direct`;
  const direct = await createStream(d, { name: `${spec.name}-direct`, mongoDb: directDb, tables: [spec.table], mode: 'CDC_ONLY', transport: 'direct', sourceKind: spec.sourceKind });
  for (const id of [ids.streamId, direct.streamId]) {
    await d.api(`/api/v1/streams/${id}/start`, { method: 'POST' });
    await waitFor(async () => (await streamStatus(d, id)).cdcStatus === 'RUNNING', { timeoutMs: 60000 });
    await d.api(`/api/v1/streams/${id}/pause`, { method: 'POST' });
  }
  await spec.load();
  const baselineMs = await spec.baseline();

  const kafka = new Kafka({ brokers: stackUrls().kafka.split(','), logLevel: logLevel.NOTHING });
  const admin = kafka.admin();
  await admin.connect();
  const topic = `${spec.name.replace(/[^a-zA-Z0-9._-]/g, '_')}.${spec.table}`;
  const produced = async () => (await admin.fetchTopicOffsets(topic)).reduce((s, p) => s + Number(p.high), 0);
  const before = await produced().catch(() => 0);
  const collection = spec.table.slice(spec.table.indexOf('.') + 1);
  const sink = await mongoDb(spec.name);
  phasePeakMb();
  const cpu0 = cpuSeconds(pid);
  const t0 = performance.now();
  await d.api(`/api/v1/streams/${ids.streamId}/resume`, { method: 'POST' });
  await waitFor(async () => (await produced().catch(() => 0)) - before >= CDC_ROWS, { timeoutMs: 1800000, intervalMs: 20 });
  const sluiceMs = performance.now() - t0;
  const cpuKafka = cpuSeconds(pid) - cpu0;
  await untilInMongo(sink.db, collection, CDC_ROWS);
  const e2eKafkaMs = performance.now() - t0;
  const cpuE2eKafka = cpuSeconds(pid) - cpu0;
  const rssKafka = phasePeakMb();
  await admin.disconnect();
  await d.api(`/api/v1/streams/${ids.streamId}/stop`, { method: 'POST' });
  await d.api(`/api/v1/streams/${ids.streamId}`, { method: 'DELETE' });
  await sink.db.dropDatabase().catch(() => undefined);
  await sink.client.close();

  const out = await mongoDb(directDb);
  phasePeakMb();
  const cpu1 = cpuSeconds(pid);
  const t1 = performance.now();
  await d.api(`/api/v1/streams/${direct.streamId}/resume`, { method: 'POST' });
  await untilInMongo(out.db, collection, CDC_ROWS);
  const directMs = performance.now() - t1;
  const cpuDirect = cpuSeconds(pid) - cpu1;
  const rssDirect = phasePeakMb();
  await d.api(`/api/v1/streams/${direct.streamId}/stop`, { method: 'POST' });
  await d.api(`/api/v1/streams/${direct.streamId}`, { method: 'DELETE' });
  await out.db.dropDatabase().catch(() => undefined);
  await out.client.close();

  const rate = (ms: number) => CDC_ROWS / (ms / 1000);
  const sluice = rate(sluiceMs);
  const baseline = rate(baselineMs);
  const per100k = (cpu: number) => (cpu * 100000) / CDC_ROWS;
  const source = spec.sourceKind === 'mysql' ? 'MariaDB' : 'PostgreSQL';
  const kafkaE2e = rate(e2eKafkaMs);
  const directE2e = rate(directMs);
  return [
    { measure: spec.measure, sluice, baseline, unit: 'events/s', ratio: sluice / baseline, target: '≥ 50%', met: sluice / baseline >= 0.5, note: spec.note },
    {
      measure: `end to end ${source} → Kafka → MongoDB`,
      sluice: kafkaE2e,
      baseline: directE2e,
      unit: 'events/s',
      ratio: kafkaE2e / directE2e,
      target: '≥ 80%',
      met: kafkaE2e / directE2e >= 0.8,
      note: `baseline: the direct transport end to end (${source} → MongoDB) on the same ${CDC_ROWS} changes, run after it`,
    },
    { measure: 'CPU-seconds per 100k events, into Kafka', sluice: per100k(cpuKafka), baseline: null, unit: 's', note: 'the daemon (user + system) while the topic filled; its sink consumer runs meanwhile' },
    { measure: 'CPU-seconds per 100k events, end to end through Kafka', sluice: per100k(cpuE2eKafka), baseline: null, unit: 's', note: 'the daemon, source → Kafka → MongoDB' },
    { measure: 'CPU-seconds per 100k events, end to end direct', sluice: per100k(cpuDirect), baseline: null, unit: 's', note: 'the daemon, source → MongoDB' },
    { measure: 'peak RSS, CDC end to end through Kafka', sluice: rssKafka, baseline: null, unit: 'MB', note: `the daemon (its sink worker included) while ${CDC_ROWS} changes went source → Kafka → MongoDB` },
    { measure: 'peak RSS, CDC end to end direct', sluice: rssDirect, baseline: null, unit: 'MB', note: `the daemon while the direct stream caught up on the same ${CDC_ROWS} changes` },
  ];
}

/**
 * End-to-end latency at RATE rows/s for SECONDS, through each transport of BENCH_LATENCY_TRANSPORT
 * (Kafka, then direct, by default).
 * `insert(first, last)` commits rows first..last. After a warm-up row has arrived (the
 * consumer group has joined), rows go in every 10 ms; every 5th tick's last row is a
 * sample: its commit time, then the first time a probe sees it in MongoDB. Every pending
 * sample is probed at once, by _id equality (the only lookup FerretDB v1 serves from an
 * index), so the probe cannot fall behind the writer and inflate the figures.
 */
export async function latencyBench(
  d: RunningDaemon,
  spec: { sourceKind: SourceKind; name: string; table: string; insert: (first: number, last: number) => Promise<void>; reset: () => Promise<void> },
): Promise<Row[]> {
  const rows: Row[] = [];
  for (const transport of LATENCY_TRANSPORTS) {
    await spec.reset();
    rows.push(...(await latencyThrough(d, spec, transport)));
  }
  return rows;
}

async function latencyThrough(
  d: RunningDaemon,
  spec: { sourceKind: SourceKind; name: string; table: string; insert: (first: number, last: number) => Promise<void> },
  transport: 'kafka' | 'direct',
): Promise<Row[]> {
  log(`latency: ${RATE} events/s for ${SECONDS} s through ${transport}`);
  const mongo = await mongoDb(spec.name);
  const ids = await createStream(d, { name: `${spec.name}-${transport}`, mongoDb: spec.name, tables: [spec.table], mode: 'CDC_ONLY', transport, sourceKind: spec.sourceKind, ...(transport === 'kafka' ? { extra: { transport: kafkaTransport } } : {}) });
  await d.api(`/api/v1/streams/${ids.streamId}/start`, { method: 'POST' });
  await waitFor(async () => (await streamStatus(d, ids.streamId)).cdcStatus === 'RUNNING', { timeoutMs: 60000 });
  const coll = mongo.db.collection(spec.table.slice(spec.table.indexOf('.') + 1));
  const seen = async (id: number): Promise<boolean> => (await coll.findOne({ _id: id as never }, { projection: { _id: 1 } })) !== null;
  await spec.insert(0, 0);
  await waitFor(() => seen(0), { timeoutMs: 120000, intervalMs: 20 });
  const { latencies, samples, missing } = await sampleLatency(spec.insert, seen);
  await d.api(`/api/v1/streams/${ids.streamId}/stop`, { method: 'POST' });
  await d.api(`/api/v1/streams/${ids.streamId}`, { method: 'DELETE' });
  await mongo.db.dropDatabase().catch(() => undefined);
  await mongo.client.close();
  const note =
    `${samples} sampled rows (every 50 ms, the last row of a 10 ms insert)` +
    `${missing ? `, ${missing} never seen` : ''}; all pending samples probed by _id at once: one query round trip is measurement overhead`;
  return [
    { measure: `end-to-end latency p50, ${transport}`, sluice: percentile(latencies, 50), baseline: null, unit: 'ms', note },
    { measure: `end-to-end latency p95, ${transport}`, sluice: percentile(latencies, 95), baseline: null, unit: 'ms' },
    { measure: `end-to-end latency p99, ${transport}`, sluice: percentile(latencies, 99), baseline: null, unit: 'ms', target: `≤ 300 ms at ${RATE}/s`, met: percentile(latencies, 99) <= 300 },
  ];
}

/**
 * Inserts rows 1, 2, … at RATE rows/s for SECONDS (a warm-up row 0 has arrived already, so
 * the consumer group has joined): every 10 ms a batch, every 5th batch's last row a sample,
 * its commit time then the first time `seen` finds it in MongoDB (or the time `seen` returns,
 * when it knows when the row arrived, e.g. a Kafka record's timestamp). Every pending sample is
 * probed at once, so the probe cannot fall behind the writer and inflate the figures.
 * Returns the latencies sorted, in ms; a sample not seen within two minutes counts as
 * Infinity (the worst latency there is).
 */
export async function sampleLatency(
  insert: (first: number, last: number) => Promise<void>,
  seen: (id: number) => Promise<boolean | number>,
): Promise<{ latencies: number[]; samples: number; missing: number }> {
  const samples: Array<{ id: number; at: number; seen?: number }> = [];
  const perTick = Math.max(1, Math.round(RATE / 100));
  let next = 1;
  let running = true;
  const writer = (async () => {
    const t0 = performance.now();
    for (let tick = 0; running; tick++) {
      const first = next;
      next += perTick;
      await insert(first, next - 1);
      if (tick % 5 === 0) samples.push({ id: next - 1, at: Date.now() });
      const wait = t0 + (tick + 1) * 10 - performance.now();
      if (wait > 0) await sleep(wait);
    }
  })();
  const stopAt = Date.now() + SECONDS * 1000;
  // The writer is stopped and awaited before the last probes: a sample it pushes in its
  // last tick is probed like any other, so "never seen" can only mean a row that did not
  // arrive (it used to mean, now and then, a sample pushed after the probing ended).
  let written = false;
  while (Date.now() < stopAt + 120000) {
    if (!written && Date.now() >= stopAt) {
      running = false;
      await writer;
      written = true;
    }
    const pending = samples.filter((x) => x.seen === undefined);
    if (pending.length === 0) {
      if (written) break;
      await sleep(2);
      continue;
    }
    await Promise.all(
      pending.map(async (x) => {
        const at = await seen(x.id);
        if (at !== false) x.seen = typeof at === 'number' ? at : Date.now();
      }),
    );
    // A probe without I/O (an in-memory lookup) must still let the writer's I/O run.
    await new Promise((r) => setImmediate(r));
  }
  running = false;
  await writer;
  const latencies = samples.filter((x) => x.seen !== undefined).map((x) => x.seen! - x.at);
  const missing = samples.length - latencies.length;
  for (let i = 0; i < missing; i++) latencies.push(Number.POSITIVE_INFINITY);
  latencies.sort((a, b) => a - b);
  return { latencies, samples: samples.length, missing };
}
