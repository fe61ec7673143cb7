import { test } from 'node:test';
import assert from 'node:assert/strict';
import { SluiceError } from '../errors';
import { needsTableList, resolveTables } from './tables';

const available = ['public.orders', 'public.order_items', 'public.order_log', 'public.customers', 'audit.orders', 'audit.order_items'].map((n) => {
  const [schema, table] = n.split('.') as [string, string];
  return { schema, table };
});

test('patterns expand to matching tables, in order, minus excludeTables; bare names use the default schema', () => {
  assert.deepEqual(resolveTables(['public.order*'], undefined, available, 'public'), ['public.order_items', 'public.order_log', 'public.orders']);
  assert.deepEqual(resolveTables(['order*', 'customers'], ['*_log'], available, 'public'), ['public.order_items', 'public.orders', 'public.customers']);
  assert.deepEqual(resolveTables(['*.order_items', 'public.order_items'], undefined, available, 'public'), ['audit.order_items', 'public.order_items']);
  assert.deepEqual(resolveTables(['*.*'], ['audit.*', 'public.order?items'], available, 'public'), ['public.customers', 'public.order_log', 'public.orders']);
  assert.throws(() => resolveTables(['public.orders'], ['orders'], available, 'public'), /removes every table/);
});

test('a pattern matching nothing, or excludes removing everything, are errors', () => {
  assert.throws(() => resolveTables(['public.ordres*'], undefined, available, 'public'), (e: unknown) => e instanceof SluiceError && e.code === 'SOURCE_TABLE_NOT_FOUND' && e.detail.pattern === 'public.ordres*');
  assert.throws(() => resolveTables(['public.order*'], ['public.*'], available, 'public'), /removes every table/);
});

test('plain names without excludes need no table list', () => {
  assert.equal(needsTableList(['public.orders'], undefined), false);
  assert.equal(needsTableList(['public.orders'], []), false);
  assert.equal(needsTableList(['public.order_*'], undefined), true);
  assert.equal(needsTableList(['public.orders'], ['x']), true);
});
