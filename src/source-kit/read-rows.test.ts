import { test } from 'node:test';
import assert from 'node:assert/strict';
import { checkRowQuery } from './read-rows';
import { Decimal, jsonRow, MAX_READ_ROWS, parseSort, parseTableName as parseTableParam, type TableSchema } from '../core';
import { isSluiceError } from '../errors';

const schema: TableSchema = {
  columns: [
    { name: 'a', type: 'int32', sourceType: 'int', optional: false },
    { name: 'b', type: 'string', sourceType: 'text', optional: false },
    { name: 'c', type: 'decimal', sourceType: 'numeric', optional: true },
  ],
  key: ['a', 'b'],
};

test('checkRowQuery: key order by default, columns and sort keys checked, limit capped', () => {
  assert.deepEqual(checkRowQuery(schema, { limit: 10, offset: 5 }, 't'), {
    columns: ['a', 'b', 'c'],
    sort: [{ column: 'a', desc: false }, { column: 'b', desc: false }],
    limit: 10,
    offset: 5,
  });
  const p = checkRowQuery(schema, { limit: 10 ** 9, offset: 0, sort: [{ column: 'c', desc: true }], columns: ['c'] }, 't');
  assert.equal(p.limit, MAX_READ_ROWS);
  assert.deepEqual(p.sort, [{ column: 'c', desc: true }]);
  assert.deepEqual(p.columns, ['c']);
  for (const q of [{ sort: [{ column: 'zz' }] }, { columns: ['a', 'zz'] }]) {
    assert.throws(() => checkRowQuery(schema, { limit: 1, offset: 0, ...q }, 't'), (e: unknown) => isSluiceError(e) && e.code === 'VALIDATION_FAILED' && e.detail.column === 'zz');
  }
  assert.deepEqual(checkRowQuery({ columns: schema.columns, key: [] }, { limit: 1, offset: 0 }, 't').sort, []);
});

test('table and sort parameters; preview values as JSON', () => {
  assert.deepEqual(parseTableParam('s.t.x'), { schema: 's', table: 't.x' });
  assert.deepEqual(parseTableParam('t'), { schema: '', table: 't' });
  assert.deepEqual(parseSort('a, -b,+c'), [{ column: 'a' }, { column: 'b', desc: true }, { column: 'c' }]);
  assert.equal(parseSort(''), undefined);
  assert.deepEqual(
    jsonRow({ i: 2n ** 63n - 1n, d: new Decimal('1.50'), b: Buffer.from([1, 2]), t: new Date('2024-01-01T00:00:00Z'), n: null, f: Number.NaN, a: [1n, null], j: { x: 1 } }),
    { i: '9223372036854775807', d: '1.50', b: 'AQI=', t: '2024-01-01T00:00:00.000Z', n: null, f: 'NaN', a: ['1', null], j: { x: 1 } },
  );
});
