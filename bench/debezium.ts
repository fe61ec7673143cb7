/**
 * `npm run bench -- debezium`: sluice beside Debezium 3.6.1 on Kafka Connect 4.3 (the stack's
 * worker, test/stack/connect.sh): PostgreSQL → Kafka → MongoDB on the same servers, tables and
 * row mix (the orders table of the pg bench), measured in one run, sluice first, then Debezium:
 *   1. start-up: the sluice daemon, and the Connect worker (restarted for the run)
 *   2. snapshot of BENCH_DEBEZIUM_ROWS rows: rows/s into Kafka and into MongoDB
 *   3. CDC: as many inserts, written while the pipeline is paused, timed from its resume:
 *      events/s into Kafka and into MongoDB
 *   4. CPU-seconds per 100k events of each phase: user+sys of the sluice daemon against the
 *      Connect JVM (Debezium's source and sink), from /proc/<pid>/stat
 *   5. latency p50/p95/p99 at BENCH_RATE rows/s for BENCH_SECONDS: commit → record in Kafka
 *      (the broker's LogAppendTime on topics created for both) and commit → document
 *   6. peak RSS of each process over the run
 * Both write JSON with the Connect schema inline (sluice's default format; JsonConverter with
 * schemas.enable=true for Debezium); BENCH_DEBEZIUM_CONVERTER=avro is the parameter left for the
 * registry formats. Debezium's topics get sluice's 3 partitions; otherwise its defaults.
 * On FerretDB v1 (the stack's MongoDB) Debezium's MongoDB sink is not run: it loses records
 * with Connect Decimals (FerretDB has no Decimal128) and is quadratic there (its `_id` is a
 * document, which FerretDB cannot look up by index); Debezium is then measured into Kafka, with
 * decimal.handling.mode=string. On a real MongoDB (SLUICE_TEST_MONGODB_URL) it runs end to end
 * with `precise`. BENCH_DEBEZIUM_SINK=1|0 and BENCH_DEBEZIUM_DECIMAL=precise|string override.
 * MariaDB: Debezium is validated against the stack's MariaDB and the reason it cannot run is
 * reported (Debezium 3.6.1's MySQL connector refuses MariaDB 10.11; its MariaDB connector is
 * not on Maven Central).
 * Knobs: BENCH_DEBEZIUM_ROWS (100000), BENCH_RATE (2000/s), BENCH_SECONDS (20). Writes
 * bench/results/<date>-debezium.{json,md,png} (the chart: bench/chart.sh, matplotlib).
 */
import fs from 'node:fs';
import path from 'node:path';
import { spawnSync } from 'node:child_process';
import { Kafka, logLevel, type Admin } from 'kafkajs';
import { Long, type Collection, type Db } from 'mongodb';
import type { Client } from 'pg';
import { startDaemon, tmpDataDir, type RunningDaemon } from '../test/helpers/daemon';
import { createStream, knob, mongoDb, pgClient, rssBytes, streamStatus, uid } from '../test/helpers/pipeline';
import { stackUrls } from '../test/helpers/stack';
import {
  debeziumMongoSink,
  debeziumMysql,
  debeziumPostgres,
  deleteConnector,
  ensureConnect,
  listConnectors,
  pauseConnector,
  putConnector,
  stopConnect,
  validateConnector,
  waitConnector,
  type ConverterKind,
  type DecimalMode,
} from '../test/helpers/connect';
import { waitFor } from '../src/runtime/testing/wait-for';
import { log, main, RATE, SECONDS, sampleLatency } from './common';
import { percentile, writeReport, type Row } from './report';

const ROWS = knob('BENCH_DEBEZIUM_ROWS', 100000);
const CONVERTER = (process.env.BENCH_DEBEZIUM_CONVERTER ?? 'json') as ConverterKind;
/** sluice's default topic partitions (kafka.topicPartitions); Debezium's topics get the same. */
const PARTITIONS = 3;
const ADMIN = 'bench-admin-key-0123456789abcdef';
const CLK_TCK = Number(spawnSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).stdout.trim()) || 100;

/** user+sys CPU seconds of a process so far (all its threads), from /proc/<pid>/stat. */
function cpuSeconds(pid: number): number {
  const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
  const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(f[11]) + Number(f[12])) / CLK_TCK;
}

interface Env {
  d: RunningDaemon;
  connect: string;
  connectPid: number;
  pg: Client;
  admin: Admin;
  kafka: Kafka;
  decimal: DecimalMode;
  /** Debezium's MongoDB sink runs too (a real MongoDB); else Debezium is measured into Kafka only. */
  endToEnd: boolean;
}

/** One system's run of one phase; mongoMs is null when its sink was not run. */
interface Timing {
  kafkaMs: number;
  mongoMs: number | null;
  cpuS: number;
}

const ORDERS = '(id bigint PRIMARY KEY, n int NOT NULL, note text, amount numeric(14,2), at timestamptz NOT NULL)';
const insertOrders = (table: string, first: number, last: number, note = "'row ' || g", extra = '(g * 1.25)::numeric(14,2)') =>
  `INSERT INTO ${table} SELECT g, g % 1000, ${note}, ${extra}, now() FROM generate_series(${first}::bigint, ${last}::bigint) g`;

async function load(pg: Client, table: string, rows: number): Promise<void> {
  for (let done = 0; done < rows; done += 10000) await pg.query(insertOrders(table, done + 1, Math.min(done + 10000, rows)));
}

async function topicRecords(admin: Admin, topic: string): Promise<number> {
  return (await admin.fetchTopicOffsets(topic).catch(() => [])).reduce((s, p) => s + Number(p.high), 0);
}

/**
 * Creates a topic with sluice's partition count. Broker-side timestamps (LogAppendTime) let
 * the latency measure read when a record reached Kafka, the same way for both systems.
 */
async function createTopic(e: Env, topic: string): Promise<void> {
  await e.admin.createTopics({ topics: [{ topic, numPartitions: PARTITIONS, replicationFactor: -1, configEntries: [{ name: 'message.timestamp.type', value: 'LogAppendTime' }] }], waitForLeaders: true });
}

/**
 * From `trigger()` on: when `topic` holds `kafkaTarget` records, when the collection (if
 * any) holds `mongoTarget` documents, and the CPU the process spent until the last of them.
 */
async function track(e: Env, pid: number, trigger: () => Promise<void>, topic: string, kafkaTarget: number, coll: Collection | null, mongoTarget: number): Promise<Timing> {
  const cpu0 = cpuSeconds(pid);
  const t0 = performance.now();
  await trigger();
  let kafkaMs = 0;
  let lastCount = 0;
  const deadline = Date.now() + 3600000;
  for (let i = 0; ; i++) {
    if (!kafkaMs && (await topicRecords(e.admin, topic)) >= kafkaTarget) kafkaMs = performance.now() - t0;
    if (!coll && kafkaMs) break;
    if (coll && i % 3 === 0) {
      lastCount = await coll.countDocuments({});
      if (lastCount >= mongoTarget && kafkaMs) break;
    }
    if (Date.now() > deadline) throw new Error(`${topic}: not done after an hour (${lastCount} of ${mongoTarget} documents)`);
    await new Promise((r) => setTimeout(r, 100));
  }
  const mongoMs = coll ? performance.now() - t0 : null;
  return { kafkaMs, mongoMs, cpuS: cpuSeconds(pid) - cpu0 };
}

/**
 * Arrival times of a topic's records by key id, read by a consumer of its own from the
 * beginning: the broker's LogAppendTime, so both systems are timed at the same point.
 */
async function arrivals(e: Env, topic: string): Promise<{ at: (id: number) => number | false; stop: () => Promise<void> }> {
  const seen = new Map<number, number>();
  const consumer = e.kafka.consumer({ groupId: `bench-latency-${uid()}`, maxWaitTimeInMs: 20 });
  await consumer.connect();
  await consumer.subscribe({ topics: [topic], fromBeginning: true });
  await consumer.run({
    eachMessage: async ({ message }) => {
      if (!message.key) return;
      const id = Number(JSON.parse(message.key.toString()).payload.id);
      if (!seen.has(id)) seen.set(id, Number(message.timestamp));
    },
  });
  return { at: (id) => seen.get(id) ?? false, stop: () => consumer.disconnect() };
}

async function dropSlot(pg: Client, slot: string): Promise<void> {
  await waitFor(async () => (await pg.query('SELECT 1 FROM pg_replication_slots WHERE slot_name = $1 AND active', [slot])).rowCount === 0, { timeoutMs: 60000, intervalMs: 200, message: `slot ${slot} released` }).catch(
    async () => void (await pg.query('SELECT pg_terminate_backend(active_pid) FROM pg_replication_slots WHERE slot_name = $1 AND active_pid IS NOT NULL', [slot])),
  );
  await pg.query('SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE slot_name = $1', [slot]).catch(() => undefined);
  await pg.query(`DROP PUBLICATION IF EXISTS ${slot}_pub`);
}

/** Latencies of one system: commit → document in MongoDB, and commit → record in Kafka. */
interface Latencies {
  mongo: number[] | null;
  kafka: number[];
}

const latencyInsert = async (pg: Client, table: string, first: number, last: number) => void (await pg.query(insertOrders(table, first, last, "'lat'", '0')));

/**
 * Rows at RATE/s for SECONDS (common.ts's sampleLatency): commit → document (when
 * `mongoSeen` is given), and commit → record in Kafka (LogAppendTime) for every batch's last row.
 */
async function sampleBoth(e: Env, table: string, topic: string, mongoSeen: ((id: number) => Promise<boolean>) | null): Promise<Latencies> {
  const kafka = await arrivals(e, topic);
  try {
    await waitFor(() => kafka.at(0) !== false, { timeoutMs: 60000, intervalMs: 20, message: 'warm-up row in Kafka' });
    const commits = new Map<number, number>();
    const insert = async (a: number, b: number) => {
      await latencyInsert(e.pg, table, a, b);
      commits.set(b, Date.now());
    };
    const r = await sampleLatency(insert, mongoSeen ?? (async (id) => kafka.at(id)));
    await waitFor(() => [...commits.keys()].every((id) => kafka.at(id) !== false), { timeoutMs: 120000, intervalMs: 50 }).catch(() => undefined);
    const toKafka = [...commits].map(([id, c]) => {
      const k = kafka.at(id);
      return k === false ? Number.POSITIVE_INFINITY : k - c;
    });
    return { mongo: mongoSeen ? r.latencies : null, kafka: toKafka.sort((x, y) => x - y) };
  } finally {
    await kafka.stop();
  }
}

// ---- sluice --------------------------------------------------------------------

interface SluiceRun {
  id: string;
  topic: string;
  mongo: { client: { close(): Promise<void> }; db: Db };
}

async function sluiceStream(e: Env, short: string, mode: 'SNAPSHOT' | 'CDC_ONLY'): Promise<SluiceRun> {
  const name = `bsl-${short}`.replace(/_/g, '-');
  const topic = `${name}.public.${short}`;
  // sluice leaves an existing topic as it is: the same partitions and timestamps as Debezium's.
  await createTopic(e, topic);
  const mongo = await mongoDb(name);
  const ids = await createStream(e.d, { name, mongoDb: name, tables: [`public.${short}`], mode, transport: 'kafka', sourceKind: 'postgresql' });
  return { id: ids.streamId, topic, mongo };
}

async function sluiceDone(e: Env, s: SluiceRun): Promise<void> {
  await e.d.api(`/api/v1/streams/${s.id}/stop`, { method: 'POST' });
  await e.d.api(`/api/v1/streams/${s.id}`, { method: 'DELETE' });
  await s.mongo.db.dropDatabase().catch(() => undefined);
  await s.mongo.client.close();
  await e.admin.deleteTopics({ topics: [s.topic], timeout: 30000 }).catch(() => undefined);
}

const pid = (d: RunningDaemon): number => d.proc.pid as number;

async function sluiceSnapshot(e: Env, short: string): Promise<Timing> {
  const s = await sluiceStream(e, short, 'SNAPSHOT');
  try {
    const start = async () => void (await e.d.api(`/api/v1/streams/${s.id}/start`, { method: 'POST' }));
    return await track(e, pid(e.d), start, s.topic, ROWS, s.mongo.db.collection(short), ROWS);
  } finally {
    await sluiceDone(e, s);
  }
}

async function sluiceRunning(e: Env, s: SluiceRun, table: string, short: string): Promise<Collection> {
  await e.d.api(`/api/v1/streams/${s.id}/start`, { method: 'POST' });
  await waitFor(async () => (await streamStatus(e.d, s.id)).cdcStatus === 'RUNNING', { timeoutMs: 120000 });
  // A warm-up row: the sink's consumer group has joined once it is in MongoDB.
  await e.pg.query(insertOrders(table, 0, 0));
  const coll = s.mongo.db.collection(short);
  await waitFor(async () => (await coll.findOne({ _id: 0 as never })) !== null, { timeoutMs: 120000, intervalMs: 50, message: 'sluice warm-up row' });
  return coll;
}

async function sluiceCdc(e: Env, short: string): Promise<Timing> {
  const table = `public.${short}`;
  const s = await sluiceStream(e, short, 'CDC_ONLY');
  try {
    const coll = await sluiceRunning(e, s, table, short);
    await e.d.api(`/api/v1/streams/${s.id}/pause`, { method: 'POST' });
    await load(e.pg, table, ROWS);
    const resume = async () => void (await e.d.api(`/api/v1/streams/${s.id}/resume`, { method: 'POST' }));
    return await track(e, pid(e.d), resume, s.topic, ROWS + 1, coll, ROWS + 1);
  } finally {
    await sluiceDone(e, s);
  }
}

async function sluiceLatency(e: Env, short: string): Promise<Latencies> {
  const table = `public.${short}`;
  const s = await sluiceStream(e, short, 'CDC_ONLY');
  try {
    const coll = await sluiceRunning(e, s, table, short);
    return await sampleBoth(e, table, s.topic, async (id) => (await coll.findOne({ _id: id as never }, { projection: { _id: 1 } })) !== null);
  } finally {
    await sluiceDone(e, s);
  }
}

// ---- Debezium ------------------------------------------------------------------

interface DbzRun {
  prefix: string;
  slot: string;
  topic: string;
  source: string;
  sink: string | null;
  mongo: { client: { close(): Promise<void> }; db: Db } | null;
}

/** The run's names and topic, and its sink connector (running) when measured end to end. */
async function debeziumRun(e: Env, short: string): Promise<DbzRun> {
  const prefix = `bdz_${short}`;
  const topic = `${prefix}.public.${short}`;
  await createTopic(e, topic);
  const run: DbzRun = { prefix, slot: `bdz_${short}`, topic, source: `bench-dbz-src-${short}`, sink: null, mongo: null };
  if (e.endToEnd) {
    run.sink = `bench-dbz-sink-${short}`;
    run.mongo = await mongoDb(prefix);
    await putConnector(e.connect, run.sink, debeziumMongoSink({ mongoUrl: stackUrls().mongodb, database: prefix, topics: [topic], converter: CONVERTER }));
    await waitConnector(e.connect, run.sink, 'RUNNING', 120000);
  }
  return run;
}

function debeziumSourceConfig(e: Env, run: DbzRun, short: string, snapshot: 'initial' | 'no_data'): Record<string, string> {
  return debeziumPostgres({
    postgresUrl: stackUrls().postgres,
    topicPrefix: run.prefix,
    tables: [`public.${short}`],
    slot: run.slot,
    snapshot,
    decimalMode: e.decimal,
    converter: CONVERTER,
    partitions: PARTITIONS,
  });
}

async function debeziumDone(e: Env, run: DbzRun): Promise<void> {
  await deleteConnector(e.connect, run.source);
  if (run.sink) await deleteConnector(e.connect, run.sink);
  await dropSlot(e.pg, run.slot);
  await run.mongo?.db.dropDatabase().catch(() => undefined);
  await run.mongo?.client.close();
  await e.admin.deleteTopics({ topics: [run.topic], timeout: 30000 }).catch(() => undefined);
}

/** Debezium's MongoDB sink writes `_id` as a document of the key's columns. */
const dbzId = (id: number) => ({ _id: { id: Long.fromNumber(id) } as never });

async function debeziumSnapshot(e: Env, short: string): Promise<Timing> {
  const run = await debeziumRun(e, short);
  try {
    const start = () => putConnector(e.connect, run.source, debeziumSourceConfig(e, run, short, 'initial'));
    return await track(e, e.connectPid, start, run.topic, ROWS, run.mongo?.db.collection(short) ?? null, ROWS);
  } finally {
    await debeziumDone(e, run);
  }
}

/** A streaming source (no snapshot) whose warm-up row has arrived (in MongoDB when the sink runs, else in Kafka). */
async function debeziumRunning(e: Env, run: DbzRun, table: string, short: string): Promise<Collection | null> {
  await putConnector(e.connect, run.source, debeziumSourceConfig(e, run, short, 'no_data'));
  await waitConnector(e.connect, run.source, 'RUNNING', 120000);
  await waitFor(async () => (await e.pg.query('SELECT 1 FROM pg_replication_slots WHERE slot_name = $1 AND active', [run.slot])).rowCount === 1, { timeoutMs: 120000, intervalMs: 100, message: 'Debezium slot active' });
  await e.pg.query(insertOrders(table, 0, 0));
  const coll = run.mongo?.db.collection(short) ?? null;
  if (coll) await waitFor(async () => (await coll.findOne(dbzId(0))) !== null, { timeoutMs: 120000, intervalMs: 50, message: 'Debezium warm-up row' });
  else await waitFor(async () => (await topicRecords(e.admin, run.topic)) >= 1, { timeoutMs: 120000, intervalMs: 50, message: 'Debezium warm-up row in Kafka' });
  return coll;
}

async function debeziumCdc(e: Env, short: string): Promise<Timing> {
  const table = `public.${short}`;
  const run = await debeziumRun(e, short);
  try {
    const coll = await debeziumRunning(e, run, table, short);
    await pauseConnector(e.connect, run.source, true);
    await waitConnector(e.connect, run.source, 'PAUSED', 60000);
    await load(e.pg, table, ROWS);
    const resume = () => pauseConnector(e.connect, run.source, false);
    return await track(e, e.connectPid, resume, run.topic, ROWS + 1, coll, ROWS + 1);
  } finally {
    await debeziumDone(e, run);
  }
}

async function debeziumLatency(e: Env, short: string): Promise<Latencies> {
  const table = `public.${short}`;
  const run = await debeziumRun(e, short);
  try {
    const coll = await debeziumRunning(e, run, table, short);
    return await sampleBoth(e, table, run.topic, coll ? async (id) => (await coll.findOne(dbzId(id), { projection: { _id: 1 } })) !== null : null);
  } finally {
    await debeziumDone(e, run);
  }
}

// ---- the run -------------------------------------------------------------------

/** Why Debezium cannot read the stack's MariaDB, in Connect's own words (null if it can). */
async function mariadbBlocker(connect: string): Promise<string | null> {
  const errors = await validateConnector(
    connect,
    debeziumMysql({ mysqlUrl: stackUrls().mysql, kafkaBrokers: stackUrls().kafka, topicPrefix: 'bdz_probe', tables: ['x.y'], serverId: 5401 }),
  );
  return errors.length ? errors.join('; ') : null;
}

async function withTable<T>(pg: Client, short: string, body: () => Promise<T>): Promise<T> {
  await pg.query(`CREATE TABLE public.${short} ${ORDERS}`);
  try {
    return await body();
  } finally {
    await pg.query(`DROP TABLE IF EXISTS public.${short}`);
  }
}

async function isFerretDb(): Promise<boolean> {
  const m = await mongoDb('admin');
  try {
    return (await m.db.admin().command({ buildInfo: 1 })).ferretdbVersion !== undefined;
  } finally {
    await m.client.close();
  }
}

const rate = (ms: number | null, n = ROWS) => (ms === null ? null : n / (ms / 1000));
const per100k = (t: Timing, events: number) => (t.cpuS / events) * 100000;

/** Rows where higher is better: ratio sluice/Debezium. */
const higher = (measure: string, s: number | null, b: number | null, unit: string, note?: string): Row => ({
  measure,
  sluice: s,
  baseline: b,
  unit,
  ratio: s !== null && b !== null ? s / b : null,
  ...(note ? { note } : {}),
});
/** Rows where lower is better: ratio Debezium/sluice, so above 100% sluice is ahead here too. */
const lower = (measure: string, s: number | null, b: number | null, unit: string, note?: string): Row => ({
  measure,
  sluice: s,
  baseline: b,
  unit,
  ratio: s !== null && b !== null ? b / s : null,
  ...(note ? { note } : {}),
});

main(async () => {
  const ferret = await isFerretDb();
  // Debezium's sink on FerretDB v1 is quadratic (see the notes): end to end only on a real MongoDB,
  // unless BENCH_DEBEZIUM_SINK=1 forces it (a small BENCH_DEBEZIUM_ROWS then, to try the path).
  const endToEnd = process.env.BENCH_DEBEZIUM_SINK === '1' || (process.env.BENCH_DEBEZIUM_SINK !== '0' && !ferret);
  const decimal = (process.env.BENCH_DEBEZIUM_DECIMAL as DecimalMode | undefined) ?? (ferret ? 'string' : 'precise');
  // A fresh worker for the run: its start time is a measure and its RSS peak is this run's.
  const before = ensureConnect();
  if (!before.started) stopConnect();
  const worker = before.started ? before : ensureConnect();
  if (!worker.pid) throw new Error('the Connect worker pid is unknown: the bench needs the stack worker (unset SLUICE_TEST_CONNECT_URL)');
  for (const c of await listConnectors(worker.url)) if (c.startsWith('bench-dbz-')) await deleteConnector(worker.url, c);
  const d0 = performance.now();
  const d = await startDaemon(tmpDataDir('sluice-bench-'), { SLUICE_KAFKA_BROKERS: stackUrls().kafka }, { adminKey: ADMIN });
  const daemonMs = performance.now() - d0;
  const peak = { sluice: 0, debezium: 0 };
  const sampler = setInterval(() => {
    peak.sluice = Math.max(peak.sluice, rssBytes(pid(d)));
    peak.debezium = Math.max(peak.debezium, rssBytes(worker.pid!));
  }, 200);
  const pg = await pgClient();
  const kafka = new Kafka({ brokers: stackUrls().kafka.split(','), logLevel: logLevel.NOTHING });
  const admin = kafka.admin();
  await admin.connect();
  const e: Env = { d, connect: worker.url, connectPid: worker.pid, pg, admin, kafka, decimal, endToEnd };
  const rows: Row[] = [];
  const notes: string[] = [];
  let chart: Record<string, unknown> = {};
  try {
    rows.push(lower('start-up to ready', daemonMs, worker.startMs, 'ms', 'sluice: daemon process to "sluice started"; Debezium: Connect worker JVM to /health 200 (plugins loaded, group joined)'));

    const snapTable = `bench_dbz_snap_${uid()}`;
    log(`snapshot: ${ROWS} rows, sluice then Debezium${endToEnd ? '' : ' (Debezium into Kafka only)'}`);
    const snap = await withTable(pg, snapTable, async () => {
      await load(pg, `public.${snapTable}`, ROWS);
      await pg.query(`ANALYZE public.${snapTable}`);
      return { sluice: await sluiceSnapshot(e, snapTable), debezium: await debeziumSnapshot(e, snapTable) };
    });
    log(`CDC: ${ROWS} inserts while paused, sluice then Debezium`);
    const cdcS = `bench_dbz_cdc_s_${uid()}`;
    const cdcD = `bench_dbz_cdc_d_${uid()}`;
    const cdc = {
      sluice: await withTable(pg, cdcS, () => sluiceCdc(e, cdcS)),
      debezium: await withTable(pg, cdcD, () => debeziumCdc(e, cdcD)),
    };
    log(`latency: ${RATE} rows/s for ${SECONDS} s, sluice then Debezium`);
    const latS = `bench_dbz_lat_s_${uid()}`;
    const latD = `bench_dbz_lat_d_${uid()}`;
    const lat = {
      sluice: await withTable(pg, latS, () => sluiceLatency(e, latS)),
      debezium: await withTable(pg, latD, () => debeziumLatency(e, latD)),
    };
    log("MariaDB: asking Debezium whether it can read the stack's MariaDB");
    const mariadb = await mariadbBlocker(worker.url);

    const both = endToEnd ? "each side's sink runs meanwhile" : "sluice's sink runs meanwhile, Debezium's does not (no sink on FerretDB, see below)";
    const snapNote = `${ROWS} rows of the pg bench's orders table, from stream/connector start (slot creation included)`;
    rows.push(higher('snapshot → Kafka', rate(snap.sluice.kafkaMs), rate(snap.debezium.kafkaMs), 'rows/s', `${snapNote}; ${both}`));
    rows.push(higher('snapshot → MongoDB', rate(snap.sluice.mongoMs), rate(snap.debezium.mongoMs), 'rows/s', endToEnd ? snapNote : 'Debezium: not measured on FerretDB'));
    rows.push(lower('CPU per 100k rows, snapshot', per100k(snap.sluice, ROWS), per100k(snap.debezium, ROWS), 'CPU-s', `user+sys of the sluice daemon (until the last document) vs the Connect JVM (until the last ${endToEnd ? 'document' : 'record in Kafka'})`));
    const cdcNote = `${ROWS} inserts (10k-row transactions) written while paused, timed from resume`;
    rows.push(higher('CDC PostgreSQL → Kafka', rate(cdc.sluice.kafkaMs), rate(cdc.debezium.kafkaMs), 'events/s', `${cdcNote}; ${both}`));
    rows.push(higher('CDC PostgreSQL → MongoDB', rate(cdc.sluice.mongoMs), rate(cdc.debezium.mongoMs), 'events/s', endToEnd ? cdcNote : 'Debezium: not measured on FerretDB'));
    rows.push(lower('CPU per 100k events, CDC', per100k(cdc.sluice, ROWS), per100k(cdc.debezium, ROWS), 'CPU-s', `user+sys, resume until the last ${endToEnd ? 'document' : 'document (sluice) / record in Kafka (Debezium)'}`));
    for (const p of [50, 95, 99]) {
      rows.push(lower(`latency commit → Kafka p${p} at ${RATE}/s`, percentile(lat.sluice.kafka, p), percentile(lat.debezium.kafka, p), 'ms', p === 50 ? `${lat.sluice.kafka.length} / ${lat.debezium.kafka.length} batches of 10 ms; the record's LogAppendTime` : undefined));
    }
    for (const p of [50, 95, 99]) {
      const dbz = lat.debezium.mongo ? percentile(lat.debezium.mongo, p) : null;
      rows.push(lower(`latency commit → MongoDB p${p} at ${RATE}/s`, percentile(lat.sluice.mongo ?? [], p), dbz, 'ms', p === 50 ? (lat.debezium.mongo ? 'samples every 50 ms, document found by _id' : 'Debezium: not measured on FerretDB') : undefined));
    }
    rows.push(lower('peak RSS', peak.sluice / 1048576, peak.debezium / 1048576, 'MB', 'sluice daemon vs Connect worker JVM (-Xmx512m), sampled every 200 ms over the run'));
    rows.push({ measure: 'MariaDB → Kafka → MongoDB', sluice: null, baseline: null, unit: '–', note: mariadb ? `Debezium not measured: ${mariadb.replace(/\|/g, '/')}` : "Debezium can read the stack's MariaDB: add its measures" });

    notes.push(
      "Ratio: sluice's figure over Debezium's for throughput, Debezium's over sluice's for time, CPU, latency and memory: above 100% sluice is ahead. " +
        `Debezium 3.6.1.Final on Kafka Connect 4.3.0 (one distributed worker, -Xmx512m, otherwise defaults), converter ${CONVERTER} (JsonConverter, schemas.enable=true, as sluice writes), ` +
        `decimal.handling.mode=${decimal}, topics with sluice's ${PARTITIONS} partitions; sluice with its defaults, Kafka transport.`,
    );
    if (!endToEnd) {
      notes.push(
        "Debezium's MongoDB sink is not measured on FerretDB v1.24: it works there only with decimal.handling.mode=string (a Connect Decimal becomes a BSON Decimal128, on which FerretDB v1 drops the connection, and the sink then loses the records silently), " +
          "and it is quadratic there: it filters every replace by `_id: {<key columns>}`, and FerretDB v1 pushes `_id` equality down to PostgreSQL only for scalar ids, so each write scans the whole collection " +
          '(about 3 writes/s at 3,700 documents on this machine). Set SLUICE_TEST_MONGODB_URL to a real MongoDB for the end-to-end figures.',
      );
    }
    const pick = (unit: string) => rows.filter((r) => r.unit === unit && r.sluice !== null).map((r) => ({ measure: r.measure, sluice: r.sluice, debezium: r.baseline }));
    chart = { throughput: [...pick('rows/s'), ...pick('events/s')], cpu: pick('CPU-s') };
  } finally {
    clearInterval(sampler);
    await admin.disconnect().catch(() => undefined);
    await pg.end().catch(() => undefined);
    await d.stop('SIGTERM');
    if (before.started && process.env.SLUICE_TEST_KEEP_STACK !== '1') stopConnect();
  }
  const params = { ROWS, RATE, SECONDS, PARTITIONS, CONVERTER, DECIMAL: decimal, sink: ferret ? 'FerretDB v1.24' : 'MongoDB', debeziumSink: endToEnd };
  const out = writeReport('debezium', params, rows, {
    baseline: 'Debezium',
    ratio: 'sluice beside Debezium on Kafka Connect, measured in the same run on the same servers; bare numbers on this shared machine are noisy.',
    notes,
    extra: { chart },
  });
  const png = out.json.replace(/\.json$/, '.png');
  const drawn = spawnSync('bash', [path.resolve(__dirname, '../../bench/chart.sh'), out.json, png], { stdio: 'inherit' });
  if (drawn.status === 0) fs.appendFileSync(out.md, `![sluice beside Debezium](${path.basename(png)})\n`);
  else log('chart: bench/chart.sh failed; the table is written without it');
  process.stdout.write(fs.readFileSync(out.md, 'utf8'));
  log(`wrote ${out.json}, ${out.md}${drawn.status === 0 ? ` and ${png}` : ''}`);
});
