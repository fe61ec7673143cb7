import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Binary, Long } from 'mongodb';
import { canonical, differingFields, expectedDocument } from './verify';
import { Decimal, type TableSchema } from '../../src/runtime/values';
import { skipReason } from '../../src/runtime/verify';

const schema: TableSchema = {
  columns: [
    { name: 'a', type: 'int64', sourceType: 'bigint', optional: false },
    { name: 'b', type: 'string', sourceType: 'text', optional: false },
    { name: 'amount', type: 'decimal', sourceType: 'numeric', optional: true },
  ],
  key: ['a', 'b'],
};

test('expectedDocument: the collection, _id and fields the sink writes (composite key in key order, decimals by mode)', () => {
  const row = { b: 'x', a: 5n, amount: new Decimal('1.50') };
  const e = expectedDocument({ mapping: { tables: { 'public.t': { collection: 'things' } } } }, { schema: 'public', table: 't' }, schema, row, { decimals: 'string' });
  assert.equal(e.collection, 'things');
  assert.deepEqual(Object.keys(e.id as object), ['a', 'b']);
  assert.equal(canonical(e.id), canonical({ a: Long.fromNumber(5), b: 'x' }));
  assert.deepEqual(e.fields, { b: 'x', a: Long.fromBigInt(5n), amount: '1.50' });
  const d128 = expectedDocument({}, { schema: 'public', table: 't' }, schema, row, { decimals: 'decimal128' });
  assert.equal(d128.collection, 't');
  assert.notEqual(canonical(d128.fields.amount), canonical('1.50'));
});

test('canonical values and differing fields: what the driver reads back equals what was written; types and missing fields differ', () => {
  assert.equal(canonical(Long.fromNumber(7)), canonical(7));
  assert.equal(canonical(new Date(5)), canonical(new Date(5)));
  assert.notEqual(canonical('7'), canonical(7));
  assert.notEqual(canonical(new Binary(Buffer.from([1]))), canonical(new Binary(Buffer.from([2]))));
  assert.deepEqual(differingFields({ _id: 1, a: 1, b: 'x', c: null }, { _id: 2, a: 1, b: 'y', d: 1, c: null }), ['b', 'd']);
  assert.deepEqual(differingFields({ a: { x: [1, 2] } }, { a: { x: [1, 2] } }), []);
  assert.deepEqual(differingFields({ a: null }, {}), ['a']);
});

test('skipReason: tables whose mapping changes documents are skipped with the reason; plain collection names are compared', () => {
  assert.equal(skipReason({}, 'public.a'), null);
  assert.equal(skipReason({ mapping: { tables: { 'public.a': { collection: 'x' } } } }, 'public.a'), null);
  const mapping = {
    tables: {
      'public.orders': { collection: 'orders' },
      'public.items': { newDocuments: false, embed: { into: 'public.orders', kind: 'array', foreignKey: ['order_id'] } },
      'public.notes': { embed: { into: 'public.x', kind: 'document', foreignKey: ['id'] } },
      'public.renamed': { fields: { a: { name: 'b' } } },
    },
  };
  assert.match(skipReason({ mapping }, 'public.items')!, /embeds this table into public\.orders only/);
  assert.match(skipReason({ mapping }, 'public.orders')!, /embeds public\.items into this table/);
  assert.match(skipReason({ mapping }, 'public.notes')!, /also embeds this table into public\.x/);
  assert.match(skipReason({ mapping }, 'public.renamed')!, /fields rules/);
  assert.match(skipReason({ mapping: { mappingId: 'm1' } }, 'public.a')!, /mapping resource m1/);
});
