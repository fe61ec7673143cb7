import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { ChangeEvent, Op, Row, TableSchema } from '../core';
import { SluiceError } from '../errors';
import { ColumnFilter } from './columns';
import { streamTransform } from './index';

const schema: TableSchema = {
  columns: ['id', 'email', 'ssn', 'qty'].map((name) => ({ name, type: name === 'email' || name === 'ssn' ? ('string' as const) : ('int32' as const), sourceType: 'x', optional: name !== 'id' })),
  key: ['id'],
};

function ev(op: Op, after: Row | null, before: Row | null = null): ChangeEvent {
  return { table: { schema: 'app', table: 'users' }, op, key: { id: (after ?? before)!.id }, before, after, schema, source: { connector: 't', name: 't', db: 'd', schema: 'app', table: 'users', ts_ms: 0, snapshot: false }, ts_ms: 0 };
}
const row = { id: 1, email: 'a@b', ssn: '123', qty: 2 };

test('excluded columns are gone from both images and from the schema; the schema stays one object per table version', () => {
  const f = new ColumnFilter({ relationalTableFilters: { app: { users: { excludeColumns: ['ssn'] } } } });
  const a = f.event(ev('u', row, row));
  assert.deepEqual(a.after, { id: 1, email: 'a@b', qty: 2 });
  assert.deepEqual(a.before, { id: 1, email: 'a@b', qty: 2 });
  assert.deepEqual(a.schema!.columns.map((c) => c.name), ['id', 'email', 'qty']);
  assert.equal(f.event(ev('c', row)).schema, a.schema);
  assert.equal(f.event(ev('d', null, { id: 1 })).after, null);
});

test('includeColumns keeps those and the key', () => {
  const f = new ColumnFilter({ relationalTableFilters: { app: { users: { includeColumns: ['qty'] } } } });
  assert.deepEqual(f.event(ev('r', row)).after, { id: 1, qty: 2 });
});

test('a key column cannot be excluded; an unknown column is named', () => {
  const key = new ColumnFilter({ relationalTableFilters: { app: { users: { excludeColumns: ['id'] } } } });
  assert.throws(() => key.event(ev('c', row)), (e: unknown) => e instanceof SluiceError && e.code === 'FILTER_COLUMNS_INVALID' && e.detail.column === 'id');
  const unknown = new ColumnFilter({ relationalTableFilters: { app: { users: { includeColumns: ['nope'] } } } });
  assert.throws(() => unknown.event(ev('c', row)), (e: unknown) => e instanceof SluiceError && e.code === 'FILTER_COLUMN_UNKNOWN' && e.detail.column === 'nope');
});

test('the row filter reads a column the column filter then drops', () => {
  const t = streamTransform({ relationalTableFilters: { app: { users: { whereClause: "ssn LIKE '1%'", excludeColumns: ['ssn'] } } } }, 'postgresql');
  const { batch, filtered } = t({ events: [ev('c', row), ev('c', { ...row, id: 2, ssn: '999' })], position: null });
  assert.deepEqual(batch.events.map((e) => e.after), [{ id: 1, email: 'a@b', qty: 2 }]);
  assert.equal(filtered[0]!.n, 1);
  const none = { events: [ev('c', row)], position: null };
  assert.equal(streamTransform({}, 'postgresql')(none).batch, none);
});
