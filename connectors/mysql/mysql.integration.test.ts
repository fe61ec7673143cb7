import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Decimal, type ChangeEvent } from '../../src/core';
import { mysqlConnector } from '.';
import { admin, context, database, logger, makeSource, mysqlUrl, Puller, skipReason, streamSpec, tableName, uniqueId } from './test-support';

const skip = skipReason();

test('connection test reports binlog settings and privileges; a user without replication privileges is told what to grant', { skip, timeout: 60_000 }, async () => {
  const ok = await mysqlConnector.test!({ id: 'c', name: 'c', kind: 'mysql', url: mysqlUrl()!, options: {} }, logger);
  assert.equal(ok.reachable, true);
  assert.match(ok.version!, /^MariaDB 10\./);
  const byName = Object.fromEntries(ok.checks.map((c) => [c.name, c]));
  for (const name of ['reachable', 'log_bin', 'binlog_format', 'binlog_row_image', 'server_id', 'privileges']) {
    assert.equal(byName[name]?.ok, true, `${name}: ${byName[name]?.message}`);
  }
  assert.equal(byName.binlog_format!.message, 'binlog_format is ROW');

  const db = await admin();
  const user = `lim_${process.pid}`;
  try {
    await db.query(`CREATE USER '${user}'@'%' IDENTIFIED BY 'pw'`);
    await db.query(`GRANT SELECT ON ${database()}.* TO '${user}'@'%'`);
    const url = new URL(mysqlUrl()!);
    url.username = user;
    url.password = 'pw';
    const limited = await mysqlConnector.test!({ id: 'c', name: 'c', kind: 'mysql', url: url.toString(), options: {} }, logger);
    const priv = limited.checks.find((c) => c.name === 'privileges')!;
    assert.equal(priv.ok, false);
    assert.deepEqual(priv.detail!.missing, ['REPLICATION SLAVE', 'REPLICATION CLIENT']);
    assert.match(priv.suggestion!, /GRANT REPLICATION SLAVE, REPLICATION CLIENT ON \*\.\*/);
  } finally {
    await db.query(`DROP USER IF EXISTS '${user}'@'%'`);
    await db.end();
  }
  const down = await mysqlConnector.test!({ id: 'c', name: 'c', kind: 'mysql', url: 'mysql://u:p@127.0.0.1:1/db', options: {} }, logger);
  assert.equal(down.reachable, false);
  assert.match(down.checks[0]!.suggestion!, /host, port/);
});

const COLUMNS = `
  id int PRIMARY KEY,
  b tinyint(1), ti tinyint, tiu tinyint unsigned, si smallint, siu smallint unsigned, mi mediumint, i int, iu int unsigned,
  bi bigint, biu bigint unsigned, f float, d double, dec1 decimal(20,6), dec2 decimal(65,30), dec0 decimal(10,0),
  vc varchar(100), ch char(5), tx text, lt longtext, emoji varchar(20),
  bin binary(4), vb varbinary(10), bl blob,
  dt date, dtm datetime, dtm6 datetime(6), ts timestamp(3) NULL DEFAULT NULL, tm time, tm6 time(6), yr year,
  en enum('small','it''s','large'), st set('a','b','c'), js json, bt1 bit(1), bt bit(12)`;

const ROW = `
  1, 4, -128, 255, -32768, 65535, -8388608, -2147483648, 4294967295,
  -9223372036854775808, 18446744073709551615, 1.5, 3.141592653589793, 12345678901234.123456,
  '-12345678901234567890123456789012345.123456789012345678901234567890', 42,
  'héllo wörld', 'ab', 'a text', REPEAT('x', 300), 'smile 😀 🎉',
  X'0102', X'00ff00', X'deadbeef',
  '2024-02-29', '1999-12-31 23:59:59', '2024-01-02 03:04:05.123456', '2038-01-19 03:14:07.999', '-838:59:59', '12:34:56.789012', 2155,
  'it''s', 'a,c', '{"k": [1, 2.5, "s", null, true], "n": {"x": 1}}', b'1', b'101010101010'`;

/** The row's values; BIGINT UNSIGNED as a bigint (bigintUnsignedHandling long) or a Decimal (precise). */
function expected(id: number, handling: 'long' | 'precise' = 'long'): Record<string, unknown> {
  return {
    id, b: true, ti: -128, tiu: 255, si: -32768, siu: 65535, mi: -8388608, i: -2147483648, iu: 4294967295n,
    bi: -9223372036854775808n, biu: handling === 'long' ? 18446744073709551615n : new Decimal('18446744073709551615'), f: 1.5, d: 3.141592653589793,
    dec1: new Decimal('12345678901234.123456'), dec2: new Decimal('-12345678901234567890123456789012345.123456789012345678901234567890'), dec0: new Decimal('42'),
    vc: 'héllo wörld', ch: 'ab', tx: 'a text', lt: 'x'.repeat(300), emoji: 'smile 😀 🎉',
    bin: Buffer.from([1, 2, 0, 0]), vb: Buffer.from([0, 0xff, 0]), bl: Buffer.from('deadbeef', 'hex'),
    dt: new Date('2024-02-29T00:00:00Z'), dtm: new Date('1999-12-31T23:59:59Z'), dtm6: new Date('2024-01-02T03:04:05.123Z'),
    ts: new Date('2038-01-19T03:14:07.999Z'), tm: '-838:59:59', tm6: '12:34:56.789012', yr: 2155,
    en: "it's", st: 'a,c', js: { k: [1, 2.5, 's', null, true], n: { x: 1 } }, bt1: true, bt: Buffer.from([0x0a, 0xaa]),
  };
}

const NULLS = (id: number): string => `(${id}${', NULL'.repeat(35)})`;

for (const handling of ['long', 'precise'] as const) {
  test(`every type makes the same exact round trip through the snapshot and the binlog (DECIMAL, BIGINT UNSIGNED ${handling}, emoji, bytes, dates, JSON, BIT, NULL)`, { skip, timeout: 60_000 }, async () => {
    const db = await admin();
    const t = tableName('types');
    const id = uniqueId('types');
    await db.query(`CREATE TABLE ${t} (${COLUMNS}) DEFAULT CHARSET utf8mb4`);
    await db.query(`INSERT INTO ${t} VALUES (${ROW})`);
    await db.query(`INSERT INTO ${t} VALUES ${NULLS(2)}`);
    const source = makeSource(streamSpec(id, [t], { heartbeatIntervalMs: 100_000, bigintUnsignedHandling: handling }));
    const ctx = context(id);
    try {
      const snap: ChangeEvent[] = [];
      let last = null;
      for await (const b of source.snapshot({ tables: [{ schema: database(), table: t }], resumeFrom: null }, ctx)) {
        snap.push(...b.events);
        last = b.position ?? last;
      }
      assert.equal(snap.length, 2);
      assert.deepEqual(snap[0]!.after, expected(1, handling), 'snapshot values');
      assert.ok(Object.entries(snap[1]!.after!).every(([k, v]) => k === 'id' || v === null), 'NULLs stay null');
      const schema = Object.fromEntries(snap[0]!.schema!.columns.map((c) => [c.name, c.type]));
      assert.deepEqual([schema.b, schema.biu, schema.dec1, schema.ts, schema.dtm, schema.js, schema.en, schema.bt1, schema.bt], [
        'boolean', handling === 'long' ? 'int64' : 'decimal', 'decimal', 'timestamptz', 'timestamp', 'json', 'enum', 'boolean', 'bytes',
      ]);

      const cdc = new Puller(source.stream(last, ctx));
      await db.query(`INSERT INTO ${t} VALUES (${ROW.replace(/^\s*1,/, '3,')})`);
      await db.query(`INSERT INTO ${t} VALUES ${NULLS(4)}`);
      await db.query(`UPDATE ${t} SET vc = NULL, dec1 = -0.000001 WHERE id = 3`);
      await db.query(`DELETE FROM ${t} WHERE id = 4`);
      const { events } = await cdc.events(4);
      assert.deepEqual(events.map((e) => [e.op, e.key.id]), [['c', 3], ['c', 4], ['u', 3], ['d', 4]]);
      assert.deepEqual(events[0]!.after, expected(3, handling), 'binlog values equal the snapshot values');
      assert.ok(Object.entries(events[1]!.after!).every(([k, v]) => k === 'id' || v === null));
      assert.deepEqual(events[2]!.before, expected(3, handling));
      assert.deepEqual(events[2]!.after, { ...expected(3, handling), vc: null, dec1: new Decimal('-0.000001') });
      assert.equal(events[3]!.before!.id, 4);
      assert.equal(events[0]!.source.connector, 'mysql');
      assert.equal(typeof events[0]!.source.file, 'string');
    } finally {
      ctx.abort();
      await source.close();
      await db.query(`DROP TABLE IF EXISTS ${t}`);
      await db.end();
    }
  });
}
