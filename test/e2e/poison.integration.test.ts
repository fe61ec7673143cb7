/**
 * Record errors end to end (PostgreSQL → daemon → FerretDB): poison rows among good
 * rows under errorHandling FAIL / WARN / SKIP with errorTolerance 0 and 3.
 *
 * The poison is a `double precision` NaN / Infinity, which FerretDB v1 cannot store
 * (the sink refuses it before sending: SINK_RECORD_REJECTED, field named); on the
 * Kafka transport also a garbage record (not JSON) produced onto the table's topic
 * (KAFKA_DECODE_FAILED). One daemon, many streams at once, small tables; every
 * assertion is exact: run status, failureError, statistics, dead letters (the store
 * table through the API in direct mode, the dead-letter topic's records and headers
 * on Kafka), and the good rows in MongoDB.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Kafka, logLevel, type IHeaders } from 'kafkajs';
import { cdcRunning, createStream, E2E_ADMIN_KEY, mongoDb, pgClient, start, streamStatus, uid } from '../helpers/pipeline';
import { startDaemon, tmpDataDir } from '../helpers/daemon';
import { kafkaBrokers, stackUrls } from '../helpers/stack';
import { waitFor } from '../helpers/wait-for';

const ROWS = 12;
const CHUNK = 3; // snapshot chunks [1-3] [4-6] [7-9] [10-12]
const TWO = [4, 9];
const FOUR = [3, 5, 8, 11];
const good = (poison: number[]) => Array.from({ length: ROWS }, (_, i) => i + 1).filter((i) => !poison.includes(i));

type Case = { mode: 'FAIL' | 'WARN' | 'SKIP'; tolerance: number; poison: number[] };
interface Expected {
  state: 'COMPLETED' | 'FAILED';
  code?: string;
  /** What failureError.message must match. */
  message?: RegExp;
  failed: number;
  dead: number[];
  docs: number[];
}

/** What each case must end with, worked out from the chunks above. */
function expected(c: Case): Expected {
  const first = c.poison[0]!;
  const upTo = (id: number) => Array.from({ length: Math.floor((id - 1) / CHUNK) * CHUNK }, (_, i) => i + 1);
  if (c.mode === 'FAIL') {
    // The first bad record fails the run; only the chunks before it are written.
    return { state: 'FAILED', code: 'SINK_RECORD_REJECTED', message: new RegExp(`"id":"?${first}\\b`), failed: 1, dead: [], docs: upTo(first) };
  }
  if (c.poison.length <= c.tolerance) return { state: 'COMPLETED', failed: c.poison.length, dead: c.poison, docs: good(c.poison) };
  const breaking = c.poison[c.tolerance]!;
  const dead = c.poison.slice(0, c.tolerance);
  return {
    state: 'FAILED',
    code: 'RECORD_ERROR_TOLERANCE_EXCEEDED',
    message: new RegExp(`record error ${c.tolerance + 1} exceeds errorTolerance ${c.tolerance}.*"id":"?${breaking}\\b`),
    failed: c.tolerance + 1,
    dead,
    docs: upTo(breaking).filter((i) => !dead.includes(i)),
  };
}

const CASES: Case[] = [
  ...(['FAIL', 'WARN', 'SKIP'] as const).flatMap((mode) => [0, 3].map((tolerance) => ({ mode, tolerance, poison: TWO }))),
  { mode: 'WARN', tolerance: 3, poison: FOUR },
  { mode: 'SKIP', tolerance: 3, poison: FOUR },
];

async function createPoisonTable(pg: import('pg').Client, table: string, poison: number[]): Promise<void> {
  await pg.query(`CREATE TABLE ${table} (id bigint PRIMARY KEY, ratio double precision, note text)`);
  await pg.query(
    `INSERT INTO ${table} SELECT g, CASE WHEN g = ANY($1::int[]) THEN (CASE WHEN g % 2 = 0 THEN 'NaN' ELSE 'Infinity' END)::float8 ELSE g / 4.0 END, 'row ' || g FROM generate_series(1, ${ROWS}) g`,
    [poison],
  );
}

const header = (h: IHeaders | undefined, name: string): string | undefined => {
  const v = h?.[name];
  return v === undefined ? undefined : Array.isArray(v) ? String(v[0]) : String(v);
};

test('poison rows under FAIL / WARN / SKIP x errorTolerance 0 / 3: run status, failureError, statistics, dead letters and MongoDB are exact', async () => {
  const tag = `poison_${uid()}`;
  const pg = await pgClient();
  const mongo = await mongoDb(tag);
  const tables = { two: `public.${tag}_two`, four: `public.${tag}_four`, k: `public.${tag}_k`, kf: `public.${tag}_kf` };
  await createPoisonTable(pg, tables.two, TWO);
  await createPoisonTable(pg, tables.four, FOUR);
  await createPoisonTable(pg, tables.k, TWO);
  await createPoisonTable(pg, tables.kf, []);
  const d = await startDaemon(tmpDataDir(), { SLUICE_KAFKA_BROKERS: stackUrls().kafka }, { adminKey: E2E_ADMIN_KEY });
  const kafka = new Kafka({ clientId: `${tag}-test`, brokers: kafkaBrokers(), logLevel: logLevel.NOTHING });
  const producer = kafka.producer();
  await producer.connect();
  const streams: string[] = [];
  try {
    // ---- direct transport: the matrix, one SNAPSHOT stream per case, all at once ----
    const direct = await Promise.all(
      CASES.map(async (c, i) => {
        const table = c.poison === TWO ? tables.two : tables.four;
        const { streamId } = await createStream(d, {
          name: `${tag}-${i}`,
          mongoDb: `${tag}_${i}`,
          tables: [table],
          mode: 'SNAPSHOT',
          transport: 'direct',
          options: { errorHandling: c.mode, errorTolerance: c.tolerance, snapshotChunkSize: CHUNK, snapshotParallelism: 1 },
        });
        streams.push(streamId);
        return { c, i, table, streamId };
      }),
    );
    for (const s of direct) await start(d, s.streamId);

    // ---- Kafka transport: CDC streams; one WARN/3 over the 2-poison table plus a garbage record, one FAIL/3 with a garbage record ----
    const { streamId: kId } = await createStream(d, { name: `${tag}-k`, mongoDb: `${tag}_k`, tables: [tables.k], mode: 'CDC', transport: 'kafka', options: { errorHandling: 'WARN', errorTolerance: 3, heartbeatIntervalMs: 1000 } });
    streams.push(kId);
    const { streamId: kfId } = await createStream(d, { name: `${tag}-kf`, mongoDb: `${tag}_kf`, tables: [tables.kf], mode: 'CDC', transport: 'kafka', options: { errorHandling: 'FAIL', errorTolerance: 3, heartbeatIntervalMs: 1000 } });
    streams.push(kfId);
    await start(d, kId);
    await start(d, kfId);

    for (const { c, i, streamId, table } of direct) {
      const want = expected(c);
      const what = `${c.mode}/${c.tolerance} with ${c.poison.length} poison rows`;
      await waitFor(async () => ['COMPLETED', 'FAILED'].includes((await streamStatus(d, streamId)).state), { timeoutMs: 120000, intervalMs: 200, message: `${what} ends` });
      const s = await streamStatus(d, streamId);
      assert.equal(s.state, want.state, `${what}: state (${JSON.stringify(s.failureError)})`);
      assert.equal(s.status, want.state, what);
      if (want.code) {
        const fe = s.failureError as { code: string; message: string; suggestion: string };
        assert.equal(fe.code, want.code, what);
        assert.match(fe.message, new RegExp(table.replace('.', '\\.')), `${what}: failureError names the table`);
        assert.match(fe.message, want.message!, what);
        assert.match(fe.suggestion, /Column "ratio" of .*excludeColumns/, `${what}: failureError suggests a fix for the field`);
      } else {
        assert.equal(s.failureError, null, what);
      }
      const writtenDirect = want.docs.length;
      assert.deepEqual(
        { failed: s.statistics.eventsFailed, dead: s.statistics.deadLettered, written: s.statistics.eventsWritten },
        { failed: want.failed, dead: want.dead.length, written: writtenDirect },
        `${what}: statistics`,
      );
      const stats = (await d.api(`/api/v1/streams/${streamId}/stats`)).body;
      assert.equal(stats.statistics.deadLettered, want.dead.length, `${what}: /stats`);

      const letters = await d.api(`/api/v1/streams/${streamId}/dead-letters?sort=id`);
      assert.equal(letters.status, 200);
      assert.equal(letters.body.total, want.dead.length, what);
      assert.deepEqual(
        letters.body.items.map((l: any) => ({ table: l.table, key: l.key, op: l.op, field: l.field, errorCode: l.errorCode, stage: l.stage, ratio: l.event.after.ratio, note: l.event.after.note })),
        want.dead.map((id) => ({ table, key: { id: String(id) }, op: 'r', field: 'ratio', errorCode: 'SINK_RECORD_REJECTED', stage: 'SNAPSHOT', ratio: id % 2 === 0 ? 'NaN' : 'Infinity', note: `row ${id}` })),
        `${what}: dead letters`,
      );
      for (const l of letters.body.items) assert.match(l.errorMessage, /ratio|NaN|Infinity|finite/i, what);

      const warnings = (await d.api(`/api/v1/streams/${streamId}/logs?level=WARNING`)).body.items;
      assert.deepEqual(
        warnings.map((u: any) => ({ code: u.errorCode, fieldName: u.detail?.fieldName, locationName: u.detail?.locationName, key: u.detail?.key })),
        c.mode === 'WARN' ? want.dead.map((id) => ({ code: 'SINK_RECORD_REJECTED', fieldName: 'ratio', locationName: table, key: { id: String(id) } })) : [],
        `${what}: WARNING job updates`,
      );
      const docs = (await mongo.client.db(`${tag}_${i}`).collection(table.split('.')[1]!).find({}).toArray()).map((x) => Number(x._id)).sort((a, b) => a - b);
      assert.deepEqual(docs, want.docs, `${what}: documents in MongoDB`);
    }

    // ---- Kafka ----
    await cdcRunning(d, kId);
    await cdcRunning(d, kfId);
    // The FAIL stream's snapshot must be in MongoDB before its garbage record: the batch holding it fails whole.
    await waitFor(async () => (await mongo.client.db(`${tag}_kf`).collection(`${tag}_kf`).countDocuments()) === ROWS, { timeoutMs: 120000, intervalMs: 250, message: 'Kafka FAIL stream snapshot in MongoDB' });
    const kTopic = `${tag}-k.public.${tag}_k`;
    const kfTopic = `${tag}-kf.public.${tag}_kf`;
    const garbage = Buffer.from('{"schema": not json at all');
    const [sent] = await producer.send({ topic: kTopic, acks: -1, messages: [{ key: Buffer.from('{"id":999}'), value: garbage, partition: 0 }] });
    await producer.send({ topic: kfTopic, acks: -1, messages: [{ key: Buffer.from('{"id":999}'), value: garbage, partition: 0 }] });
    // A good change after the garbage, on every partition's behalf: row 100 must arrive.
    await pg.query(`INSERT INTO ${tables.k} VALUES (100, 1.5, 'cdc')`);
    await waitFor(async () => (await streamStatus(d, kId)).statistics.eventsFailed === 3 && (await mongo.client.db(`${tag}_k`).collection(`${tag}_k`).countDocuments({ _id: 100 as never })) === 1, {
      timeoutMs: 120000,
      intervalMs: 250,
      message: 'Kafka WARN stream: 3 record errors and the CDC row written',
    });
    const k = await streamStatus(d, kId);
    assert.equal(k.state, 'STREAMING');
    assert.equal(k.cdcStatus, 'RUNNING');
    assert.equal(k.failureError, null);
    assert.deepEqual({ failed: k.statistics.eventsFailed, dead: k.statistics.deadLettered }, { failed: 3, dead: 3 });
    const kDocs = (await mongo.client.db(`${tag}_k`).collection(`${tag}_k`).find({}).toArray()).map((x) => Number(x._id)).sort((a, b) => a - b);
    assert.deepEqual(kDocs, [...good(TWO), 100]);
    assert.equal((await d.api(`/api/v1/streams/${kId}/dead-letters`)).body.total, 0, 'Kafka dead letters go to the topic, not the store');
    const kWarnings = (await d.api(`/api/v1/streams/${kId}/logs?level=WARNING`)).body.items;
    assert.equal(kWarnings.length, 3);
    assert.equal(kWarnings.filter((u: any) => u.errorCode === 'KAFKA_DECODE_FAILED').length, 1);

    // The dead-letter topic: the original records, the error in Kafka Connect's headers.
    const dlq = `${tag}-k.__dlq`;
    const consumer = kafka.consumer({ groupId: `${tag}-dlq-reader` });
    const got: Array<{ key: string | null; value: Buffer | null; headers: IHeaders | undefined }> = [];
    await consumer.connect();
    try {
      await consumer.subscribe({ topics: [dlq], fromBeginning: true });
      await consumer.run({ eachMessage: async ({ message }) => void got.push({ key: message.key?.toString() ?? null, value: message.value, headers: message.headers }) });
      await waitFor(() => got.length >= 3, { timeoutMs: 60000, intervalMs: 200, message: 'three records on the dead-letter topic' });
      await new Promise((r) => setTimeout(r, 1000)); // and no more
    } finally {
      await consumer.disconnect();
    }
    assert.equal(got.length, 3);
    const sinkRejected = got.filter((m) => header(m.headers, '__connect.errors.stage') === 'TASK_PUT');
    assert.deepEqual(
      sinkRejected.map((m) => ({ key: JSON.parse(m.key!).payload, ratio: JSON.parse(m.value!.toString()).payload.after.ratio, code: header(m.headers, '__sluice.errors.code'), field: header(m.headers, '__sluice.errors.field'), table: header(m.headers, '__sluice.errors.table'), topic: header(m.headers, '__connect.errors.topic'), connector: header(m.headers, '__connect.errors.connector.name') })).sort((a, b) => a.key.id - b.key.id),
      TWO.map((id) => ({ key: { id }, ratio: id % 2 === 0 ? 'NaN' : 'Infinity', code: 'SINK_RECORD_REJECTED', field: 'ratio', table: tables.k, topic: kTopic, connector: kId })),
    );
    for (const m of sinkRejected) assert.ok(header(m.headers, '__connect.errors.offset') !== undefined && header(m.headers, '__connect.errors.exception.message'));
    const decode = got.filter((m) => header(m.headers, '__connect.errors.stage') === 'VALUE_CONVERTER');
    assert.equal(decode.length, 1);
    assert.deepEqual(decode[0]!.value, garbage, 'the garbage record, byte for byte');
    assert.equal(decode[0]!.key, '{"id":999}');
    assert.equal(header(decode[0]!.headers, '__connect.errors.topic'), kTopic);
    assert.equal(header(decode[0]!.headers, '__connect.errors.partition'), '0');
    assert.equal(header(decode[0]!.headers, '__connect.errors.offset'), sent!.baseOffset);
    assert.equal(header(decode[0]!.headers, '__sluice.errors.code'), 'KAFKA_DECODE_FAILED');
    assert.equal(header(decode[0]!.headers, '__connect.errors.exception.class.name'), 'SluiceError');

    // FAIL on Kafka: the garbage record fails the stream, tolerance or not; nothing dead-lettered.
    await waitFor(async () => (await streamStatus(d, kfId)).state === 'FAILED', { timeoutMs: 60000, intervalMs: 250, message: 'Kafka FAIL stream fails' });
    const kf = await streamStatus(d, kfId);
    assert.equal((kf.failureError as { code: string }).code, 'KAFKA_DECODE_FAILED');
    assert.deepEqual({ failed: kf.statistics.eventsFailed, dead: kf.statistics.deadLettered }, { failed: 1, dead: 0 });
    const kfDocs = (await mongo.client.db(`${tag}_kf`).collection(`${tag}_kf`).find({}).toArray()).map((x) => Number(x._id)).sort((a, b) => a - b);
    assert.deepEqual(kfDocs, good([]), 'the snapshot before the garbage record is in MongoDB');
    const admin = kafka.admin();
    await admin.connect();
    try {
      assert.equal((await admin.listTopics()).includes(`${tag}-kf.__dlq`), false, 'no dead-letter topic under FAIL');
    } finally {
      await admin.disconnect();
    }

    // Metrics: dead letters and failed events counted per stream.
    const metrics = await fetch(`${d.base}/metrics`).then((r) => r.text());
    const value = (name: string, stream: string) => Number(metrics.split('\n').find((l) => l.startsWith(name) && l.includes(`stream="${stream}"`))?.split(' ').pop());
    assert.equal(value('sluice_dead_letters_total', kId), 3);
    assert.equal(value('sluice_events_failed_total', kId), 3);
  } finally {
    await producer.disconnect().catch(() => undefined);
    for (const id of streams) {
      await d.api(`/api/v1/streams/${id}/stop`, { method: 'POST' }).catch(() => undefined);
      await d.api(`/api/v1/streams/${id}`, { method: 'DELETE' }).catch(() => undefined);
    }
    await d.stop('SIGTERM');
    for (const t of Object.values(tables)) await pg.query(`DROP TABLE IF EXISTS ${t}`).catch(() => undefined);
    for (let i = 0; i < CASES.length; i++) await mongo.client.db(`${tag}_${i}`).dropDatabase().catch(() => undefined);
    for (const s of ['k', 'kf']) await mongo.client.db(`${tag}_${s}`).dropDatabase().catch(() => undefined);
    await mongo.client.close();
    await pg.end();
  }
});
