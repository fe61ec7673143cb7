import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Binary, Decimal128, Double, Int32, Long, ObjectId, UUID } from 'mongodb';
import { Decimal, InvalidJson, type TableSchema, type MapOptions } from '../../core';
import { SluiceError } from '../../errors';
import {
  buildEmbedded,
  compareValues,
  convertType,
  documentFor,
  documentKey,
  FieldConversionError,
  keyString,
  mapRow,
  parentKeyOf,
  previewDocuments,
  validateMapping,
  validateStreamMapping,
  validateTableColumns,
  type EmbedRule,
  type MappingSpec,
  type TableMapping,
} from './index';

// The identity stands in for the sink's conversion: only type overrides change values here.
const opts: MapOptions = { decimals: 'decimal128', convert: (v) => v };
const stringDecimals: MapOptions = { decimals: 'string', convert: (v) => v };

const invalid = (fn: () => unknown, field: RegExp, table?: string) =>
  assert.throws(fn, (e: unknown) => {
    assert.ok(e instanceof SluiceError, String(e));
    assert.equal(e.code, 'MAPPING_INVALID');
    assert.match(String(e.detail.field), field);
    if (table !== undefined) assert.equal(e.detail.table, table);
    return true;
  });

test('field rules: rename, exclude, type override; other columns pass through the sink conversion', () => {
  const tm: TableMapping = { fields: { customer_id: { name: 'customerId' }, secret: { include: false }, amount: { type: 'double' } } };
  const seen: string[] = [];
  const { doc } = mapRow({ id: 1, customer_id: 7, secret: 'x', amount: new Decimal('1.50'), note: 'n' }, tm, { ...opts, convert: (v, f) => (seen.push(f), v) });
  assert.deepEqual(Object.keys(doc), ['id', 'customerId', 'amount', 'note']);
  assert.equal(doc.customerId, 7);
  assert.ok(doc.amount instanceof Double && doc.amount.value === 1.5);
  assert.deepEqual(seen, ['id', 'customer_id', 'note'], 'overridden and excluded columns skip the default conversion');
});

test('nulls are kept by default, left out with nulls: omit (and reported for a partial update to unset); undefined columns are reported, never written', () => {
  assert.deepEqual(mapRow({ a: null, b: 1 }, undefined, opts).doc, { a: null, b: 1 });
  const omitted = mapRow({ a: null, b: 1, c: undefined }, { nulls: 'omit', fields: { a: { name: 'A' } } }, opts);
  assert.deepEqual(omitted.doc, { b: 1 });
  assert.deepEqual(omitted.omittedNulls, ['A']);
  assert.deepEqual(omitted.undefinedFields, ['c']);
  // A null never reaches a type override.
  assert.deepEqual(mapRow({ o: null }, { fields: { o: { type: 'objectId' } } }, opts).doc, { o: null });
});

test('type overrides: each type from the values sources send', () => {
  const hex = '65a1b2c3d4e5f60718293a4b';
  assert.ok((convertType(hex, 'objectId', 'f', opts) as ObjectId).equals(ObjectId.createFromHexString(hex)));
  assert.ok(convertType(Buffer.alloc(12, 1), 'objectId', 'f', opts) instanceof ObjectId);
  const u = convertType('3F2504E0-4F89-11D3-9A0C-0305E82C3301', 'uuid', 'f', opts) as UUID;
  assert.ok(u instanceof Binary && u.sub_type === Binary.SUBTYPE_UUID);
  assert.equal(u.toHexString(), '3f2504e0-4f89-11d3-9a0c-0305e82c3301');
  assert.equal((convertType(Buffer.alloc(16), 'uuid', 'f', opts) as Binary).sub_type, 4);
  assert.equal((convertType('2024-01-02T03:04:05.678Z', 'date', 'f', opts) as Date).toISOString(), '2024-01-02T03:04:05.678Z');
  assert.equal((convertType('2024-01-02', 'date', 'f', opts) as Date).toISOString(), '2024-01-02T00:00:00.000Z');
  assert.equal((convertType(0, 'date', 'f', opts) as Date).getTime(), 0);
  assert.equal((convertType(new Decimal('12345678901234.123456'), 'decimal128', 'f', opts) as Decimal128).toString(), '12345678901234.123456');
  assert.equal(convertType(new Decimal('1.10'), 'decimal128', 'f', stringDecimals), '1.10', 'no Decimal128 on the server: the exact text');
  assert.equal((convertType('42.5', 'decimal128', 'f', opts) as Decimal128).toString(), '42.5');
  assert.equal(convertType(12, 'string', 'f', opts), '12');
  assert.equal(convertType(2n ** 63n - 1n, 'string', 'f', opts), '9223372036854775807');
  assert.equal(convertType(new Decimal('1.10'), 'string', 'f', opts), '1.10');
  assert.equal(convertType({ a: 1n }, 'string', 'f', opts), '{"a":"1"}');
  assert.equal(convertType(new Date(0), 'string', 'f', opts), '1970-01-01T00:00:00.000Z');
  assert.equal((convertType('17', 'int', 'f', opts) as Int32).value, 17);
  assert.equal((convertType(new Decimal('17.000'), 'int', 'f', opts) as Int32).value, 17);
  assert.equal((convertType(2n ** 62n, 'long', 'f', opts) as Long).toBigInt(), 2n ** 62n);
  assert.equal((convertType('-9223372036854775808', 'long', 'f', opts) as Long).toString(), '-9223372036854775808');
  assert.equal((convertType('2.5', 'double', 'f', opts) as Double).value, 2.5);
  assert.equal(convertType('t', 'boolean', 'f', opts), true);
  assert.equal(convertType(0, 'boolean', 'f', opts), false);
});

test('a value a type override cannot convert is a FieldConversionError naming the column', () => {
  const bad: [unknown, Parameters<typeof convertType>[1]][] = [
    ['xyz', 'objectId'],
    ['not-a-uuid', 'uuid'],
    ['yesterday', 'date'],
    ['12abc', 'decimal128'],
    [new Decimal('1.5'), 'int'],
    [2 ** 31, 'int'],
    [2n ** 63n, 'long'],
    ['abc', 'double'],
    ['maybe', 'boolean'],
    [new Decimal('1' + '0'.repeat(40) + '.5'), 'decimal128'],
    [2n ** 40n, 'int'],
    ['999999999999999999999', 'long'],
    [new Decimal('999999999999999999999'), 'long'],
    ...(['string', 'int', 'long', 'double', 'decimal128', 'boolean', 'date', 'objectId', 'uuid'] as const).map((t): [unknown, typeof t] => [new InvalidJson('{"a":', 'Unexpected end of JSON input'), t]),
  ];
  for (const [value, type] of bad) {
    assert.throws(
      () => mapRow({ col: value }, { fields: { col: { type, name: 'renamed' } } }, opts),
      (e: unknown) => e instanceof FieldConversionError && e.field === 'col' && e.message.includes(type),
      `${String(value)} → ${type}`,
    );
  }
});

test('document keys: the key value; a composite key as a subdocument in key order with field names; overrides apply; objectId keeps the key in keyField', () => {
  assert.equal(documentKey({ id: 5 }, ['id'], undefined, opts), 5);
  const composite = documentKey({ b: 2, a: 1 }, ['a', 'b'], { fields: { a: { name: 'A' } } }, opts) as Record<string, unknown>;
  assert.deepEqual(Object.entries(composite), [['A', 1], ['b', 2]]);
  const hex = '65a1b2c3d4e5f60718293a4b';
  assert.ok(documentKey({ id: hex }, ['id'], { fields: { id: { type: 'objectId' } } }, opts) instanceof ObjectId);
  assert.deepEqual(documentFor(undefined, 5, { _id: 'ignored', x: 1 }), { _id: 5, x: 1 });
  assert.deepEqual(documentFor({ id: { strategy: 'objectId' } }, 5, { x: 1 }), { _sourceKey: 5, x: 1 });
  assert.deepEqual(documentFor({ id: { strategy: 'objectId', keyField: 'k' } }, { a: 1 }, { x: 1 }), { k: { a: 1 }, x: 1 });
});

test('parent keys: from the foreign key, null when a column is null or unsent; references give field names and overrides', () => {
  const rule: EmbedRule = { into: 'public.orders', kind: 'array', foreignKey: ['order_id'] };
  assert.equal(parentKeyOf({ order_id: 3 }, rule, undefined, opts), 3);
  assert.equal(parentKeyOf({ order_id: null }, rule, undefined, opts), null);
  assert.equal(parentKeyOf({}, rule, undefined, opts), null);
  const comp: EmbedRule = { into: 'public.o', kind: 'array', foreignKey: ['x', 'y'], references: ['a', 'b'] };
  assert.deepEqual(parentKeyOf({ x: 1, y: 2 }, comp, { fields: { a: { name: 'A' }, b: { type: 'string' } } }, opts), { A: 1, b: '2' });
  // Equal for equal MongoDB values, whatever the numeric type.
  assert.equal(keyString(Long.fromNumber(5)), keyString(5));
  assert.equal(keyString(new Int32(5)), keyString(5));
  assert.equal(keyString(5n), keyString(new Double(5)));
  assert.notEqual(keyString('5'), keyString(5));
  assert.equal(keyString({ a: Long.fromNumber(1), b: 'x' }), keyString({ a: 1, b: 'x' }));
  assert.equal(keyString(Long.fromBigInt(2n ** 60n)), keyString(Long.fromBigInt(2n ** 60n)));
  assert.notEqual(keyString(Long.fromBigInt(2n ** 60n)), keyString(Long.fromBigInt(2n ** 60n + 1n)));
});

test('embedded arrays are sorted by the rule (desc too), then by child key; a document embed takes one child or null; merge prefixes and removes lost fields', () => {
  const kids = [
    { key: 3, doc: { line: 2, sku: 'c' } },
    { key: 1, doc: { line: 2, sku: 'a' } },
    { key: 2, doc: { line: 1, sku: 'b' } },
    { key: Long.fromNumber(10), doc: { line: null, sku: 'n' } },
  ];
  const arr = buildEmbedded({ into: 'p.o', kind: 'array', field: 'items', foreignKey: ['o'], sort: [{ field: 'line' }] }, 'p.items', kids);
  assert.deepEqual((arr.set.items as { sku: string }[]).map((d) => d.sku), ['n', 'b', 'a', 'c']);
  const desc = buildEmbedded({ into: 'p.o', kind: 'array', field: 'items', foreignKey: ['o'], sort: [{ field: 'line', desc: true }] }, 'p.items', kids);
  assert.deepEqual((desc.set.items as { sku: string }[]).map((d) => d.sku), ['a', 'c', 'b', 'n']);
  const byKey = buildEmbedded({ into: 'p.o', kind: 'array', foreignKey: ['o'] }, 'p.items', kids);
  assert.deepEqual((byKey.set.items as { sku: string }[]).map((d) => d.sku), ['a', 'b', 'c', 'n'], 'field defaults to the table name; order to the child key');
  assert.deepEqual(buildEmbedded({ into: 'p.o', kind: 'array', field: 'items', foreignKey: ['o'] }, 'p.items', []).set, { items: [] });
  assert.deepEqual(buildEmbedded({ into: 'p.o', kind: 'document', field: 'ship', foreignKey: ['o'] }, 'p.ship', []).set, { ship: null });
  assert.deepEqual(buildEmbedded({ into: 'p.o', kind: 'document', field: 'ship', foreignKey: ['o'] }, 'p.ship', [{ key: 1, doc: { city: 'X' } }]).set, { ship: { city: 'X' } });
  const merged = buildEmbedded({ into: 'p.o', kind: 'merge', field: 'ship_', foreignKey: ['o'] }, 'p.ship', [{ key: 1, doc: { city: 'X' } }], ['city', 'zip']);
  assert.deepEqual(merged, { set: { ship_city: 'X' }, unset: ['ship_zip'] });
  assert.deepEqual(buildEmbedded({ into: 'p.o', kind: 'merge', foreignKey: ['o'] }, 'p.ship', [], ['city']), { set: {}, unset: ['city'] });
  assert.ok(compareValues(new Date(1), new Date(2)) < 0 && compareValues('a', 1) > 0 && compareValues(null, 0) < 0);
  assert.ok(compareValues(Long.fromBigInt(2n ** 60n + 1n), Long.fromBigInt(2n ** 60n)) > 0, 'exact beyond 2^53');
  assert.ok(compareValues(new Decimal128('1.5'), 1) > 0);
});

const ORDERS = 'public.orders';
const ITEMS = 'public.order_items';
const good = (): MappingSpec => ({
  tables: {
    [ORDERS]: { collection: 'orders', fields: { customer_id: { name: 'customerId', type: 'string' } } },
    [ITEMS]: { newDocuments: false, embed: { into: ORDERS, kind: 'array', field: 'items', foreignKey: ['order_id'], sort: [{ field: 'line_no' }] } },
  },
});

test('validateMapping accepts the documented example, a mappingId reference and no mapping', () => {
  assert.deepEqual(validateMapping(good(), [ORDERS, ITEMS]), good());
  assert.deepEqual(validateMapping({ mappingId: 'm1' }), {});
  assert.deepEqual(validateMapping(undefined), {});
  // Patterns in the stream's tables: membership is checked when the sink sees the tables.
  validateMapping(good(), ['public.*']);
});

test('validateMapping refuses bad shapes with MAPPING_INVALID naming table and field', () => {
  const withTable = (tm: unknown) => ({ tables: { [ORDERS]: tm } });
  invalid(() => validateMapping([]), /^mapping$/);
  invalid(() => validateMapping({ tables: {}, other: 1 }), /mapping\.other/);
  invalid(() => validateMapping({ tables: { orders: {} } }), /tables\["orders"\]/, 'orders');
  invalid(() => validateMapping(withTable({ colection: 'x' })), /\.colection/, ORDERS);
  invalid(() => validateMapping(withTable({ collection: 'a$b' })), /\.collection/);
  invalid(() => validateMapping(withTable({ nulls: 'drop' })), /\.nulls/);
  invalid(() => validateMapping(withTable({ fields: { a: { type: 'money' } } })), /fields\.a\.type/);
  invalid(() => validateMapping(withTable({ fields: { a: { name: 'x.y' } } })), /fields\.a\.name/);
  invalid(() => validateMapping(withTable({ fields: { a: { name: 'x' }, b: { name: 'x' } } })), /fields\.b\.name/);
  invalid(() => validateMapping(withTable({ fields: { a: { name: '_id' } } })), /fields\.a\.name/);
  invalid(() => validateMapping(withTable({ fields: { a: { nmae: 'x' } } })), /fields\.a\.nmae/);
  invalid(() => validateMapping(withTable({ id: { strategy: 'uuid' } })), /id\.strategy/);
  invalid(() => validateMapping(withTable({ id: { strategy: 'key', keyField: 'k' } })), /id\.keyField/);
  invalid(() => validateMapping(withTable({ newDocuments: false })), /newDocuments/);
  const embed = (e: Record<string, unknown>) => ({ tables: { [ITEMS]: { embed: { into: ORDERS, kind: 'array', field: 'items', foreignKey: ['order_id'], ...e } } } });
  invalid(() => validateMapping(embed({ kind: 'list' })), /embed\.kind/, ITEMS);
  invalid(() => validateMapping(embed({ into: ITEMS })), /embed\.into/);
  invalid(() => validateMapping(embed({ foreignKey: [] })), /embed\.foreignKey/);
  invalid(() => validateMapping(embed({ foreignKey: ['a', 'b'] })), /embed\.references/);
  invalid(() => validateMapping(embed({ references: ['a', 'b'] })), /embed\.references/);
  invalid(() => validateMapping(embed({ field: '$x' })), /embed\.field/);
  invalid(() => validateMapping(embed({ sort: [{ field: 'a', up: true }] })), /embed\.sort\[0\]/);
  invalid(() => validateMapping(embed({ kind: 'merge', sort: [{ field: 'a' }] })), /embed\.sort/);
  invalid(() => validateMapping(embed({ field: '_id' })), /embed\.field/);
  invalid(() => validateMapping(good(), [ORDERS]), /order_items/, ITEMS);
  const two = good();
  two.tables!['public.notes'] = { embed: { into: ORDERS, kind: 'array', field: 'items', foreignKey: ['order_id'] } };
  invalid(() => validateMapping(two), /embed\.field/, ITEMS);
  const nested = good();
  nested.tables!['public.sub'] = { embed: { into: ITEMS, kind: 'array', field: 'subs', foreignKey: ['item_id'] } };
  invalid(() => validateMapping(nested), /embed\.into/, 'public.sub');
});

const schema = (columns: string[], key: string[]): TableSchema => ({ columns: columns.map((name) => ({ name, type: 'int32', sourceType: 'int', optional: true })), key });

test('validateTableColumns: rules must name the table\'s own columns; a composite parent key needs references in key order', () => {
  validateTableColumns(good(), ORDERS, schema(['id', 'customer_id'], ['id']));
  validateTableColumns(good(), ITEMS, schema(['id', 'order_id', 'line_no'], ['id']));
  invalid(() => validateTableColumns(good(), ORDERS, schema(['id', 'customerid'], ['id'])), /fields\.customer_id/, ORDERS);
  invalid(() => validateTableColumns(good(), ITEMS, schema(['id', 'orderid'], ['id'])), /embed\.foreignKey/, ITEMS);
  invalid(() => validateTableColumns(good(), ORDERS, schema(['a', 'b', 'customer_id'], ['a', 'b'])), /embed\.references/, ITEMS);
  const refs = good();
  refs.tables![ITEMS]!.embed!.references = ['b'];
  invalid(() => validateTableColumns(refs, ORDERS, schema(['a', 'b', 'customer_id'], ['a'])), /embed\.references/, ITEMS);
  const typedKey = good();
  typedKey.tables![ORDERS]!.fields!.id = { type: 'string' };
  invalid(() => validateTableColumns(typedKey, ORDERS, schema(['id', 'customer_id'], ['id'])), /embed\.references/, ITEMS);
  typedKey.tables![ITEMS]!.embed!.references = ['id'];
  validateTableColumns(typedKey, ORDERS, schema(['id', 'customer_id'], ['id']));
  // A resolved mapping resource keeps its id beside the rules.
  assert.deepEqual(validateMapping({ mappingId: 'm1', tables: good().tables }).tables, good().tables);
  // A shared mapping resource's rules for tables the stream does not read are left out, not refused.
  const shared = validateMapping({ mappingId: 'm1', tables: { ...good().tables, 'public.other': { collection: 'x' } } }, Object.keys(good().tables!));
  assert.deepEqual(shared.tables, good().tables);
  invalid(() => validateMapping({ tables: { ...good().tables, 'public.other': { collection: 'x' } } }, Object.keys(good().tables!)), /public\.other/);
  invalid(() => validateMapping({ mappingId: 'm1', tables: { [ORDERS]: { nulls: 'x' } } }), /nulls/);
});

test('previewDocuments: parents with their children embedded, the same builders the sink uses; embedded-only tables give no collection', () => {
  const spec = good();
  spec.tables![ORDERS]!.fields!.note = { include: false };
  const out = previewDocuments(
    spec,
    [
      { table: { schema: 'public', table: 'orders' }, schema: schema(['id', 'customer_id', 'note'], ['id']), rows: [{ id: 1, customer_id: 7, note: 'x' }, { id: 2, customer_id: 8, note: null }] },
      {
        table: { schema: 'public', table: 'order_items' },
        schema: schema(['id', 'order_id', 'line_no'], ['id']),
        rows: [
          { id: 10, order_id: 1, line_no: 2 },
          { id: 11, order_id: 1, line_no: 1 },
          { id: 12, order_id: 3, line_no: 1 },
          { id: 13, order_id: null, line_no: 1 },
        ],
      },
    ],
    opts,
  );
  assert.deepEqual(out, [
    {
      collection: 'orders',
      documents: [
        { _id: 1, id: 1, customerId: '7', items: [{ id: 11, order_id: 1, line_no: 1 }, { id: 10, order_id: 1, line_no: 2 }] },
        { _id: 2, id: 2, customerId: '8', items: [] },
      ],
    },
  ]);
});

test('validateStreamMapping: an embedded table\'s foreign key must not be dropped by the stream\'s column filter', () => {
  const stream = (f: Record<string, unknown>) => ({ mapping: good() as Record<string, unknown>, tables: [ORDERS, ITEMS], relationalTableFilters: { public: { order_items: f } } });
  validateStreamMapping(stream({ excludeColumns: ['note'] }));
  validateStreamMapping(stream({ includeColumns: ['id', 'order_id'] }));
  invalid(() => validateStreamMapping(stream({ excludeColumns: ['order_id'] })), /embed\.foreignKey/, ITEMS);
  invalid(() => validateStreamMapping(stream({ includeColumns: ['id'] })), /embed\.foreignKey/, ITEMS);
});
