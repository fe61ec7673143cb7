import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Decimal, type ChangeEvent, type EventBatch } from '../../src/core';
import { isSluiceError } from '../../src/errors';
import postgresConnector from './index';
import { publicationName, slotName } from './naming';
import { admin, cleanup, streaming, context, logger, makeSource, Puller, postgresUrl, skipReason, streamSpec, uniqueId } from './test-support';

const skip = skipReason();

const COLUMNS = `c_int2 int2, c_int4 int4, c_int8 int8, c_num numeric(20,6), c_numfree numeric, c_f4 float4, c_f8 float8,
  c_bool bool, c_text text, c_vc varchar(10), c_char char(3), c_name name, c_uuid uuid, c_date date, c_ts timestamp,
  c_tstz timestamptz, c_time time, c_timetz timetz, c_iv interval, c_bytea bytea, c_json json, c_jsonb jsonb,
  c_int_arr int4[], c_text_arr text[], c_nested int8[], c_mood %MOOD%, c_mood_arr %MOOD%[], c_inet inet, c_money money,
  c_mac macaddr, c_date_inf date, c_ts_inf timestamptz, c_f8_nan float8`;
const VALUES = `-32768, 2147483647, 9223372036854775807, 12345678901234.123456, 1e-20, 1.5, 2.25,
  true, 'hé "q" \\ ''s', 'short', 'ab', 'nm', 'A0EEBC99-9C0B-4EF8-BB6D-6BB9BD380A11', '2024-02-29', '2024-02-29 13:14:15.123456',
  '2024-02-29 13:14:15.5+05:30', '13:14:15.5', '13:14:15+02', '1 year 2 mons 3 days 04:05:06.5', '\\xdeadbeef'::bytea,
  '{"a": [1, null, "x"]}', '{"b": {"c": 2}}', '{1,NULL,3}', '{"a b",NULL,"q\\"x",""}', '{{1,2},{3,4}}', 'happy',
  '{sad,NULL,happy}', '10.0.0.1/8', 12.34, '08:00:2b:01:02:03', 'infinity', '-infinity', 'NaN'`;

const expected = {
  c_int2: -32768,
  c_int4: 2147483647,
  c_int8: 9223372036854775807n,
  c_num: new Decimal('12345678901234.123456'),
  c_numfree: new Decimal('0.00000000000000000001'),
  c_f4: 1.5,
  c_f8: 2.25,
  c_bool: true,
  c_text: 'hé "q" \\ \'s',
  c_vc: 'short',
  c_char: 'ab ',
  c_name: 'nm',
  c_uuid: 'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11',
  c_date: new Date('2024-02-29T00:00:00Z'),
  c_ts: new Date('2024-02-29T13:14:15.123Z'),
  c_tstz: new Date('2024-02-29T07:44:15.500Z'),
  c_time: '13:14:15.5',
  c_timetz: '13:14:15+02',
  c_iv: 'P1Y2M3DT4H5M6.5S',
  c_bytea: Buffer.from('deadbeef', 'hex'),
  c_json: { a: [1, null, 'x'] },
  c_jsonb: { b: { c: 2 } },
  c_int_arr: [1, null, 3],
  c_text_arr: ['a b', null, 'q"x', ''],
  c_nested: [[1n, 2n], [3n, 4n]],
  c_mood: 'happy',
  c_mood_arr: ['sad', null, 'happy'],
  c_inet: '10.0.0.1/8',
  c_money: '$12.34',
  c_mac: '08:00:2b:01:02:03',
  c_date_inf: new Date(8.64e15),
  c_ts_inf: new Date(-8.64e15),
  c_f8_nan: NaN,
};

function withoutId(row: Record<string, unknown> | null): Record<string, unknown> {
  const { id: _id, ...rest } = row ?? {};
  return rest;
}

test('every column type round-trips identically through the snapshot and through CDC', { skip, timeout: 60_000 }, async () => {
  const db = await admin();
  const id = uniqueId('types');
  const t = `types_${slotName(id).slice(7)}`;
  const mood = `mood_${slotName(id).slice(7)}`;
  await db.query(`CREATE TYPE ${mood} AS ENUM ('sad', 'happy')`);
  await db.query(`CREATE TABLE ${t} (id int PRIMARY KEY, ${COLUMNS.replace(/%MOOD%/g, mood)})`);
  await db.query(`INSERT INTO ${t} VALUES (1, ${VALUES}), (2${', NULL'.repeat(33)})`);
  const source = makeSource(streamSpec(id, [`public.${t}`], { snapshotChunkSize: 1 }));
  try {
    const ctx = context(id);
    const snap: ChangeEvent[] = [];
    for await (const b of source.snapshot({ tables: [{ schema: 'public', table: t }], resumeFrom: null }, ctx)) snap.push(...b.events);
    assert.equal(snap.length, 2);
    const puller = new Puller(source.stream(null, ctx));
    await db.query(`INSERT INTO ${t} VALUES (101, ${VALUES}), (102${', NULL'.repeat(33)})`);
    const { events: cdc } = await puller.events(2);
    const s1 = snap.find((e) => e.key.id === 1)!;
    const c1 = cdc.find((e) => e.key.id === 101)!;
    for (const [col, want] of Object.entries(expected)) {
      assert.deepEqual(s1.after![col], want, `snapshot ${col}`);
      assert.deepEqual(c1.after![col], want, `cdc ${col}`);
    }
    assert.deepEqual(withoutId(s1.after), withoutId(c1.after));
    const s2 = snap.find((e) => e.key.id === 2)!;
    const c2 = cdc.find((e) => e.key.id === 102)!;
    for (const col of Object.keys(expected)) {
      assert.equal(s2.after![col], null, `snapshot null ${col}`);
      assert.equal(c2.after![col], null, `cdc null ${col}`);
    }
    // Schema: one shared object per table version, same shape on both paths.
    assert.equal(s1.schema, s2.schema);
    assert.equal(c1.schema, c2.schema);
    assert.deepEqual(s1.schema, c1.schema);
    const col = (n: string) => s1.schema!.columns.find((c) => c.name === n)!;
    assert.deepEqual(s1.schema!.key, ['id']);
    assert.equal(col('c_num').type, 'decimal');
    assert.equal(col('c_num').precision, 20);
    assert.equal(col('c_num').scale, 6);
    assert.equal(col('c_num').sourceType, 'numeric(20,6)');
    assert.equal(col('c_mood').type, 'enum');
    assert.deepEqual(col('c_mood').enumValues, ['sad', 'happy']);
    assert.equal(col('c_mood_arr').elementType, 'enum');
    assert.equal(col('c_int8').type, 'int64');
    assert.equal(col('id').optional, false);
    assert.equal(col('c_text').optional, true);
  } finally {
    await cleanup(source);
    await db.query(`DROP TABLE IF EXISTS ${t}; DROP TYPE IF EXISTS ${mood}`);
    await db.end();
  }
});

test('insert, update, delete, primary-key change and unchanged TOAST columns stream as the right events', { skip, timeout: 60_000 }, async () => {
  const db = await admin();
  const id = uniqueId('crud');
  const t = `crud_${slotName(id).slice(7)}`;
  await db.query(`CREATE TABLE ${t} (id int PRIMARY KEY, n int, big text)`);
  const source = makeSource(streamSpec(id, [t], {}, { mode: 'CDC_ONLY' }));
  try {
    const ctx = context(id);
    const puller = new Puller(source.stream(null, ctx));
    // The slot exists once the stream started: wait for it before writing.
    await streaming(db, id);
    const big = `(SELECT string_agg(md5(i::text), '') FROM generate_series(1, 2000) i)`;
    await db.query(`INSERT INTO ${t} VALUES (1, 1, ${big})`);
    const xid = Number((await db.query(`BEGIN; UPDATE ${t} SET n = 2 WHERE id = 1; SELECT txid_current() AS x; COMMIT`) as unknown as Array<{ rows: Array<{ x: string }> }>)[2]!.rows[0]!.x);
    await db.query(`UPDATE ${t} SET id = 5 WHERE id = 1`);
    await db.query(`DELETE FROM ${t} WHERE id = 5`);
    const { events, batches } = await puller.events(5);
    assert.deepEqual(events.map((e) => e.op), ['c', 'u', 'd', 'c', 'd']);
    const [ins, upd, pkDel, pkIns, del] = events as [ChangeEvent, ChangeEvent, ChangeEvent, ChangeEvent, ChangeEvent];
    assert.equal((ins.after!.big as string).length, 64_000);
    assert.deepEqual(upd.key, { id: 1 });
    assert.equal(upd.after!.n, 2);
    assert.ok('big' in upd.after!, 'the column is present');
    assert.equal(upd.after!.big, undefined, 'an unchanged TOASTed column is undefined, never null');
    assert.equal(upd.source.txId, xid);
    assert.equal(upd.source.connector, 'postgresql');
    assert.equal(upd.source.snapshot, false);
    assert.equal(upd.source.table, t);
    assert.match(upd.source.lsn!, /^[0-9A-F]+\/[0-9A-F]+$/);
    assert.ok(Math.abs(upd.source.ts_ms - Date.now()) < 60_000);
    assert.deepEqual(pkDel.key, { id: 1 });
    assert.equal(pkDel.after, null);
    assert.deepEqual(pkIns.key, { id: 5 });
    assert.equal(pkIns.after!.n, 2);
    assert.deepEqual(del.key, { id: 5 });
    assert.deepEqual(del.before, { id: 5 });
    // Every batch ends a transaction here, so each carries a commit position.
    for (const b of batches) assert.match(String(b.position?.lsn), /^[0-9A-F]+\/[0-9A-F]+$/);
  } finally {
    await cleanup(source);
    await db.query(`DROP TABLE IF EXISTS ${t}`);
    await db.end();
  }
});

test('a table without a usable key is refused with SOURCE_TABLE_NO_KEY naming it; a missing table with SOURCE_TABLE_NOT_FOUND', { skip, timeout: 30_000 }, async () => {
  const db = await admin();
  const id = uniqueId('nokey');
  const t = `nokey_${slotName(id).slice(7)}`;
  await db.query(`CREATE TABLE ${t} (a int, b text)`);
  try {
    const source = makeSource(streamSpec(id, [`public.${t}`]));
    await assert.rejects(source.stream(null, context(id)).next(), (err: unknown) => {
      assert.ok(isSluiceError(err));
      assert.equal(err.code, 'SOURCE_TABLE_NO_KEY');
      assert.equal(err.detail.table, `public.${t}`);
      assert.match(err.suggestion, /REPLICA IDENTITY FULL/);
      return true;
    });
    const missing = makeSource(streamSpec(id, ['public.no_such_table_xyz']));
    await assert.rejects(missing.stream(null, context(id)).next(), (err: unknown) => isSluiceError(err) && err.code === 'SOURCE_TABLE_NOT_FOUND');
    await cleanup(source);
    // REPLICA IDENTITY FULL makes the whole row the key.
    await db.query(`ALTER TABLE ${t} REPLICA IDENTITY FULL; INSERT INTO ${t} VALUES (1, 'x'), (NULL, 'y')`);
    const full = makeSource(streamSpec(id, [`public.${t}`]));
    try {
      const ctx = context(id);
      const snap: EventBatch[] = [];
      for await (const b of full.snapshot({ tables: [{ schema: 'public', table: t }], resumeFrom: null }, ctx)) snap.push(b);
      assert.deepEqual(snap.flatMap((b) => b.events.map((e) => e.key)).sort((x, y) => String(x.b).localeCompare(String(y.b))), [{ a: 1, b: 'x' }, { a: null, b: 'y' }]);
      const puller = new Puller(full.stream(null, ctx));
      await db.query(`UPDATE ${t} SET b = 'z' WHERE a = 1`);
      const { events } = await puller.events(2);
      assert.deepEqual(events.map((e) => [e.op, e.key]), [['d', { a: 1, b: 'x' }], ['c', { a: 1, b: 'z' }]]);
    } finally {
      await cleanup(full);
    }
  } finally {
    await db.query(`DROP TABLE IF EXISTS ${t}`);
    await db.end();
  }
});

test('drop() removes the slot and the publication, even while a walsender holds the slot', { skip, timeout: 30_000 }, async () => {
  const db = await admin();
  const id = uniqueId('drop');
  const t = `drop_${slotName(id).slice(7)}`;
  await db.query(`CREATE TABLE ${t} (id int PRIMARY KEY)`);
  const source = makeSource(streamSpec(id, [t], {}, { mode: 'CDC_ONLY' }));
  const other = makeSource(streamSpec(id, [t], {}, { mode: 'CDC_ONLY' }));
  try {
    const ctx = context(id);
    const it = source.stream(null, ctx)[Symbol.asyncIterator]();
    void it.next().catch(() => undefined);
    await streaming(db, id);
    assert.equal((await db.query('SELECT 1 FROM pg_publication WHERE pubname = $1', [publicationName(id)])).rowCount, 1);
    await other.drop(); // another process's source: terminates the walsender first
    assert.equal((await db.query('SELECT 1 FROM pg_replication_slots WHERE slot_name = $1', [slotName(id)])).rowCount, 0);
    assert.equal((await db.query('SELECT 1 FROM pg_publication WHERE pubname = $1', [publicationName(id)])).rowCount, 0);
  } finally {
    await cleanup(source);
    await db.query(`DROP TABLE IF EXISTS ${t}`);
    await db.end();
  }
});

test('test() reports reachability, version, wal_level, slots and privileges, and never throws', { skip, timeout: 30_000 }, async () => {
  const conn = { id: 'c', name: 'c', kind: 'postgresql', url: postgresUrl()!, options: {} };
  const ok = await postgresConnector.test!(conn, logger);
  assert.equal(ok.reachable, true);
  assert.match(ok.version!, /^PostgreSQL 1\d/);
  for (const name of ['wal_level', 'replication_slots', 'replication_privilege']) assert.equal(ok.checks.find((c) => c.name === name)?.ok, true, name);
  const u = new URL(postgresUrl()!);
  const jdbc = await postgresConnector.test!({ ...conn, url: `jdbc:postgresql://${u.host}${u.pathname}?user=${u.username}&password=${u.password}` }, logger);
  assert.equal(jdbc.reachable, true);
  const down = await postgresConnector.test!({ ...conn, url: 'postgresql://x:y@127.0.0.1:1/db' }, logger);
  assert.equal(down.reachable, false);
  assert.ok(down.checks[0]!.suggestion);
});

test('a snapshot meeting a value it cannot decode fails promptly with SOURCE_TYPE_UNSUPPORTED naming the column; it does not hang', { skip, timeout: 60_000 }, async () => {
  const db = await admin();
  const id = uniqueId('badtype');
  const t = `badtype_${slotName(id).slice(7)}`;
  // int2vector is an array type to the catalog (category A) whose text is "1 2", not "{1,2}": the decoder refuses it.
  await db.query(`CREATE TABLE ${t} (id int PRIMARY KEY, a int2vector)`);
  await db.query(`INSERT INTO ${t} SELECT i, NULL FROM generate_series(1, 20) i; UPDATE ${t} SET a = '1 2' WHERE id = 7`);
  const source = makeSource(streamSpec(id, [`public.${t}`], { snapshotChunkSize: 5, snapshotParallelism: 2 }));
  const ctx = context(id);
  let timer: NodeJS.Timeout | undefined;
  try {
    const reading = (async () => {
      for await (const _batch of source.snapshot({ tables: [{ schema: 'public', table: t }], resumeFrom: null }, ctx));
      return 'ended without an error';
    })();
    const outcome = await Promise.race([
      reading.catch((err: unknown) => err),
      new Promise((resolve) => (timer = setTimeout(() => resolve('no outcome within 15 s: the snapshot hangs'), 15_000))),
    ]);
    assert.ok(isSluiceError(outcome), String(outcome));
    assert.equal(outcome.code, 'SOURCE_TYPE_UNSUPPORTED', outcome.message);
    assert.equal(outcome.detail.column, 'a');
  } finally {
    clearTimeout(timer);
    ctx.abort();
    await cleanup(source);
    await db.query(`DROP TABLE IF EXISTS ${t}`);
    await db.end();
  }
});
