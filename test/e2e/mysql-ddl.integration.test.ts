/**
 * MariaDB DDL while a stream is not reading (issue 16): paused, or the daemon SIGKILLed
 * and started again after the migration. ADD COLUMN, DROP COLUMN and MODIFY (int to
 * bigint) run with rows written before, between and after them; on resume every row
 * event is decoded with the table's shape as of its binlog position (the schema history
 * kept with the stream's position), so MongoDB ends equal to MariaDB row by row, and each
 * document has the fields its row had when it was last written. On both transports.
 * Then: a table dropped or renamed under CDC stops with SOURCE_TABLE_GONE, after every
 * change before it arrived.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { cdcRunning, start, withStream, type OrdersDb } from '../helpers/pipeline';
import { normaliseRow, type Normalised } from '../helpers/compare';
import { convergedOver, streamFailure } from '../helpers/ddl';
import { myClient } from '../helpers/mysql-pipeline';
import { waitFor } from '../helpers/wait-for';

/** The columns after the DDL. */
const COLUMNS = ['id', 'n', 'extra', 'amount', 'at'];

async function sourceRows(table: string): Promise<Map<string, Normalised>> {
  const c = await myClient();
  try {
    const rows = await c.query<Record<string, string | null>>(`SELECT id, n, extra, amount, DATE_FORMAT(at, '%Y-%m-%dT%H:%i:%s.%fZ') AS at FROM ${table}`);
    return new Map(rows.map((r) => [String(r.id), normaliseRow({ ...r, at: r.at?.replace(/(\.\d{3})\d{3}Z$/, '$1Z') }, COLUMNS)]));
  } finally {
    await c.end();
  }
}

/** The migration, with rows written before, between and after its statements. */
async function migrate(src: OrdersDb, table: string): Promise<void> {
  await src.exec(`INSERT INTO ${table} VALUES (101, 1, 'before add', 1.01, UTC_TIMESTAMP(3))`);
  await src.exec(`UPDATE ${table} SET note = 'updated before add' WHERE id = 1`);
  // In the middle, so that decoding with today's columns would shift values.
  await src.exec(`ALTER TABLE ${table} ADD COLUMN extra varchar(20) AFTER n`);
  await src.exec(`INSERT INTO ${table} VALUES (102, 2, 'x102', 'between', 1.02, UTC_TIMESTAMP(3))`);
  await src.exec(`UPDATE ${table} SET extra = 'set', note = 'updated between' WHERE id = 2`);
  await src.exec(`ALTER TABLE ${table} DROP COLUMN note`);
  await src.exec(`INSERT INTO ${table} VALUES (103, 3, 'x103', 1.03, UTC_TIMESTAMP(3))`);
  await src.exec(`ALTER TABLE ${table} MODIFY n bigint NOT NULL`);
  await src.exec(`INSERT INTO ${table} VALUES (104, 1099511627776, 'x104', 1.04, UTC_TIMESTAMP(3))`); // 2^40: not an int
  await src.exec(`UPDATE ${table} SET n = 9007199254740993 WHERE id = 3`); // past 2^53: exact only as int64
  await src.exec(`DELETE FROM ${table} WHERE id = 5`);
}

for (const transport of ['direct', 'kafka'] as const) {
  for (const interruption of ['paused', 'killed'] as const) {
    test(`MariaDB: ADD COLUMN, DROP COLUMN and int to bigint while the stream is ${interruption} decode each row with its own shape on resume (${transport})`, { timeout: 300000 }, async () => {
      await withStream({ source: 'mysql', rows: 5, transport }, async ({ d: first, streamId, table, collection, src, db, restart }) => {
        let d = first;
        await start(d, streamId);
        await cdcRunning(d, streamId);
        await src.exec(`INSERT INTO ${table} VALUES (100, 0, 'cdc before', 1.00, UTC_TIMESTAMP(3))`);
        await waitFor(async () => (await db.collection(collection).findOne({ _id: 100 as never })) !== null, { timeoutMs: 60000, message: 'row 100 through CDC' });
        if (interruption === 'paused') assert.equal((await d.api(`/api/v1/streams/${streamId}/pause`, { method: 'POST' })).status, 202);
        else await d.stop('SIGKILL');
        await migrate(src, table);
        if (interruption === 'paused') assert.equal((await d.api(`/api/v1/streams/${streamId}/resume`, { method: 'POST' })).status, 202);
        else d = await restart('SIGKILL');

        await convergedOver(() => sourceRows(table), db, collection, COLUMNS);
        const doc = async (id: number): Promise<Record<string, unknown>> => (await db.collection(collection).findOne({ _id: id as never })) ?? {};
        const fields = async (id: number): Promise<string> => Object.keys(await doc(id)).filter((k) => k !== '_id').sort().join();
        // Each document has the fields of its row when last written; values in their own fields.
        assert.equal(await fields(101), 'amount,at,id,n,note', 'written before ADD COLUMN');
        assert.equal((await doc(101)).note, 'before add');
        assert.equal((await doc(1)).note, 'updated before add');
        assert.equal(await fields(102), 'amount,at,extra,id,n,note', 'written between ADD and DROP');
        assert.deepEqual([(await doc(102)).extra, (await doc(102)).note], ['x102', 'between']);
        assert.deepEqual([(await doc(2)).extra, (await doc(2)).note], ['set', 'updated between']);
        assert.equal(await fields(103), 'amount,at,extra,id,n', 'written after DROP COLUMN');
        assert.equal(String((await doc(104)).n), '1099511627776');
        assert.equal(String((await doc(3)).n), '9007199254740993');
        const s = (await d.api(`/api/v1/streams/${streamId}`)).body;
        assert.equal(s.status, 'RUNNING', JSON.stringify(s.failureError));
      });
    });
  }
}

for (const how of ['dropped', 'renamed'] as const) {
  test(`MariaDB: a table ${how} under CDC stops the stream with SOURCE_TABLE_GONE naming it, after every change before it arrived`, { timeout: 300000 }, async () => {
    await withStream({ source: 'mysql', rows: 3 }, async ({ d, streamId, table, collection, src, db }) => {
      await start(d, streamId);
      await cdcRunning(d, streamId);
      const renamed = `${table}_old`;
      try {
        await src.exec(`UPDATE ${table} SET note = 'last words' WHERE id = 3`);
        await src.exec(`INSERT INTO ${table} VALUES (4, 4, 'last row', 4.00, UTC_TIMESTAMP(3))`);
        await src.exec(how === 'dropped' ? `DROP TABLE ${table}` : `RENAME TABLE ${table} TO ${renamed}`);
        const e = await streamFailure(d, streamId);
        assert.equal(e.code, 'SOURCE_TABLE_GONE', JSON.stringify(e));
        assert.match(e.message, new RegExp(`${table} was ${how}`));
        assert.equal((await db.collection(collection).findOne({ _id: 3 as never }))?.note, 'last words');
        assert.equal((await db.collection(collection).findOne({ _id: 4 as never }))?.note, 'last row');
      } finally {
        await src.exec(`DROP TABLE IF EXISTS ${renamed}`);
      }
    });
  });
}
