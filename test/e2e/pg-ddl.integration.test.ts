/**
 * PostgreSQL DDL under CDC (issue 16): ADD COLUMN, DROP COLUMN and type changes (int to
 * bigint, varchar(n) to text) reach MongoDB correctly from the next row on, on both
 * transports: pgoutput's Relation message carries the new shape, and every row written
 * after a DDL arrives with its columns and types as the table then has them. Ends with
 * MongoDB equal to PostgreSQL over the table's current columns, row by row.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Client } from 'pg';
import type { Db } from 'mongodb';
import { cdcRunning, start, withStream } from '../helpers/pipeline';
import { normaliseRow, type Difference, type Normalised } from '../helpers/compare';
import { convergedOver, streamFailure } from '../helpers/ddl';
import { waitFor } from '../helpers/wait-for';

/** The columns the table has after the DDL, as text (timestamps in the sink's ISO form). */
const COLUMNS = ['id', 'n', 'amount', 'at', 'extra', 'code'];

async function sourceRows(pg: Client, table: string): Promise<Map<string, Normalised>> {
  const r = await pg.query(
    `SELECT id::text AS id, n::text AS n, amount::text AS amount,
            to_char(at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"') AS at, extra, code FROM ${table}`,
  );
  return new Map(r.rows.map((row: Record<string, unknown>) => [row.id as string, normaliseRow(row, COLUMNS)]));
}

const converged = (pg: Client, table: string, db: Db, collection: string): Promise<Difference> =>
  convergedOver(() => sourceRows(pg, table), db, collection, COLUMNS);

for (const transport of ['direct', 'kafka'] as const) {
  test(`ADD COLUMN, DROP COLUMN, int to bigint and varchar(n) to text under CDC reach MongoDB from the next row on (${transport})`, async () => {
    await withStream({ rows: 5, transport }, async ({ d, streamId, table, collection, pg, db }) => {
      await start(d, streamId);
      await cdcRunning(d, streamId);
      const ins = (id: number, n: string) => pg.query(`INSERT INTO ${table} (id, n, amount, at) VALUES ($1, $2, 1.25, date_trunc('milliseconds', now()))`, [id, n]);
      await ins(100, '1');

      await pg.query(`ALTER TABLE ${table} ADD COLUMN extra text, ADD COLUMN code varchar(5)`);
      await ins(101, '2');
      await pg.query(`UPDATE ${table} SET extra = 'added', code = 'ab' WHERE id IN (1, 101)`);

      await pg.query(`ALTER TABLE ${table} DROP COLUMN note`);
      await ins(102, '3');
      await pg.query(`UPDATE ${table} SET extra = 'after drop' WHERE id = 2`);

      await pg.query(`ALTER TABLE ${table} ALTER COLUMN n TYPE bigint`);
      await ins(103, '1099511627776'); // 2^40: does not fit the old int
      await pg.query(`UPDATE ${table} SET n = 9007199254740993 WHERE id = 3`); // past 2^53: exact only as a 64-bit integer

      await pg.query(`ALTER TABLE ${table} ALTER COLUMN code TYPE text`);
      await pg.query(`UPDATE ${table} SET code = 'longer than five' WHERE id = 4`);
      await pg.query(`DELETE FROM ${table} WHERE id = 5`);

      await converged(pg, table, db, collection);
      const coll = db.collection(collection);
      // Rows written after the drop carry no `note`; the bigint stays exact.
      for (const id of [102, 103]) assert.equal((await coll.findOne({ _id: id as never }))?.note, undefined, `row ${id} has no note`);
      const big = await coll.findOne({ _id: 3 as never });
      assert.equal(String(big?.n), '9007199254740993', JSON.stringify(big));
      const s = (await d.api(`/api/v1/streams/${streamId}`)).body;
      assert.equal(s.status, 'RUNNING', JSON.stringify(s.failureError));
    });
  });
}

test('a table renamed under CDC stops the stream with SOURCE_TABLE_GONE naming both names, at its next change', async () => {
  await withStream({ rows: 3 }, async ({ d, streamId, table, collection, pg, db }) => {
    await start(d, streamId);
    await cdcRunning(d, streamId);
    const renamed = `${table}_renamed`;
    try {
      await pg.query(`UPDATE ${table} SET note = 'before' WHERE id = 1`);
      await waitFor(async () => (await db.collection(collection).findOne({ _id: 1 as never }))?.note === 'before', { timeoutMs: 60000, message: 'the change before the rename' });
      await pg.query(`ALTER TABLE ${table} RENAME TO ${renamed.split('.')[1]}`);
      await pg.query(`UPDATE ${renamed} SET note = 'after' WHERE id = 2`);
      const e = await streamFailure(d, streamId);
      assert.equal(e.code, 'SOURCE_TABLE_GONE', JSON.stringify(e));
      assert.match(e.message, new RegExp(`${table}.*renamed to ${renamed}`));
    } finally {
      await pg.query(`DROP TABLE IF EXISTS ${renamed}`);
    }
  });
});

test('a table dropped under CDC stops the stream with SOURCE_TABLE_GONE at the next heartbeat, after every change before the drop arrived', async () => {
  await withStream({ rows: 3 }, async ({ d, streamId, table, collection, pg, db }) => {
    await start(d, streamId);
    await cdcRunning(d, streamId);
    await pg.query(`UPDATE ${table} SET note = 'last words' WHERE id = 3`);
    await pg.query(`DROP TABLE ${table}`);
    const e = await streamFailure(d, streamId);
    assert.equal(e.code, 'SOURCE_TABLE_GONE', JSON.stringify(e));
    assert.match(e.message, new RegExp(`${table} was dropped`));
    assert.equal((await db.collection(collection).findOne({ _id: 3 as never }))?.note, 'last words');
  });
});
