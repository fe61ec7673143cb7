import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Decimal } from '../../src/core';
import { BUILTIN_TYPES, decodeInterval, decodeText, parseArray, textType, numericPrecision, type TypeLookup } from './types';

const lookup: TypeLookup = (oid) => BUILTIN_TYPES.get(oid) ?? textType(oid);
const dec = (oid: number, text: string | null | undefined): unknown => decodeText(text, lookup(oid), lookup);

test('scalars convert exactly from their text form', () => {
  assert.equal(dec(16, 't'), true);
  assert.equal(dec(16, 'f'), false);
  assert.equal(dec(21, '-32768'), -32768);
  assert.equal(dec(23, '2147483647'), 2147483647);
  assert.equal(dec(20, '9223372036854775807'), 9223372036854775807n);
  assert.deepEqual(dec(1700, '12345678901234567890.123456789'), new Decimal('12345678901234567890.123456789'));
  assert.deepEqual(dec(1700, 'NaN'), new Decimal('NaN'));
  assert.equal(dec(701, '1.5'), 1.5);
  assert.ok(Number.isNaN(dec(701, 'NaN')));
  assert.equal(dec(700, '-Infinity'), -Infinity);
  assert.equal(dec(25, 'hé'), 'hé');
  assert.equal(dec(2950, 'A0EEBC99-9C0B-4EF8-BB6D-6BB9BD380A11'), 'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11');
  assert.deepEqual(dec(17, '\\xdeadbeef'), Buffer.from('deadbeef', 'hex'));
  assert.deepEqual(dec(17, 'a\\000\\\\'), Buffer.from([0x61, 0, 0x5c]));
  assert.deepEqual(dec(3802, '{"a": [1, null]}'), { a: [1, null] });
  assert.equal(dec(869, '10.0.0.1/8'), '10.0.0.1/8');
  assert.equal(dec(25, null), null);
  assert.equal(dec(25, undefined), undefined, 'unchanged TOAST stays undefined');
});

test('dates and timestamps become Dates; infinity maps to the Date extremes', () => {
  assert.equal((dec(1082, '2024-02-29') as Date).toISOString(), '2024-02-29T00:00:00.000Z');
  assert.equal((dec(1082, '0044-03-15 BC') as Date).getUTCFullYear(), -43);
  assert.equal((dec(1082, '0099-01-01') as Date).getUTCFullYear(), 99);
  assert.equal((dec(1114, '2024-02-29 13:14:15.123456') as Date).toISOString(), '2024-02-29T13:14:15.123Z');
  assert.equal((dec(1184, '2024-02-29 13:14:15.5+05:30') as Date).toISOString(), '2024-02-29T07:44:15.500Z');
  assert.equal((dec(1184, '2024-02-29 13:14:15-08') as Date).toISOString(), '2024-02-29T21:14:15.000Z');
  assert.equal((dec(1184, 'infinity') as Date).getTime(), 8.64e15);
  assert.equal((dec(1082, '-infinity') as Date).getTime(), -8.64e15);
  assert.equal(dec(1083, '13:14:15.5'), '13:14:15.5');
  assert.equal(dec(1266, '13:14:15+02'), '13:14:15+02');
});

test('intervals are ISO 8601 in either server style', () => {
  assert.equal(decodeInterval('P1Y2M3DT4H5M6.5S'), 'P1Y2M3DT4H5M6.5S');
  assert.equal(decodeInterval('1 year 2 mons 3 days 04:05:06.5'), 'P1Y2M3DT4H5M6.5S');
  assert.equal(decodeInterval('-1 days +02:00:00'), 'P-1DT2H');
  assert.equal(decodeInterval('00:00:00'), 'PT0S');
});

test('arrays: NULL elements, quoting, escapes, nesting, bounds, element types', () => {
  assert.deepEqual(dec(1007, '{1,NULL,3}'), [1, null, 3]);
  assert.deepEqual(dec(1009, '{"a b","NULL",NULL,"q\\"x","b\\\\s",plain,""}'), ['a b', 'NULL', null, 'q"x', 'b\\s', 'plain', '']);
  assert.deepEqual(dec(1016, '{{1,2},{3,4}}'), [[1n, 2n], [3n, 4n]]);
  assert.deepEqual(dec(1007, '{}'), []);
  assert.deepEqual(dec(1007, '[0:1]={7,8}'), [7, 8]);
  assert.deepEqual(dec(1231, '{1.10,NaN}'), [new Decimal('1.10'), new Decimal('NaN')]);
  assert.deepEqual(
    (dec(1185, '{"2024-01-01 00:00:00+00",infinity}') as Date[]).map((d) => d.getTime()),
    [Date.UTC(2024, 0, 1), 8.64e15],
  );
  assert.deepEqual(dec(3807, '{"{\\"a\\": 1}",null}'), [{ a: 1 }, null]);
  assert.deepEqual(parseArray('{(1,2);(3,4)}', (s) => s, ';'), ['(1,2)', '(3,4)']);
});

test('numeric typmod gives precision and scale', () => {
  assert.deepEqual(numericPrecision(((12 << 16) | 2) + 4), { precision: 12, scale: 2 });
  assert.deepEqual(numericPrecision(-1), {});
});
