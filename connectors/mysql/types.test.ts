import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Decimal, InvalidJson } from '../../src/core';
import { columnSchema, isDdl, tableMapMismatch } from './zongji';
import { DEFAULT_TYPE_OPTIONS, canonicalDecimal, enumLabels, logicalType, toValue, type ColumnMeta } from './types';

const col = (dataType: string, columnType: string, extra: Partial<ColumnMeta> = {}): ColumnMeta => ({
  name: 'c', dataType, columnType, nullable: true, charset: null, isJson: false, ...extra,
});

test('zongji decodes ENUM/SET with the labels parsed here (quotes undone, commas kept) and integers with their sign', () => {
  const en = columnSchema(col('enum', "enum('small','it''s','a,b')", { name: 'en' }));
  assert.deepEqual(en, { COLUMN_NAME: 'en', CHARACTER_SET_NAME: null, COLUMN_TYPE: "enum('small','it''s','a,b')", ENUM_VALUES: ['small', "it's", 'a,b'] });
  assert.deepEqual(columnSchema(col('set', "set('x','y''z')")).SET_VALUES, ['x', "y'z"]);
  assert.equal(columnSchema(col('bigint', 'bigint(20) unsigned')).UNSIGNED, true);
  assert.equal(columnSchema(col('bigint', 'bigint(20)')).UNSIGNED, false);
  assert.equal(columnSchema(col('varchar', 'varchar(10)')).UNSIGNED, undefined);
});

test('logical types: tinyint(1) as boolean by option, unsigned widening, BIGINT UNSIGNED as int64 (decimal when precise), MariaDB JSON', () => {
  assert.equal(logicalType(col('tinyint', 'tinyint(1)')), 'boolean');
  assert.equal(logicalType(col('tinyint', 'tinyint(1)'), { ...DEFAULT_TYPE_OPTIONS, tinyInt1AsBoolean: false }), 'int16');
  assert.equal(logicalType(col('smallint', 'smallint(5) unsigned')), 'int32');
  assert.equal(logicalType(col('int', 'int(10) unsigned')), 'int64');
  assert.equal(logicalType(col('bigint', 'bigint(20)')), 'int64');
  assert.equal(logicalType(col('bigint', 'bigint(20) unsigned')), 'int64');
  assert.equal(logicalType(col('bigint', 'bigint(20) unsigned'), { ...DEFAULT_TYPE_OPTIONS, bigintUnsigned: 'precise' }), 'decimal');
  assert.equal(logicalType(col('int', 'int(10) unsigned'), { ...DEFAULT_TYPE_OPTIONS, bigintUnsigned: 'precise' }), 'int64');
  assert.equal(logicalType(col('longtext', 'longtext', { isJson: true })), 'json');
  assert.equal(logicalType(col('bit', 'bit(1)')), 'boolean');
  assert.equal(logicalType(col('bit', 'bit(12)')), 'bytes');
  assert.equal(logicalType(col('timestamp', 'timestamp(6)')), 'timestamptz');
  assert.throws(() => logicalType(col('geometry', 'geometry')), /unsupported MySQL type geometry/);
});

test('values: text and binlog forms convert to the same canonical value', () => {
  assert.equal(toValue(col('bigint', 'bigint(20)'), 'int64', '-9223372036854775808'), -9223372036854775808n);
  assert.equal(toValue(col('bigint', 'bigint(20)'), 'int64', -9223372036854775808n), -9223372036854775808n);
  assert.deepEqual(toValue(col('bigint', 'bigint(20) unsigned'), 'decimal', 18446744073709551615n), new Decimal('18446744073709551615'));
  // long: exact, above 2^63-1 too (the sink refuses those as VALUE_OUT_OF_RANGE; nothing wraps to a negative).
  for (const v of ['18446744073709551615', 18446744073709551615n]) assert.equal(toValue(col('bigint', 'bigint(20) unsigned'), 'int64', v), 18446744073709551615n);
  assert.equal(toValue(col('bigint', 'bigint(20) unsigned'), 'int64', 7), 7n);
  assert.deepEqual(toValue(col('decimal', 'decimal(20,6)'), 'decimal', '00012.500000'), new Decimal('12.500000'));
  assert.equal(toValue(col('float', 'float'), 'float32', '1.1'), Math.fround(1.1));
  assert.equal(toValue(col('tinyint', 'tinyint(1)'), 'boolean', '1'), true);
  assert.equal(toValue(col('bit', 'bit(1)'), 'boolean', Buffer.from([0])), false);
  assert.deepEqual(toValue(col('date', 'date'), 'date', '2024-02-29'), new Date('2024-02-29T00:00:00Z'));
  assert.deepEqual(toValue(col('datetime', 'datetime(6)'), 'timestamp', '2024-02-29 13:14:15.123456'), new Date('2024-02-29T13:14:15.123Z'));
  assert.equal(toValue(col('datetime', 'datetime'), 'timestamp', '0000-00-00 00:00:00'), null, 'zero dates have no Date');
  assert.deepEqual(toValue(col('longtext', 'longtext', { isJson: true }), 'json', '{"a":[1,2]}'), { a: [1, 2] });
  assert.deepEqual(toValue(col('binary', 'binary(4)'), 'bytes', Buffer.from([1, 2])), Buffer.from([1, 2, 0, 0]));
  assert.deepEqual(canonicalDecimal('-0.000'), new Decimal('0.000'));
  assert.deepEqual(enumLabels("enum('a','it''s','c,d')"), ['a', "it's", 'c,d']);
});

test('table map checks: a column count or type that differs from the schema is a mismatch', () => {
  const t = { columns: [col('int', 'int(11)'), col('varchar', 'varchar(10)')] };
  assert.equal(tableMapMismatch([3, 15], t), null);
  assert.match(tableMapMismatch([3, 15, 3], t)!, /3 columns, the table now has 2/);
  assert.match(tableMapMismatch([3, 3], t)!, /column 2 is binlog type 3/);
  assert.equal(isDdl('ALTER TABLE t ADD COLUMN x int'), true);
  assert.equal(isDdl('# Dummy event replacing event type 160'), false);
  assert.equal(isDdl('BEGIN'), false);
  assert.equal(isDdl('COMMIT'), false);
});

test('a JSON column holding text that is not JSON decodes to InvalidJson with the raw text, snapshot text and binlog Buffer alike', () => {
  const c = col('longtext', 'longtext', { isJson: true });
  for (const raw of ['{"a":', Buffer.from('{"a":')]) {
    const v = toValue(c, 'json', raw);
    assert.ok(v instanceof InvalidJson, String(raw));
    assert.equal(v.text, '{"a":');
    assert.match(v.reason, /JSON/);
    assert.equal(JSON.stringify({ doc: v }), '{"doc":"{\\"a\\":"}', 'JSON (dead letters) shows the raw text');
  }
  assert.deepEqual(toValue(c, 'json', 'null'), null, 'the JSON text null is JSON');
  assert.equal(toValue(c, 'json', '"s"'), 's');
});
