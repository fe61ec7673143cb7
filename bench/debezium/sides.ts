/**
 * The two sides of bench/debezium.ts, run the same way on the same servers: sluice (a stream of
 * the bench's daemon) and Debezium (connectors on the stack's Kafka Connect worker), each for
 * the snapshot, the CDC backlog and the latency measure, with the probes both share (records in
 * a topic, documents in a collection, /proc CPU, Kafka LogAppendTime arrivals).
 */
import fs from 'node:fs';
import { spawnSync } from 'node:child_process';
import type { Admin, Kafka } from 'kafkajs';
import { Long, type Collection, type Db } from 'mongodb';
import type { Client } from 'pg';
import type { RunningDaemon } from '../../test/helpers/daemon';
import { createStream, knob, mongoDb, streamStatus, uid } from '../../test/helpers/pipeline';
import { stackUrls } from '../../test/helpers/stack';
import { debeziumMongoSink, debeziumPostgres, deleteConnector, pauseConnector, putConnector, waitConnector, type ConverterKind, type DecimalMode } from '../../test/helpers/connect';
import { waitFor } from '../../test/helpers/wait-for';
import { sampleLatency } from '../common';

export const ROWS = knob('BENCH_DEBEZIUM_ROWS', 100000);
export const CONVERTER = (process.env.BENCH_DEBEZIUM_CONVERTER ?? 'json') as ConverterKind;
/** sluice's default topic partitions (kafka.topicPartitions); Debezium's topics get the same. */
export const PARTITIONS = 3;
const CLK_TCK = Number(spawnSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).stdout.trim()) || 100;

/** user+sys CPU seconds of a process so far (all its threads), from /proc/<pid>/stat. */
function cpuSeconds(pid: number): number {
  const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
  const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(f[11]) + Number(f[12])) / CLK_TCK;
}

export interface Env {
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
export interface Timing {
  kafkaMs: number;
  mongoMs: number | null;
  cpuS: number;
}

export const ORDERS = '(id bigint PRIMARY KEY, n int NOT NULL, note text, amount numeric(14,2), at timestamptz NOT NULL)';
export const insertOrders = (table: string, first: number, last: number, note = "'row ' || g", extra = '(g * 1.25)::numeric(14,2)') =>
  `INSERT INTO ${table} SELECT g, g % 1000, ${note}, ${extra}, now() FROM generate_series(${first}::bigint, ${last}::bigint) g`;

export async function load(pg: Client, table: string, rows: number): Promise<void> {
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
export interface Latencies {
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

export const pid = (d: RunningDaemon): number => d.proc.pid as number;

export async function sluiceSnapshot(e: Env, short: string): Promise<Timing> {
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

export async function sluiceCdc(e: Env, short: string): Promise<Timing> {
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

export async function sluiceLatency(e: Env, short: string): Promise<Latencies> {
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

export async function debeziumSnapshot(e: Env, short: string): Promise<Timing> {
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

export async function debeziumCdc(e: Env, short: string): Promise<Timing> {
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

export async function debeziumLatency(e: Env, short: string): Promise<Latencies> {
  const table = `public.${short}`;
  const run = await debeziumRun(e, short);
  try {
    const coll = await debeziumRunning(e, run, table, short);
    return await sampleBoth(e, table, run.topic, coll ? async (id) => (await coll.findOne(dbzId(id), { projection: { _id: 1 } })) !== null : null);
  } finally {
    await debeziumDone(e, run);
  }
}
