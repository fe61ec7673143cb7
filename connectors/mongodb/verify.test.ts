import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Binary, Long, ObjectId } from 'mongodb';
import { canonical, childParentKey, differingFields, embeddedFieldsOf, expectedChild, expectedDocument, heldCount, verifyMapping } from './verify';
import { Decimal, type TableSchema } from '../../src/core';
import { childReader, matchClause, skipReason, type PreparedTable } from '../../src/runtime/verify';
import { FieldConversionError } from '../../src/transform/mapping';
import { compileWhere } from '../../src/transform/where';

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

test('skipReason: only an unresolved mapping reference is skipped; tables with rules and embedding are compared', () => {
  assert.equal(skipReason({}, 'public.a'), null);
  const mapping = {
    tables: {
      'public.orders': { collection: 'orders', fields: { a: { name: 'b' } } },
      'public.items': { newDocuments: false, embed: { into: 'public.orders', kind: 'array', foreignKey: ['order_id'] } },
    },
  };
  assert.equal(skipReason({ mapping }, 'public.items'), null);
  assert.equal(skipReason({ mapping }, 'public.orders'), null);
  assert.match(skipReason({ mapping: { mappingId: 'm1' } }, 'public.a')!, /mapping resource m1 was not resolved/);
});

const orders = { schema: 'public', table: 'orders' };
const items = { schema: 'public', table: 'items' };
const ordersSchema: TableSchema = {
  columns: [
    { name: 'id', type: 'int64', sourceType: 'bigint', optional: false },
    { name: 'code', type: 'string', sourceType: 'text', optional: false },
    { name: 'note', type: 'string', sourceType: 'text', optional: true },
    { name: 'secret', type: 'string', sourceType: 'text', optional: true },
  ],
  key: ['id'],
};
const itemsSchema: TableSchema = {
  columns: [
    { name: 'id', type: 'int64', sourceType: 'bigint', optional: false },
    { name: 'order_id', type: 'int64', sourceType: 'bigint', optional: true },
    { name: 'line_no', type: 'int32', sourceType: 'integer', optional: false },
    { name: 'sku', type: 'string', sourceType: 'text', optional: true },
  ],
  key: ['id'],
};
const hex = 'a'.repeat(24);

test('expectedDocument over mapping rules: rename, exclude, objectId override, nulls omitted, _id from the overridden key, collection name', () => {
  const stream = { mapping: { tables: { 'public.orders': { collection: 'o', nulls: 'omit', fields: { note: { name: 'memo' }, secret: { include: false }, code: { type: 'objectId' } } } } } };
  const e = expectedDocument(stream, orders, ordersSchema, { id: 3n, code: hex, note: null, secret: 's' }, { decimals: 'string' });
  assert.equal(e.collection, 'o');
  assert.equal(e.keyField, '_id');
  assert.equal(canonical(e.id), canonical(Long.fromNumber(3)));
  assert.deepEqual(Object.keys(e.fields).sort(), ['code', 'id']);
  assert.equal(canonical(e.fields.code), canonical(ObjectId.createFromHexString(hex)));
  const kept = expectedDocument(stream, orders, ordersSchema, { id: 3n, code: hex, note: 'n', secret: null }, { decimals: 'string' });
  assert.equal(kept.fields.memo, 'n');
  assert.ok(!('note' in kept.fields) && !('secret' in kept.fields));
  // An override the value cannot take: the sink rejects the row, so expectedDocument throws the same error.
  assert.throws(() => expectedDocument(stream, orders, ordersSchema, { id: 4n, code: 'xyz', note: null, secret: null }, { decimals: 'string' }), FieldConversionError);
});

test('expectedDocument with the objectId _id strategy: matched by keyField, _id not expected', () => {
  const stream = { mapping: { tables: { 'public.orders': { id: { strategy: 'objectId', keyField: 'srcId' } } } } };
  const e = expectedDocument(stream, orders, ordersSchema, { id: 9n, code: 'c', note: null, secret: null }, { decimals: 'string' });
  assert.equal(e.keyField, 'srcId');
  assert.equal(canonical(e.fields.srcId), canonical(Long.fromNumber(9)));
  assert.ok(!('_id' in e.fields));
  // A document with a generated _id and the key in srcId has no differing field.
  assert.deepEqual(differingFields(e.fields, { _id: new ObjectId(), srcId: 9, id: 9, code: 'c', note: null, secret: null }), []);
  const defaults = expectedDocument({ mapping: { tables: { 'public.orders': { id: { strategy: 'objectId' } } } } }, orders, ordersSchema, { id: 9n, code: 'c', note: null, secret: null }, { decimals: 'string' });
  assert.equal(defaults.keyField, '_sourceKey');
});

test('expectedDocument embeds the children it is given: array sorted by the rule, then by key; document; merge with a prefix', () => {
  const embed = (kind: string, extra: Record<string, unknown> = {}) => ({
    mapping: {
      tables: {
        'public.orders': {},
        'public.items': { newDocuments: false, fields: { sku: { name: 'product' } }, embed: { into: 'public.orders', kind, foreignKey: ['order_id'], ...extra } },
      },
    },
  });
  const arr = embed('array', { field: 'lines', sort: [{ field: 'line_no', desc: true }] });
  const spec = verifyMapping(arr);
  const rows = [
    { id: 1n, order_id: 7n, line_no: 1, sku: 'a' },
    { id: 2n, order_id: 7n, line_no: 2, sku: 'b' },
    { id: 3n, order_id: 7n, line_no: 2, sku: 'c' },
  ];
  const kids = rows.map((r) => expectedChild(spec, items, itemsSchema, r, { decimals: 'string' }));
  assert.ok(kids.every((k) => !('rejected' in k)));
  assert.deepEqual(rows.map((r) => childParentKey(spec, orders, items, r, { decimals: 'string' })), ['n7', 'n7', 'n7']);
  assert.equal(childParentKey(spec, orders, items, { ...rows[0], order_id: null }, { decimals: 'string' }), null);
  const parent = { id: 7n, code: 'c', note: null, secret: null };
  const e = expectedDocument(arr, orders, ordersSchema, parent, { decimals: 'string' }, new Map([['public.items', kids as never]]));
  assert.deepEqual((e.fields.lines as { product: string }[]).map((x) => x.product), ['b', 'c', 'a']);
  assert.ok(!('sku' in (e.fields.lines as object[])[0]!));
  // A parent without children holds an empty array (what the sink writes).
  assert.deepEqual(expectedDocument(arr, orders, ordersSchema, parent, { decimals: 'string' }).fields.lines, []);
  const doc = expectedDocument(embed('document'), orders, ordersSchema, parent, { decimals: 'string' }, new Map([['public.items', kids.slice(1) as never]]));
  assert.equal((doc.fields.items as { product: string }).product, 'b');
  assert.equal(expectedDocument(embed('document'), orders, ordersSchema, parent, { decimals: 'string' }).fields.items, null);
  const merged = expectedDocument(embed('merge', { field: 'item_' }), orders, ordersSchema, parent, { decimals: 'string' }, new Map([['public.items', kids.slice(0, 1) as never]]));
  assert.equal(merged.fields.item_product, 'a');
  assert.equal(merged.fields.id !== undefined && merged.fields.item_id !== undefined, true);
  // Which parent fields belong to a child, and how many children a document holds.
  const rule = spec!.tables!['public.items']!.embed!;
  const owns = embeddedFieldsOf(rule, 'public.items', ['id', 'order_id', 'line_no', 'product']);
  assert.deepEqual(['lines', 'items', 'id'].map(owns), [true, false, false]);
  assert.equal(heldCount(rule, e.fields, owns), 3);
  assert.equal(heldCount(rule, { lines: 'x' }, owns), 0);
  const mergeRule = { into: 'public.orders', kind: 'merge' as const, field: 'item_', foreignKey: ['order_id'] };
  const mergeOwns = embeddedFieldsOf(mergeRule, 'public.items', ['id', 'product']);
  assert.deepEqual(['item_id', 'item_product', 'id', 'product'].map(mergeOwns), [true, true, false, false]);
  assert.equal(heldCount(mergeRule, merged.fields, mergeOwns), 1);
  assert.equal(heldCount(mergeRule, parent, mergeOwns), 0);
});

test('expectedChild: a child the sink would reject is reported rejected, not thrown', () => {
  const spec = verifyMapping({ mapping: { tables: { 'public.items': { newDocuments: false, fields: { sku: { type: 'objectId' } }, embed: { into: 'public.orders', kind: 'array', foreignKey: ['order_id'] } } } } });
  const c = expectedChild(spec, items, itemsSchema, { id: 1n, order_id: 1n, line_no: 1, sku: 'nope' }, { decimals: 'string' });
  assert.ok('rejected' in c && /objectId/.test(c.rejected));
});

test('matchClause: the child rows of given parents as a whereClause that compiles, with strings quoted for the dialect', () => {
  assert.equal(matchClause(['order_id'], [[1n], [2], [new Decimal('3')]], 'postgresql'), '"order_id" IN (1, 2, 3)');
  assert.equal(matchClause(['a', 'b'], [[1, "o'k"]], 'postgresql'), `("a" = 1 AND "b" = 'o''k')`);
  assert.equal(matchClause(['a'], [['x\\y']], 'mysql'), "`a` IN ('x\\\\y')");
  assert.equal(matchClause(['a'], [[new Date(0)]], 'postgresql'), undefined, 'no exact literal: the caller reads the child whole');
  assert.equal(matchClause(['a'], [], 'postgresql'), '1 = 0');
  // The where parser reads `\'` as an escape and PostgreSQL does not: such keys are matched in memory.
  assert.equal(matchClause(['a'], [['ends\\']], 'postgresql'), undefined, 'a PostgreSQL string with a backslash: read whole');
  const cols = [
    { name: 'a', type: 'int64' as const, sourceType: 'bigint', optional: false },
    { name: 'b', type: 'string' as const, sourceType: 'text', optional: false },
  ];
  for (const dialect of ['postgresql', 'mysql'] as const) {
    const s = dialect === 'mysql' ? "it's \\ here" : "it's here";
    const w = compileWhere(matchClause(['a', 'b'], [[1, s], [2, 'x']], dialect)!, { dialect, columns: cols });
    assert.equal(w.test({ a: 1, b: s }), true, dialect);
    assert.equal(w.test({ a: 2, b: 'x' }), true, dialect);
    assert.equal(w.test({ a: 2, b: s }), false, dialect);
    const sql = w.sql((i) => `$${i + 1}`);
    assert.ok(!sql.text.includes('here'), `strings are parameters: ${sql.text}`);
  }
});

test('childReader: children of given parents by a whereClause (the child\'s own filter ANDed), or, with a rowCount, read whole once and matched', async () => {
  const cols = [
    { name: 'id', type: 'int64' as const, sourceType: 'bigint', optional: false },
    { name: 'order_id', type: 'int64' as const, sourceType: 'bigint', optional: true },
  ];
  const rows = Array.from({ length: 30 }, (_, i) => ({ id: BigInt(i + 1), order_id: i % 4 === 3 ? null : BigInt((i % 10) + 1) }));
  const calls: string[] = [];
  const table = (rowCount: number | undefined, own?: string): PreparedTable => {
    const pass = (w: string | undefined) => (r: Record<string, unknown>) => (w === undefined ? true : compileWhere(w, { dialect: 'postgresql', columns: cols }).test(r));
    const filtered = rows.filter(pass(own)).slice(0, rowCount);
    return {
      ref: items,
      schema: { columns: cols, key: ['id'] },
      rowCount,
      read: async (offset, limit) => {
        calls.push('read');
        return filtered.slice(offset, offset + limit);
      },
      readWhere: async (extra, offset, limit) => {
        const clause = own === undefined ? extra : `(${own}) AND (${extra})`;
        calls.push(clause);
        return rows.filter(pass(clause)).slice(offset, offset + limit);
      },
    };
  };
  const parents = [{ id: 2n }, { id: 5n }, { id: null }];
  const ids = (rs: Record<string, unknown>[]) => rs.map((r) => Number(r.id)).sort((a, b) => a - b);
  const byClause = childReader(table(undefined, 'id > 10'), ['order_id'], ['id'], 'postgresql');
  assert.deepEqual(ids(await byClause(parents)), [15, 22, 25]);
  assert.deepEqual(calls, ['(id > 10) AND ("order_id" IN (2, 5))']);
  calls.length = 0;
  assert.deepEqual(await byClause([]), [], 'no parents: no query');
  assert.deepEqual(calls, []);
  const whole = childReader(table(12), ['order_id'], ['id'], 'postgresql');
  assert.deepEqual(ids(await whole(parents)), [2, 5]);
  assert.deepEqual(ids(await whole([{ id: 1n }])), [1, 11]);
  assert.deepEqual(calls, ['read'], 'read whole once, honouring rowCount');
  // A long IN list compiles (one query per 1000 parents on a one-column key).
  const many = Array.from({ length: 1000 }, (_, i) => [BigInt(i)]);
  assert.equal(compileWhere(matchClause(['order_id'], many, 'postgresql')!, { dialect: 'postgresql', columns: cols }).test({ id: 1n, order_id: 999n }), true);
});
