import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { ChangeEvent, Op, Row, TableSchema } from '../core';
import { SluiceError } from '../errors';
import { RowFilter, rowLimitOf, validateFilters } from './filters';

const schema: TableSchema = {
  columns: [
    { name: 'id', type: 'int32', sourceType: 'int4', optional: false },
    { name: 'status', type: 'string', sourceType: 'text', optional: true },
    { name: 'qty', type: 'int32', sourceType: 'int4', optional: true },
  ],
  key: ['id'],
};
const stream = { relationalTableFilters: { public: { orders: { whereClause: "status = 'open' AND qty > 0", rowCount: 5 } } } };

function ev(op: Op, after: Row | null, before: Row | null = null, table = 'orders'): ChangeEvent {
  const key = { id: (after ?? before)!.id };
  return { table: { schema: 'public', table }, op, key, before, after, schema, source: { connector: 't', name: 't', db: 'd', schema: 'public', table, ts_ms: 0, snapshot: false }, ts_ms: 0 };
}

const f = new RowFilter(stream, 'postgresql');
const open = { id: 1, status: 'open', qty: 2 };
const closed = { id: 1, status: 'closed', qty: 2 };

test('inserts pass only when the row passes the clause', () => {
  assert.ok(f.event(ev('c', open)));
  assert.equal(f.event(ev('c', closed)), null);
  assert.equal(f.event(ev('c', { id: 1, status: 'open', qty: null })), null, 'NULL is not TRUE');
});

test('an UPDATE that moves a row out of the filter becomes a DELETE of its document; one that moves it in is kept (upsert)', () => {
  const out = f.event(ev('u', closed, open))!;
  assert.equal(out.op, 'd');
  assert.equal(out.after, null);
  assert.deepEqual(out.key, { id: 1 });
  // Old image unknown (PostgreSQL without REPLICA IDENTITY FULL): delete, a no-op if the document was never there.
  assert.equal(f.event(ev('u', closed, null))!.op, 'd');
  assert.equal(f.event(ev('u', closed, { id: 1 }))!.op, 'd');
  // Known to have been out and still out: nothing to write.
  assert.equal(f.event(ev('u', { ...closed, qty: 3 }, closed)), null);
  const moveIn = f.event(ev('u', open, closed))!;
  assert.equal(moveIn.op, 'u');
  assert.deepEqual(moveIn.after, open);
});

test('a key change that moves a row out deletes the document under the old key', () => {
  const out = f.event(ev('u', { id: 2, status: 'closed', qty: 1 }, { id: 1, status: 'open', qty: 1 }))!;
  assert.equal(out.op, 'd');
  assert.deepEqual(out.key, { id: 1 });
});

test('an unsent (unchanged TOASTed) column takes its value from the old image', () => {
  assert.equal(f.event(ev('u', { id: 1, status: undefined, qty: 2 }, open))!.op, 'u');
  assert.equal(f.event(ev('u', { id: 1, status: undefined, qty: 2 }, closed)), null);
});

test('deletes of rows known to be outside the filter are dropped; snapshot reads and unfiltered tables pass untouched', () => {
  assert.equal(f.event(ev('d', null, closed)), null);
  assert.equal(f.event(ev('d', null, open))!.op, 'd');
  assert.equal(f.event(ev('d', null, { id: 1 }))!.op, 'd');
  const r = ev('r', closed);
  assert.equal(f.event(r), r);
  const other = ev('c', closed, null, 'customers');
  assert.equal(f.event(other), other);
});

test("snapshot reads no SELECT of ours filtered (Debezium's, from its topics) are tested like inserts", () => {
  const reads = new RowFilter(stream, 'postgresql', Date.now, true);
  const r = ev('r', open);
  assert.equal(reads.event(r), r);
  assert.equal(reads.event(ev('r', closed)), null);
  assert.equal(reads.event(ev('u', closed, null))!.op, 'd', 'changes as before');
});

test('apply() keeps the batch position and counts what it dropped per table', () => {
  const batch = { events: [ev('c', open), ev('c', closed), ev('c', closed, null, 'customers'), ev('u', closed, open)], position: { lsn: '0/1' } };
  const { batch: out, filtered } = f.apply(batch);
  assert.deepEqual(out.events.map((e) => e.op), ['c', 'c', 'd']);
  assert.deepEqual(out.position, { lsn: '0/1' });
  assert.deepEqual(filtered, [{ table: { schema: 'public', table: 'orders' }, n: 1 }]);
  const none = { events: [ev('c', open)], position: null };
  assert.equal(f.apply(none).batch, none, 'an untouched batch is passed as is');
});

test('NOW() in a clause is read when the event is tested', () => {
  let now = Date.UTC(2026, 0, 2);
  const g = new RowFilter({ relationalTableFilters: { public: { orders: { whereClause: "due > NOW() - INTERVAL '1 day'" } } } }, 'postgresql', () => now);
  const row = { ...ev('c', { id: 1, due: new Date(Date.UTC(2026, 0, 1, 12)) }), schema: undefined };
  assert.equal(g.apply({ events: [row], position: null }).batch.events.length, 1);
  now = Date.UTC(2026, 0, 3);
  assert.equal(g.apply({ events: [row], position: null }).batch.events.length, 0);
});

test('validateFilters names the table and the offending part; rowCount and dialects are read from the spec', () => {
  assert.throws(
    () => validateFilters({ relationalTableFilters: { app: { orders: { whereClause: 'id IN (SELECT id FROM secrets)' } } } }, 'mysql'),
    (err: unknown) => {
      assert.ok(err instanceof SluiceError);
      assert.equal(err.code, 'FILTER_CLAUSE_INVALID');
      assert.equal(err.detail.schema, 'app');
      assert.equal(err.detail.table, 'orders');
      assert.equal(err.detail.field, 'relationalTableFilters.app.orders.whereClause');
      assert.match(err.message, /subqueries/);
      return true;
    },
  );
  assert.doesNotThrow(() => validateFilters({ relationalTableFilters: { app: { orders: { whereClause: 'DATEDIFF(CURDATE(), last_modified) <= 1' } } } }, 'mysql'));
  assert.throws(() => validateFilters({ relationalTableFilters: { public: { orders: { whereClause: 'DATEDIFF(CURRENT_DATE, last_modified) <= 1' } } } }, 'postgresql'), /DATEDIFF/);
  assert.equal(rowLimitOf(stream, { schema: 'public', table: 'orders' }), 5);
  assert.equal(rowLimitOf(stream, { schema: 'public', table: 'other' }), undefined);
});
