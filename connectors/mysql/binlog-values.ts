/**
 * Exact decoding of the binlog values zongji 0.5.1 gets wrong, patched into its
 * value reader (lib/common.js `readMysqlValue`, which lib/rows_event.js calls
 * through the module object, so replacing the export takes effect everywhere).
 *
 * - NEWDECIMAL: zongji builds the digits as text and then calls parseFloat, so
 *   DECIMAL(20,6) 12345678901234.123456 became 12345678901234.123. We return the
 *   digit text (same algorithm: MySQL's packed 9-digits-per-4-bytes format).
 * - LONGLONG: zongji returns a Number when it fits 2^53 and a string above, and
 *   reads the sign from COLUMN_TYPE. We return a bigint, signed or not by the same rule.
 * - TIMESTAMP2: zongji formats epoch seconds in the daemon's local time zone when
 *   dateStrings is on; we return the instant as a Date (milliseconds).
 * - ENUM / SET: zongji splits the labels out of COLUMN_TYPE without undoing ''
 *   quoting, so enum('it''s') came back as "it''s"; we use the labels types.ts parses.
 * Everything else is zongji's own decoding (DATE/DATETIME as text with dateStrings).
 */
import { createRequire } from 'node:module';
import { enumLabels } from './types';

interface Parser {
  _buffer: Buffer;
  _offset: number;
}
interface Column {
  type: number;
  name: string;
  metadata: { precision: number; decimals: number; size: number };
}
interface ColumnSchema {
  COLUMN_TYPE: string;
}
type Reader = (parser: Parser, column: Column, schema: ColumnSchema, tableMap: unknown, zongji: unknown) => unknown;

const LONGLONG = 8;
const TIMESTAMP2 = 17;
const NEWDECIMAL = 246;
const ENUM = 247;
const SET = 248;
const DIG_PER_DEC = 9;
const DIG2BYTES = [0, 1, 1, 2, 2, 3, 3, 4, 4, 4];

/** Decodes MySQL's binary DECIMAL (precision, scale) at buf[0..] into exact text; returns [text, bytes used]. */
export function decodeDecimal(src: Buffer, precision: number, scale: number): [string, number] {
  const intg = precision - scale;
  const intg0 = Math.floor(intg / DIG_PER_DEC);
  const frac0 = Math.floor(scale / DIG_PER_DEC);
  const intg0x = intg - intg0 * DIG_PER_DEC;
  const frac0x = scale - frac0 * DIG_PER_DEC;
  const size = intg0 * 4 + DIG2BYTES[intg0x]! + frac0 * 4 + DIG2BYTES[frac0x]!;
  const buf = Buffer.from(src.subarray(0, size)); // a copy: the sign bit is flipped below
  const negative = (buf[0]! & 0x80) === 0;
  buf[0] = buf[0]! ^ 0x80;
  if (negative) for (let i = 0; i < buf.length; i++) buf[i] = buf[i]! ^ 0xff;
  let pos = 0;
  const readUInt = (n: number): number => {
    let v = 0;
    for (let i = 0; i < n; i++) v = v * 256 + buf[pos + i]!;
    pos += n;
    return v;
  };
  let int = '';
  if (intg0x > 0) int += String(readUInt(DIG2BYTES[intg0x]!));
  for (let i = 0; i < intg0; i++) int += String(readUInt(4)).padStart(9, '0');
  let frac = '';
  for (let i = 0; i < frac0; i++) frac += String(readUInt(4)).padStart(9, '0');
  if (frac0x > 0) frac += String(readUInt(DIG2BYTES[frac0x]!)).padStart(frac0x, '0');
  int = int.replace(/^0+(?=\d)/, '') || '0';
  const body = scale > 0 ? `${int}.${frac}` : int;
  const zero = /^[0.]+$/.test(body);
  return [negative && !zero ? `-${body}` : body, size];
}

let patched = false;

/** Installs the exact readers into zongji (idempotent). */
export function patchZongji(): void {
  if (patched) return;
  const req = createRequire(__filename);
  const common = req('zongji/lib/common') as { readMysqlValue: Reader };
  const original = common.readMysqlValue;
  common.readMysqlValue = function (this: unknown, parser, column, schema, tableMap, zongji) {
    switch (column.type) {
      case NEWDECIMAL: {
        const [text, size] = decodeDecimal(parser._buffer.subarray(parser._offset), column.metadata.precision, column.metadata.decimals);
        parser._offset += size;
        return text;
      }
      case LONGLONG: {
        const unsigned = /\bunsigned\b/i.test(schema.COLUMN_TYPE);
        const v = unsigned ? parser._buffer.readBigUInt64LE(parser._offset) : parser._buffer.readBigInt64LE(parser._offset);
        parser._offset += 8;
        return v;
      }
      case TIMESTAMP2: {
        const seconds = parser._buffer.readUInt32BE(parser._offset);
        parser._offset += 4;
        const decimals = column.metadata.decimals;
        const n = Math.ceil(decimals / 2);
        let micros = 0;
        if (n > 0) {
          let v = 0;
          for (let i = 0; i < n; i++) v = v * 256 + parser._buffer[parser._offset + i]!;
          parser._offset += n;
          micros = v * 10 ** (6 - n * 2);
        }
        return new Date(seconds * 1000 + Math.floor(micros / 1000));
      }
      case ENUM: {
        const n = column.metadata.size;
        const index = n === 2 ? parser._buffer.readUInt16LE(parser._offset) : parser._buffer[parser._offset]!;
        parser._offset += n;
        return index === 0 ? '' : (enumLabels(schema.COLUMN_TYPE)[index - 1] ?? '');
      }
      case SET: {
        const n = column.metadata.size;
        let bits = 0n;
        for (let i = n - 1; i >= 0; i--) bits = (bits << 8n) | BigInt(parser._buffer[parser._offset + i]!);
        parser._offset += n;
        return enumLabels(schema.COLUMN_TYPE)
          .filter((_, i) => (bits >> BigInt(i)) & 1n)
          .join(',');
      }
      default:
        return original.call(this, parser, column, schema, tableMap, zongji);
    }
  };
  patched = true;
}
