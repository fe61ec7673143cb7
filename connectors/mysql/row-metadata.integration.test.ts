/**
 * binlog_row_metadata=FULL (MySQL 8.0+, MariaDB 10.5+): table maps carry their column names,
 * and @vlasky/zongji decodes rows with them without asking for the columns (no
 * _fetchTableInfo). The reader checks those table maps itself (binlog.ts #selfDescribed).
 * The setting is global: it is switched on for this file's test only, and back after.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import pino from 'pino';
import type { Position } from '../../src/core';
import { MysqlSource } from './source';
import { admin, mysqlUrl, Puller, skipReason, streamSpec, tableName, uniqueId } from './test-support';

const skip = skipReason();

test('binlog_row_metadata=FULL: self-described table maps decode as the default does (ENUM quoting, BIGINT UNSIGNED); a RENAME COLUMN while streaming is followed, a replay from before it decodes with the names of its time', { skip, timeout: 60_000 }, async () => {
  const db = await admin();
  const [{ v: before }] = await db.query<{ v: string }>('SELECT @@GLOBAL.binlog_row_metadata AS v');
  const t = tableName('rowmeta');
  const id = uniqueId('rowmeta');
  const spec = streamSpec(id, [t], { heartbeatIntervalMs: 100_000 }, { mode: 'CDC_ONLY' });
  const lines: Array<{ msg: string; table?: string }> = [];
  const logger = pino({ level: 'debug' }, new Writable({ write: (chunk: Buffer, _enc, done) => (lines.push(JSON.parse(chunk.toString()) as { msg: string }), done()) }));
  const source = (): MysqlSource => new MysqlSource({ connection: { id: 'my', name: 'my', kind: 'mysql', url: mysqlUrl()!, options: {} }, stream: spec, logger });
  const context = () => {
    const ac = new AbortController();
    return { streamId: id, runId: 'r1', logger, signal: ac.signal, abort: () => ac.abort() };
  };
  await db.query("SET GLOBAL binlog_row_metadata = 'FULL'");
  let start: Position | null = null;
  try {
    await db.query(`CREATE TABLE ${t} (id bigint unsigned PRIMARY KEY, v varchar(20), e enum('a','it''s','b,c'))`);
    const s = source();
    const ctx = context();
    try {
      const cdc = new Puller(s.stream(null, ctx));
      start = (await cdc.next()).position;
      await db.query(`INSERT INTO ${t} VALUES (7, 'seven', 'it''s'), (8, 'eight', 'b,c')`);
      assert.deepEqual((await cdc.events(2)).events.map((e) => e.after), [{ id: 7n, v: 'seven', e: "it's" }, { id: 8n, v: 'eight', e: 'b,c' }]);
      assert.ok(lines.some((l) => l.msg.startsWith('table map carries its column names')), 'the self-described path was taken');
      await db.query(`ALTER TABLE ${t} RENAME COLUMN v TO w`);
      await db.query(`INSERT INTO ${t} VALUES (9, 'nine', 'a')`);
      assert.deepEqual((await cdc.events(1)).events[0]!.after, { id: 9n, w: 'nine', e: 'a' });
    } finally {
      ctx.abort();
      await s.close();
    }
    // Rows 7 and 8 were written as (id, v, e); the table is (id, w, e) now.
    const replay = source();
    const c = context();
    try {
      const cdc = new Puller(replay.stream(start, c));
      await cdc.next();
      // The table map's own names agree with the schema history's, not with today's table.
      assert.deepEqual((await cdc.events(3)).events.map((e) => e.after), [{ id: 7n, v: 'seven', e: "it's" }, { id: 8n, v: 'eight', e: 'b,c' }, { id: 9n, w: 'nine', e: 'a' }]);
    } finally {
      c.abort();
      await replay.close();
    }
  } finally {
    await db.query(`SET GLOBAL binlog_row_metadata = '${before}'`);
    await db.query(`DROP TABLE IF EXISTS ${t}`);
    await db.end();
  }
});
