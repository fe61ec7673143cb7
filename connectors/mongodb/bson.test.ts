import { test } from 'node:test';
import assert from 'node:assert/strict';
import { BSON, Binary, Decimal128, Long } from 'mongodb';
import { Decimal, InvalidJson } from '../../src/core';
import { ConversionError, convertRow, documentId, idString, keyForDetail, toBson } from './bson';

const D128 = { decimals: 'decimal128' as const };
const STR = { decimals: 'string' as const };

test('decimals become Decimal128 with the exact text, trailing zeros and specials included', () => {
  for (const text of ['0', '-0.00', '1.50', '12345678901234.123456', '-99999999999999999999999999999999.99', 'NaN', 'Infinity', '-Infinity']) {
    const v = toBson(new Decimal(text), D128);
    assert.ok(v instanceof Decimal128, text);
    assert.equal(v.toString(), text);
  }
});

test('a decimal with more digits than Decimal128 holds is refused, not rounded', () => {
  assert.throws(() => toBson(new Decimal('1234567890123456789012345678901234.5'), D128, 'amount'), (e: unknown) => e instanceof ConversionError && e.field === 'amount');
});

test('in string mode decimals keep their exact text, however long', () => {
  const long = '1234567890123456789012345678901234567890.000000001';
  assert.equal(toBson(new Decimal(long), STR), long);
  assert.equal(toBson(new Decimal('1.50'), STR), '1.50');
});

test('bigint becomes an exact Long, past 2^53 and negative, and refuses what int64 cannot hold', () => {
  for (const n of [0n, 2n ** 53n + 1n, -(2n ** 63n), 2n ** 63n - 1n, -12345678901234567n]) {
    const v = toBson(n, D128);
    assert.ok(v instanceof Long);
    assert.equal(v.toBigInt(), n);
  }
  assert.throws(() => toBson(2n ** 63n, D128, 'u'), ConversionError);
});

test('a bigint survives serialisation exactly', () => {
  const doc = BSON.deserialize(BSON.serialize({ v: toBson(9007199254740993n, D128) }), { useBigInt64: true });
  assert.equal(doc.v, 9007199254740993n);
});

test('bytes become Binary subtype 0 with the same bytes', () => {
  const v = toBson(Buffer.from([0, 1, 254, 255]), D128);
  assert.ok(v instanceof Binary);
  assert.equal(v.sub_type, 0);
  assert.deepEqual(Buffer.from(v.buffer), Buffer.from([0, 1, 254, 255]));
});

test('dates stay dates; an invalid date is refused', () => {
  const d = new Date('2024-02-29T12:34:56.789Z');
  assert.equal(toBson(d, D128), d);
  assert.throws(() => toBson(new Date(NaN), D128, 'at'), ConversionError);
});

test('json values convert recursively; undefined members are dropped like JSON does', () => {
  const v = toBson({ a: [1, { b: 'x', c: null, gone: undefined }], n: 1.5, t: true, big: 5n, dec: new Decimal('2.50') }, D128) as Record<string, unknown>;
  assert.deepEqual(Object.keys(v), ['a', 'n', 't', 'big', 'dec']);
  assert.deepEqual(v.a, [1, { b: 'x', c: null }]);
  assert.ok(v.big instanceof Long);
  assert.equal(String(v.dec), '2.50');
  assert.deepEqual(toBson([1, undefined, 'x'], D128), [1, null, 'x']);
});

test('strings, numbers, booleans and null pass through', () => {
  for (const x of ['', 'héllo', 0, -1.25, 2 ** 31, true, false, null]) assert.equal(toBson(x, D128), x);
});

test('unknown classes are refused with the field path', () => {
  class Weird {}
  assert.throws(() => toBson({ a: { b: new Weird() } }, D128, 'doc'), (e: unknown) => e instanceof ConversionError && e.field === 'doc.a.b');
  assert.throws(() => toBson(Symbol('s'), D128, 's'), ConversionError);
});

test('convertRow reports undefined (unchanged TOAST) fields and leaves them out', () => {
  const { doc, undefinedFields } = convertRow({ id: 1, body: undefined, title: 't', note: null }, D128);
  assert.deepEqual(doc, { id: 1, title: 't', note: null });
  assert.deepEqual(undefinedFields, ['body']);
});

test('_id is the single key value, or a subdocument in key order for a composite key', () => {
  assert.equal(documentId({ id: 'a' }, ['id'], D128), 'a');
  const composite = documentId({ b: 2, a: 1n }, ['a', 'b'], D128) as Record<string, unknown>;
  assert.deepEqual(Object.keys(composite), ['a', 'b']);
  assert.ok(composite.a instanceof Long);
  assert.throws(() => documentId({}, [], D128), ConversionError);
  assert.throws(() => documentId({ a: undefined }, ['a'], D128), ConversionError);
});

test('idString tells types apart and is stable', () => {
  assert.notEqual(idString(1), idString('1'));
  assert.equal(idString(documentId({ a: 1, b: 'x' }, ['a', 'b'], D128)), idString(documentId({ b: 'x', a: 1 }, ['a', 'b'], D128)));
});

test('keyForDetail is plain JSON', () => {
  assert.deepEqual(keyForDetail({ a: 2n ** 60n, d: new Decimal('1.5') }), { a: String(2n ** 60n), d: '1.5' });
});

test('on a server without non-finite doubles (FerretDB) NaN and Infinity are refused, elsewhere kept', () => {
  for (const x of [NaN, Infinity, -Infinity]) {
    assert.throws(() => toBson({ j: [x] }, { decimals: 'string', finiteDoublesOnly: true }, 'f'), (e: unknown) => e instanceof ConversionError && e.field === 'f.j.0');
    assert.ok(Object.is(toBson(x, D128), x));
  }
});

test('InvalidJson (a JSON column whose text does not parse) is a ConversionError naming the field, never written as a string', () => {
  const bad = new InvalidJson('{"a": tru', 'Unexpected token');
  for (const decimals of ['decimal128', 'string'] as const) {
    assert.throws(
      () => convertRow({ id: 1, doc: bad }, { decimals }),
      (e: unknown) => e instanceof ConversionError && e.field === 'doc' && /invalid JSON/.test(e.message) && e.message.includes('{\\"a\\": tru'),
    );
  }
});
