/**
 * Poison rows that are really values the target cannot hold, end to end (one daemon,
 * many small streams at once), every assertion exact: run status, failureError (code,
 * table, key, field), statistics, dead letters and the good rows in MongoDB.
 *
 * 1. Out-of-range values under mapping type overrides (PostgreSQL → FerretDB, direct):
 *    a bigint 2^40 on `type: "int"` and the text "999999999999999999999" on `type:
 *    "long"`, under FAIL / WARN / SKIP x errorTolerance 0 / 3. A numeric of 35 digits on
 *    `type: "decimal128"` is a good row on FerretDB (no Decimal128 there: the sink keeps
 *    the exact text as a string, as for every decimal); on MongoDB it is rejected (unit
 *    tested in src/transform/mapping/mapping.test.ts).
 * 2. Invalid JSON from the source: a MariaDB JSON column (LONGTEXT + CHECK json_valid)
 *    written with `SET SESSION check_constraint_checks=0`, in the snapshot and in CDC,
 *    on the direct and the Kafka transport, under FAIL, WARN and SKIP.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Kafka, logLevel, type IHeaders } from 'kafkajs';
import { cdcRunning, createStream, E2E_ADMIN_KEY, mongoDb, pgClient, start, streamStatus, uid } from '../helpers/pipeline';
import { myClient, myDatabase } from '../helpers/mysql-pipeline';
import { startDaemon, tmpDataDir, type RunningDaemon } from '../helpers/daemon';
import { kafkaBrokers, stackUrls } from '../helpers/stack';
import { waitFor } from '../helpers/wait-for';

const ROWS = 12;
const CHUNK = 3; // snapshot chunks [1-3] [4-6] [7-9] [10-12]
const TWO = [4, 9];
const FOUR = [3, 5, 8, 11];
const all = Array.from({ length: ROWS }, (_, i) => i + 1);
const without = (ids: number[], bad: number[]) => ids.filter((i) => !bad.includes(i));
/** The out-of-range poison: even ids break `big` (int32), odd ids `code` (int64). */
const rangeField = (id: number) => (id % 2 === 0 ? 'big' : 'code');
const BIG_DECIMAL = '1234567890123456789012345678901234.5'; // 35 significant digits
const BAD_JSON = (id: number) => `{"id": ${id}, "broken": tru`;

type Mode = 'FAIL' | 'WARN' | 'SKIP';
type Case = { mode: Mode; tolerance: number; poison: number[] };
interface Expected {
  state: 'COMPLETED' | 'FAILED';
  code?: string;
  /** The poison row that fails the run. */
  breaking?: number;
  failed: number;
  dead: number[];
  docs: number[];
}

/** What a SNAPSHOT run over `poison` must end with, worked out from the chunks above. */
function expected(c: Case): Expected {
  const upTo = (id: number) => all.slice(0, Math.floor((id - 1) / CHUNK) * CHUNK);
  if (c.mode === 'FAIL') return { state: 'FAILED', code: 'SINK_RECORD_REJECTED', breaking: c.poison[0]!, failed: 1, dead: [], docs: upTo(c.poison[0]!) };
  if (c.poison.length <= c.tolerance) return { state: 'COMPLETED', failed: c.poison.length, dead: c.poison, docs: without(all, c.poison) };
  const breaking = c.poison[c.tolerance]!;
  const dead = c.poison.slice(0, c.tolerance);
  return { state: 'FAILED', code: 'RECORD_ERROR_TOLERANCE_EXCEEDED', breaking, failed: c.tolerance + 1, dead, docs: without(upTo(breaking), dead) };
}

const RANGE_CASES: Case[] = [
  ...(['FAIL', 'WARN', 'SKIP'] as const).flatMap((mode) => [0, 3].map((tolerance) => ({ mode, tolerance, poison: TWO }))),
  { mode: 'WARN', tolerance: 3, poison: FOUR },
  { mode: 'SKIP', tolerance: 3, poison: FOUR },
];
const JSON_CASES: Case[] = [
  { mode: 'FAIL', tolerance: 0, poison: TWO },
  { mode: 'WARN', tolerance: 3, poison: TWO },
  { mode: 'SKIP', tolerance: 0, poison: TWO },
];

const header = (h: IHeaders | undefined, name: string): string | undefined => {
  const v = h?.[name];
  return v === undefined ? undefined : Array.isArray(v) ? String(v[0]) : String(v);
};
const esc = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

/** The exact checks of one finished or streaming run. */
async function checkRun(
  d: RunningDaemon,
  streamId: string,
  what: string,
  want: Expected & { table: string; field: (id: number) => string; stage: (id: number) => 'SNAPSHOT' | 'CDC'; mode: Mode; after: (id: number) => Record<string, unknown>; written?: number },
): Promise<void> {
  const s = await streamStatus(d, streamId);
  assert.equal(s.state, want.state === 'COMPLETED' && want.written !== undefined ? 'STREAMING' : want.state, `${what}: state (${JSON.stringify(s.failureError)})`);
  if (want.code) {
    const fe = s.failureError as { code: string; message: string; suggestion: string };
    const field = want.field(want.breaking!);
    assert.equal(fe.code, want.code, `${what}: ${fe.message}`);
    assert.match(fe.message, new RegExp(esc(want.table)), `${what}: failureError names the table`);
    assert.match(fe.message, new RegExp(`"id":"?${want.breaking}\\b`), `${what}: failureError names the key`);
    assert.match(fe.message, new RegExp(`field ${field}\\b`), `${what}: failureError names the field`);
    if (want.code === 'RECORD_ERROR_TOLERANCE_EXCEEDED') assert.match(fe.message, new RegExp(`record error ${want.failed} exceeds errorTolerance ${want.failed - 1}`), what);
    assert.match(fe.suggestion, new RegExp(`Column "${field}" of ${esc(want.table)} .*excludeColumns`), `${what}: failureError suggests a fix for the field`);
  } else {
    assert.equal(s.failureError, null, what);
  }
  assert.deepEqual(
    { failed: s.statistics.eventsFailed, dead: s.statistics.deadLettered, written: s.statistics.eventsWritten },
    { failed: want.failed, dead: want.dead.length, written: want.written ?? want.docs.length },
    `${what}: statistics`,
  );
  const letters = await d.api(`/api/v1/streams/${streamId}/dead-letters?sort=id`);
  assert.equal(letters.status, 200);
  assert.equal(letters.body.total, want.dead.length, what);
  assert.deepEqual(
    letters.body.items.map((l: any) => ({ table: l.table, key: l.key, op: l.op, field: l.field, errorCode: l.errorCode, stage: l.stage, after: l.event.after })),
    want.dead.map((id) => ({ table: want.table, key: { id: String(id) }, op: want.stage(id) === 'SNAPSHOT' ? 'r' : 'c', field: want.field(id), errorCode: 'SINK_RECORD_REJECTED', stage: want.stage(id), after: want.after(id) })),
    `${what}: dead letters`,
  );
  const warnings = (await d.api(`/api/v1/streams/${streamId}/logs?level=WARNING`)).body.items;
  assert.deepEqual(
    warnings.map((u: any) => ({ code: u.errorCode, fieldName: u.detail?.fieldName, locationName: u.detail?.locationName, key: u.detail?.key })),
    want.mode === 'WARN' ? want.dead.map((id) => ({ code: 'SINK_RECORD_REJECTED', fieldName: want.field(id), locationName: want.table, key: { id: String(id) } })) : [],
    `${what}: WARNING job updates`,
  );
}

const ids = async (mongo: Awaited<ReturnType<typeof mongoDb>>, db: string, coll: string) =>
  (await mongo.client.db(db).collection(coll).find({}).toArray()).map((x) => Number(x._id)).sort((a, b) => a - b);

test('values the target cannot hold (out-of-range overrides, invalid JSON from MariaDB) under FAIL / WARN / SKIP: status, failureError, statistics, dead letters and MongoDB are exact', { timeout: 600000 }, async () => {
  const tag = `pv_${uid()}`;
  const pg = await pgClient();
  const my = await myClient();
  const myDb = myDatabase();
  const mongo = await mongoDb(tag);
  const pgTables = { two: `public.${tag}_two`, four: `public.${tag}_four` };
  const myTables = { snap: `${myDb}.${tag}_js`, cdcW: `${myDb}.${tag}_jcw`, cdcF: `${myDb}.${tag}_jcf`, kW: `${myDb}.${tag}_jkw`, kF: `${myDb}.${tag}_jkf` };
  for (const [t, poison] of [[pgTables.two, TWO], [pgTables.four, FOUR]] as const) {
    await pg.query(`CREATE TABLE ${t} (id bigint PRIMARY KEY, big bigint, code text, amount numeric, note text)`);
    await pg.query(
      `INSERT INTO ${t} SELECT g,
         CASE WHEN g = ANY($1::int[]) AND g % 2 = 0 THEN 1099511627776 ELSE g * 1000 END,
         CASE WHEN g = ANY($1::int[]) AND g % 2 = 1 THEN '999999999999999999999' ELSE (g * 7)::text END,
         CASE WHEN g = 6 THEN $2::numeric ELSE g + 0.25 END,
         'row ' || g FROM generate_series(1, ${ROWS}) g`,
      [poison, BIG_DECIMAL],
    );
  }
  // MariaDB: JSON columns; the poison rows written with check constraints off (this session only).
  const myInsert = async (table: string, rows: readonly number[], poison: readonly number[]) => {
    await my.query('SET SESSION check_constraint_checks=0');
    try {
      for (const id of rows) await my.query(`INSERT INTO ${table} VALUES (?, ?, ?)`, [id, poison.includes(id) ? BAD_JSON(id) : JSON.stringify({ id, tags: ['a', id] }), `row ${id}`]);
    } finally {
      await my.query('SET SESSION check_constraint_checks=1');
    }
  };
  for (const [t, poison] of [[myTables.snap, TWO], [myTables.cdcW, TWO], [myTables.cdcF, []], [myTables.kW, TWO], [myTables.kF, []]] as const) {
    await my.query(`CREATE TABLE ${t} (id bigint PRIMARY KEY, doc JSON, note varchar(40))`);
    await myInsert(t, all, poison);
  }
  const jsonAfter = (id: number) => ({ id: String(id), doc: BAD_JSON(id), note: `row ${id}` });

  const d = await startDaemon(tmpDataDir(), { SLUICE_KAFKA_BROKERS: stackUrls().kafka }, { adminKey: E2E_ADMIN_KEY });
  const kafka = new Kafka({ clientId: `${tag}-test`, brokers: kafkaBrokers(), logLevel: logLevel.NOTHING });
  const streams: string[] = [];
  const make = async (spec: Parameters<typeof createStream>[1]) => {
    const { streamId } = await createStream(d, spec);
    streams.push(streamId);
    return streamId;
  };
  try {
    const snapOptions = (c: Case) => ({ errorHandling: c.mode, errorTolerance: c.tolerance, snapshotChunkSize: CHUNK, snapshotParallelism: 1 });
    const range = await Promise.all(
      RANGE_CASES.map(async (c, i) => {
        const table = c.poison === TWO ? pgTables.two : pgTables.four;
        const mapping = { tables: { [table]: { fields: { big: { type: 'int' }, code: { type: 'long' }, amount: { type: 'decimal128' } } } } };
        return { c, i, table, streamId: await make({ name: `${tag}-r${i}`, mongoDb: `${tag}_r${i}`, tables: [table], mode: 'SNAPSHOT', transport: 'direct', options: snapOptions(c), extra: { mapping } }) };
      }),
    );
    const json = await Promise.all(
      JSON_CASES.map(async (c, i) => ({ c, i, streamId: await make({ name: `${tag}-j${i}`, mongoDb: `${tag}_j${i}`, tables: [myTables.snap], mode: 'SNAPSHOT', transport: 'direct', sourceKind: 'mysql', options: snapOptions(c) }) })),
    );
    const cdc = { heartbeatIntervalMs: 1000, snapshotChunkSize: CHUNK };
    const cdcW = await make({ name: `${tag}-jcw`, mongoDb: `${tag}_jcw`, tables: [myTables.cdcW], mode: 'CDC', transport: 'direct', sourceKind: 'mysql', options: { ...cdc, errorHandling: 'WARN', errorTolerance: 3 } });
    const cdcF = await make({ name: `${tag}-jcf`, mongoDb: `${tag}_jcf`, tables: [myTables.cdcF], mode: 'CDC', transport: 'direct', sourceKind: 'mysql', options: { ...cdc, errorHandling: 'FAIL' } });
    const kW = await make({ name: `${tag}-jkw`, mongoDb: `${tag}_jkw`, tables: [myTables.kW], mode: 'CDC', transport: 'kafka', sourceKind: 'mysql', options: { ...cdc, errorHandling: 'WARN', errorTolerance: 3 } });
    const kF = await make({ name: `${tag}-jkf`, mongoDb: `${tag}_jkf`, tables: [myTables.kF], mode: 'CDC', transport: 'kafka', sourceKind: 'mysql', options: { ...cdc, errorHandling: 'FAIL' } });
    for (const id of streams) await start(d, id);

    const ended = (id: string, what: string) => waitFor(async () => ['COMPLETED', 'FAILED'].includes((await streamStatus(d, id)).state), { timeoutMs: 180000, intervalMs: 250, message: `${what} ends` });

    // ---- 1. out-of-range values under type overrides ----
    for (const { c, i, streamId, table } of range) {
      const what = `range ${c.mode}/${c.tolerance} with ${c.poison.length} poison rows`;
      await ended(streamId, what);
      const want = expected(c);
      await checkRun(d, streamId, what, {
        ...want,
        table,
        mode: c.mode,
        field: rangeField,
        stage: () => 'SNAPSHOT',
        after: (id) => ({ id: String(id), big: id % 2 === 0 ? '1099511627776' : String(id * 1000), code: id % 2 === 1 ? '999999999999999999999' : String(id * 7), amount: `${id}.25`, note: `row ${id}` }),
      });
      const docs = await mongo.client.db(`${tag}_r${i}`).collection(table.split('.')[1]!).find({}, { promoteLongs: false }).sort({ _id: 1 }).toArray();
      assert.deepEqual(docs.map((x) => Number(x._id)), want.docs, `${what}: documents in MongoDB`);
      for (const doc of docs) {
        const id = Number(doc._id);
        assert.equal(doc.big, id * 1000, `${what}: big is an int32`);
        assert.equal((doc.code as { _bsontype?: string })._bsontype, 'Long', `${what}: code is a long`);
        assert.equal(String(doc.code), String(id * 7));
        // FerretDB has no Decimal128: the override keeps the exact text, 35 digits included.
        assert.equal(doc.amount, id === 6 ? BIG_DECIMAL : `${id}.25`, `${what}: amount exact`);
      }
    }

    // ---- 2a. invalid JSON in the MariaDB snapshot, direct transport ----
    for (const { c, i, streamId } of json) {
      const what = `invalid JSON ${c.mode}/${c.tolerance}`;
      await ended(streamId, what);
      const want = expected(c);
      await checkRun(d, streamId, what, { ...want, table: myTables.snap, mode: c.mode, field: () => 'doc', stage: () => 'SNAPSHOT', after: jsonAfter });
      assert.deepEqual(await ids(mongo, `${tag}_j${i}`, `${tag}_js`), want.docs, `${what}: documents in MongoDB`);
      const four = await mongo.client.db(`${tag}_j${i}`).collection(`${tag}_js`).findOne({ _id: 1 as never });
      assert.deepEqual(four?.doc, { id: 1, tags: ['a', 1] }, `${what}: good JSON is a document`);
    }
    for (const { streamId } of json.filter((j) => j.c.mode !== 'FAIL')) {
      const l = (await d.api(`/api/v1/streams/${streamId}/dead-letters?sort=id`)).body.items as any[];
      for (const x of l) assert.match(x.errorMessage, /invalid JSON in a JSON column/, 'the dead letter says why');
    }

    // ---- 2b. invalid JSON in CDC (and the snapshot before it), direct and Kafka ----
    for (const id of [cdcW, cdcF, kW, kF]) await cdcRunning(d, id);
    await waitFor(async () => (await ids(mongo, `${tag}_jcf`, `${tag}_jcf`)).length === ROWS && (await ids(mongo, `${tag}_jkf`, `${tag}_jkf`)).length === ROWS, {
      timeoutMs: 120000,
      intervalMs: 250,
      message: 'the FAIL streams\' snapshots are in MongoDB',
    });
    for (const t of Object.values(myTables).slice(1)) await myInsert(t, [100, 101], [100]);

    // Counters are flushed a moment after the write they count: wait for both.
    await waitFor(async () => (await streamStatus(d, cdcW)).statistics.eventsFailed === 3 && (await streamStatus(d, cdcW)).statistics.eventsWritten >= ROWS - 2 + 1 && (await ids(mongo, `${tag}_jcw`, `${tag}_jcw`)).includes(101), { timeoutMs: 120000, intervalMs: 250, message: 'direct WARN: 3 record errors and row 101' });
    await checkRun(d, cdcW, 'CDC direct WARN/3', {
      state: 'COMPLETED',
      failed: 3,
      dead: [...TWO, 100],
      docs: [],
      written: ROWS - 2 + 1,
      table: myTables.cdcW,
      mode: 'WARN',
      field: () => 'doc',
      stage: (id) => (id === 100 ? 'CDC' : 'SNAPSHOT'),
      after: jsonAfter,
    });
    assert.deepEqual(await ids(mongo, `${tag}_jcw`, `${tag}_jcw`), [...without(all, TWO), 101]);
    assert.equal((await streamStatus(d, cdcW)).cdcStatus, 'RUNNING');

    await ended(cdcF, 'CDC direct FAIL');
    const f = await streamStatus(d, cdcF);
    assert.equal(f.state, 'FAILED');
    const ffe = f.failureError as { code: string; message: string; suggestion: string };
    assert.equal(ffe.code, 'SINK_RECORD_REJECTED', ffe.message);
    for (const re of [new RegExp(esc(myTables.cdcF)), /key \{"id":"100"\}/, /field doc: invalid JSON in a JSON column/]) assert.match(ffe.message, re);
    assert.match(ffe.suggestion, /Column "doc"/);
    assert.deepEqual({ failed: f.statistics.eventsFailed, dead: f.statistics.deadLettered }, { failed: 1, dead: 0 });
    assert.deepEqual(await ids(mongo, `${tag}_jcf`, `${tag}_jcf`), all, 'nothing at or after the bad row is written');

    // Kafka WARN: the two snapshot rows and the CDC row reach the dead-letter topic as they were on the table's topic.
    await waitFor(async () => (await streamStatus(d, kW)).statistics.eventsFailed === 3 && (await ids(mongo, `${tag}_jkw`, `${tag}_jkw`)).includes(101), { timeoutMs: 120000, intervalMs: 250, message: 'Kafka WARN: 3 record errors and row 101' });
    const k = await streamStatus(d, kW);
    assert.deepEqual({ state: k.state, cdcStatus: k.cdcStatus, failureError: k.failureError, failed: k.statistics.eventsFailed, dead: k.statistics.deadLettered }, { state: 'STREAMING', cdcStatus: 'RUNNING', failureError: null, failed: 3, dead: 3 });
    assert.deepEqual(await ids(mongo, `${tag}_jkw`, `${tag}_jkw`), [...without(all, TWO), 101]);
    const kWarnings = (await d.api(`/api/v1/streams/${kW}/logs?level=WARNING`)).body.items;
    assert.deepEqual(kWarnings.map((u: any) => ({ code: u.errorCode, fieldName: u.detail?.fieldName, locationName: u.detail?.locationName })), [0, 1, 2].map(() => ({ code: 'SINK_RECORD_REJECTED', fieldName: 'doc', locationName: myTables.kW })));
    const consumer = kafka.consumer({ groupId: `${tag}-dlq-reader` });
    const got: Array<{ key: string | null; value: Buffer | null; headers: IHeaders | undefined }> = [];
    await consumer.connect();
    try {
      await consumer.subscribe({ topics: [`${tag}-jkw.__dlq`], fromBeginning: true });
      await consumer.run({ eachMessage: async ({ message }) => void got.push({ key: message.key?.toString() ?? null, value: message.value, headers: message.headers }) });
      await waitFor(() => got.length >= 3, { timeoutMs: 60000, intervalMs: 200, message: 'three records on the dead-letter topic' });
      await new Promise((r) => setTimeout(r, 1000)); // and no more
    } finally {
      await consumer.disconnect();
    }
    const [, tableName] = myTables.kW.split('.');
    assert.deepEqual(
      got
        .map((m) => ({ key: JSON.parse(m.key!).payload, doc: JSON.parse(m.value!.toString()).payload.after.doc, op: JSON.parse(m.value!.toString()).payload.op, stage: header(m.headers, '__connect.errors.stage'), code: header(m.headers, '__sluice.errors.code'), field: header(m.headers, '__sluice.errors.field'), table: header(m.headers, '__sluice.errors.table'), topic: header(m.headers, '__connect.errors.topic') }))
        .sort((a, b) => a.key.id - b.key.id),
      [...TWO, 100].map((id) => ({ key: { id }, doc: BAD_JSON(id), op: id === 100 ? 'c' : 'r', stage: 'TASK_PUT', code: 'SINK_RECORD_REJECTED', field: 'doc', table: myTables.kW, topic: `${tag}-jkw.${myDb}.${tableName}` })),
      'the dead-letter topic: the raw JSON text, the field in the headers',
    );
    for (const m of got) assert.match(header(m.headers, '__connect.errors.exception.message') ?? '', /invalid JSON in a JSON column/);

    // Kafka FAIL: the CDC row with invalid JSON fails the run, naming table, key and field.
    await ended(kF, 'Kafka FAIL');
    const kf = await streamStatus(d, kF);
    const kfe = kf.failureError as { code: string; message: string; suggestion: string };
    assert.equal(kf.state, 'FAILED');
    assert.equal(kfe.code, 'SINK_RECORD_REJECTED', kfe.message);
    for (const re of [new RegExp(esc(myTables.kF)), /key \{"id":"100"\}/, /field doc: invalid JSON in a JSON column/]) assert.match(kfe.message, re);
    assert.match(kfe.suggestion, /Column "doc"/);
    assert.deepEqual({ failed: kf.statistics.eventsFailed, dead: kf.statistics.deadLettered }, { failed: 1, dead: 0 });
    // Order is per key (partition): row 101 is held back only when it shares row 100's
    // partition; on another partition the sink may have written it before the run ended.
    const partitionOf = new Map<number, number>();
    const reader = kafka.consumer({ groupId: `${tag}-jkf-reader` });
    await reader.connect();
    try {
      await reader.subscribe({ topics: [`${tag}-jkf.${myDb}.${tag}_jkf`], fromBeginning: true });
      await reader.run({ eachMessage: async ({ partition, message }) => void (message.key && partitionOf.set(JSON.parse(message.key.toString()).payload.id, partition)) });
      await waitFor(() => partitionOf.has(100) && partitionOf.has(101), { timeoutMs: 60000, intervalMs: 200, message: 'rows 100 and 101 on the table topic' });
    } finally {
      await reader.disconnect();
    }
    const kfDocs = await ids(mongo, `${tag}_jkf`, `${tag}_jkf`);
    if (partitionOf.get(100) === partitionOf.get(101)) assert.deepEqual(kfDocs, all, 'nothing after the bad row on its partition is written');
    else assert.ok([JSON.stringify(all), JSON.stringify([...all, 101])].includes(JSON.stringify(kfDocs)), `Kafka FAIL: documents ${JSON.stringify(kfDocs)}`);
  } finally {
    for (const id of streams) {
      await d.api(`/api/v1/streams/${id}/stop`, { method: 'POST' }).catch(() => undefined);
      await d.api(`/api/v1/streams/${id}`, { method: 'DELETE' }).catch(() => undefined);
    }
    await d.stop('SIGTERM');
    for (const t of Object.values(pgTables)) await pg.query(`DROP TABLE IF EXISTS ${t}`).catch(() => undefined);
    for (const t of Object.values(myTables)) await my.query(`DROP TABLE IF EXISTS ${t}`).catch(() => undefined);
    const dbs = (await mongo.client.db('admin').admin().listDatabases()).databases.map((x) => x.name).filter((n) => n.startsWith(tag));
    for (const n of dbs) await mongo.client.db(n).dropDatabase().catch(() => undefined);
    await mongo.client.close();
    await pg.end();
    await my.end();
  }
});
