import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Decimal, InvalidJson } from '../../src/core';
import { decodeDecimal } from './binlog-values';
import { isDdl, tableMapMismatch } from './zongji';
import { canonicalDecimal, enumLabels, logicalType, toValue, type ColumnMeta } from './types';

const col = (dataType: string, columnType: string, extra: Partial<ColumnMeta> = {}): ColumnMeta => ({
  name: 'c', dataType, columnType, nullable: true, charset: null, isJson: false, ...extra,
});

/** MySQL's binary DECIMAL encoding (decimal2bin), to test the decoder against. */
function encodeDecimal(text: string, precision: number, scale: number): Buffer {
  const neg = text.startsWith('-');
  const [i = '0', f = ''] = text.replace('-', '').split('.');
  const intg = precision - scale;
  const d2b = [0, 1, 1, 2, 2, 3, 3, 4, 4, 4];
  const intDigits = i.padStart(intg, '0');
  const fracDigits = f.padEnd(scale, '0');
  const parts: Buffer[] = [];
  const push = (digits: string, bytes: number): void => {
    const b = Buffer.alloc(bytes);
    let v = Number(digits || '0');
    for (let k = bytes - 1; k >= 0; k--) {
      b[k] = v % 256;
      v = Math.floor(v / 256);
    }
    parts.push(b);
  };
  const lead = intg % 9;
  if (lead) push(intDigits.slice(0, lead), d2b[lead]!);
  for (let k = lead; k < intg; k += 9) push(intDigits.slice(k, k + 9), 4);
  const full = Math.floor(scale / 9);
  for (let k = 0; k < full; k++) push(fracDigits.slice(k * 9, k * 9 + 9), 4);
  const tail = scale % 9;
  if (tail) push(fracDigits.slice(full * 9), d2b[tail]!);
  const out = Buffer.concat(parts);
  if (neg) for (let k = 0; k < out.length; k++) out[k] = out[k]! ^ 0xff;
  out[0] = out[0]! ^ 0x80;
  return out;
}

test('binary DECIMAL decodes exactly, where zongji lost digits (DECIMAL(20,6), negatives, zero scale, long values)', () => {
  const cases: Array<[string, number, number]> = [
    ['12345678901234.123456', 20, 6],
    ['-12345678901234.123456', 20, 6],
    ['0.000001', 20, 6],
    ['-0.500000', 20, 6],
    ['99999999999999999999999999999999999999.123456789012345678901234567', 65, 27],
    ['42', 10, 0],
    ['-7', 5, 0],
    ['0.00', 5, 2],
  ];
  for (const [text, p, s] of cases) {
    const buf = encodeDecimal(text, p, s);
    const [out, size] = decodeDecimal(Buffer.concat([buf, Buffer.from([0xaa])]), p, s);
    assert.equal(size, buf.length, `size of ${text}`);
    assert.equal(out, text, `DECIMAL(${p},${s}) ${text}`);
  }
});

test('logical types: tinyint(1) as boolean by option, unsigned widening, BIGINT UNSIGNED as decimal, MariaDB JSON', () => {
  assert.equal(logicalType(col('tinyint', 'tinyint(1)')), 'boolean');
  assert.equal(logicalType(col('tinyint', 'tinyint(1)'), { tinyInt1AsBoolean: false }), 'int16');
  assert.equal(logicalType(col('smallint', 'smallint(5) unsigned')), 'int32');
  assert.equal(logicalType(col('int', 'int(10) unsigned')), 'int64');
  assert.equal(logicalType(col('bigint', 'bigint(20)')), 'int64');
  assert.equal(logicalType(col('bigint', 'bigint(20) unsigned')), 'decimal');
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
