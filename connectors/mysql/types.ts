/**
 * MySQL/MariaDB values → the canonical values of src/core/values.ts.
 *
 * Two paths feed this file: the snapshot reads columns as text, numbers or bytes
 * (see naming.ts driverConfig), and the binlog reader hands over what zongji decoded
 * (BIGINT as a number or exact text, DECIMAL as exact text, DATE/DATETIME as text,
 * TIMESTAMP as a Date, ENUM/SET with our labels: zongji.ts columnSchema). Both go through `toValue`, so a
 * row read by the snapshot and the same row read from the binlog are equal.
 *
 * Documented choices:
 * - tinyint(1) (MySQL's BOOL) is a boolean unless the connection option
 *   `tinyInt1AsBoolean` is false; then an int16.
 * - BIGINT is an int64 (bigint); INT UNSIGNED an int64. BIGINT UNSIGNED is an int64 too
 *   (the stream option bigintUnsignedHandling "long", the default): a value above
 *   2^63-1 stays an exact bigint outside the int64 range, which the sink refuses as a
 *   record error (VALUE_OUT_OF_RANGE) instead of wrapping it; with "precise" it is a
 *   decimal (exact up to 2^64-1).
 * - DATETIME is a wall-clock time read as UTC ("timestamp"); TIMESTAMP is an
 *   instant ("timestamptz"): sessions run with time_zone '+00:00' and the binlog
 *   holds epoch seconds, so no server or daemon time zone is involved. Both keep
 *   milliseconds (a JS Date); microseconds are truncated.
 * - Zero dates ('0000-00-00', or with a zero month/day) have no Date: they become null.
 * - TIME is its text 'HH:MM:SS[.ffffff]' (may be negative or past 24h); YEAR an int32.
 * - ENUM is its label; SET is its comma-separated labels (a string).
 * - JSON (MySQL's type, or MariaDB's LONGTEXT with a json_valid check) is parsed.
 * - BIT(1) is a boolean, BIT(n>1) its bytes (big-endian, as MySQL stores them).
 * - FLOAT is rounded to float32 on both paths (Math.fround), DOUBLE kept as is.
 */
import { Decimal, parseJsonColumn, type ColumnSpec, type LogicalType } from '../../src/core';

/** What the converter needs to know about a column (from information_schema.COLUMNS). */
export interface ColumnMeta {
  name: string;
  /** DATA_TYPE, lower case: int, varchar, decimal… */
  dataType: string;
  /** COLUMN_TYPE: "int(10) unsigned", "enum('a','b')", "decimal(20,6)". */
  columnType: string;
  nullable: boolean;
  /** CHARACTER_SET_NAME (null for numbers, dates and binary data): zongji decodes text with it. */
  charset: string | null;
  /** MariaDB JSON: a LONGTEXT with CHECK (json_valid(col)). */
  isJson: boolean;
  precision?: number;
  scale?: number;
}

export interface TypeOptions {
  tinyInt1AsBoolean: boolean;
  /** BIGINT UNSIGNED as an int64 ('long') or an exact decimal ('precise'). */
  bigintUnsigned: 'long' | 'precise';
}

export const DEFAULT_TYPE_OPTIONS: TypeOptions = { tinyInt1AsBoolean: true, bigintUnsigned: 'long' };

const unsigned = (c: ColumnMeta): boolean => /\bunsigned\b/i.test(c.columnType);

/** Labels of enum('a','b') / set('a','b'), with '' quoting undone. */
export function enumLabels(columnType: string): string[] {
  const body = columnType.slice(columnType.indexOf('(') + 1, columnType.lastIndexOf(')'));
  const out: string[] = [];
  const re = /'((?:[^']|'')*)'/g;
  for (let m = re.exec(body); m; m = re.exec(body)) out.push(m[1]!.replace(/''/g, "'"));
  return out;
}

export function bitWidth(columnType: string): number {
  const m = /^bit\((\d+)\)/i.exec(columnType);
  return m ? Number(m[1]) : 1;
}

export function logicalType(c: ColumnMeta, o: TypeOptions = DEFAULT_TYPE_OPTIONS): LogicalType {
  if (c.isJson) return 'json';
  switch (c.dataType) {
    case 'tinyint':
      if (o.tinyInt1AsBoolean && /^tinyint\(1\)/i.test(c.columnType)) return 'boolean';
      return 'int16';
    case 'smallint':
      return unsigned(c) ? 'int32' : 'int16';
    case 'mediumint':
      return 'int32';
    case 'int':
    case 'integer':
      return unsigned(c) ? 'int64' : 'int32';
    case 'bigint':
      return unsigned(c) && o.bigintUnsigned === 'precise' ? 'decimal' : 'int64';
    case 'float':
      return 'float32';
    case 'double':
    case 'real':
      return 'float64';
    case 'decimal':
    case 'numeric':
      return 'decimal';
    case 'char':
    case 'varchar':
    case 'tinytext':
    case 'text':
    case 'mediumtext':
    case 'longtext':
    case 'set':
      return 'string';
    case 'enum':
      return 'enum';
    case 'json':
      return 'json';
    case 'binary':
    case 'varbinary':
    case 'tinyblob':
    case 'blob':
    case 'mediumblob':
    case 'longblob':
      return 'bytes';
    case 'bit':
      return bitWidth(c.columnType) === 1 ? 'boolean' : 'bytes';
    case 'date':
      return 'date';
    case 'datetime':
      return 'timestamp';
    case 'timestamp':
      return 'timestamptz';
    case 'time':
      return 'time';
    case 'year':
      return 'int32';
    default:
      throw new TypeError(`unsupported MySQL type ${c.columnType}`);
  }
}

export function columnSpec(c: ColumnMeta, o: TypeOptions): ColumnSpec {
  const type = logicalType(c, o);
  return {
    name: c.name,
    type,
    sourceType: c.columnType,
    optional: c.nullable,
    ...(type === 'decimal' && c.precision !== undefined ? { precision: c.precision, scale: c.scale ?? 0 } : {}),
    ...(type === 'enum' ? { enumValues: enumLabels(c.columnType) } : {}),
  };
}

/** '2024-01-02 03:04:05.123456' (or a date) → Date of that wall clock read as UTC; zero dates → null. */
function parseWallClock(text: string): Date | null {
  const m = /^(\d{4})-(\d{2})-(\d{2})(?:[ T](\d{2}):(\d{2}):(\d{2})(?:\.(\d+))?)?$/.exec(text.trim());
  if (!m) throw new TypeError(`not a date/time: ${text}`);
  const [y, mo, d, h = '0', mi = '0', s = '0', frac = ''] = m.slice(1);
  if (Number(mo) === 0 || Number(d) === 0) return null;
  const ms = frac ? Number(frac.padEnd(3, '0').slice(0, 3)) : 0;
  const date = new Date(Date.UTC(Number(y), Number(mo) - 1, Number(d), Number(h), Number(mi), Number(s), ms));
  // Date.UTC maps years 0-99 to 1900-1999.
  if (Number(y) < 100) date.setUTCFullYear(Number(y));
  return date;
}

/** Canonical decimal text: no leading zeros, no lone '.', no '-0'. */
export function canonicalDecimal(text: string): Decimal {
  let t = text.trim();
  let neg = false;
  if (t.startsWith('-')) {
    neg = true;
    t = t.slice(1);
  } else if (t.startsWith('+')) t = t.slice(1);
  const parts = t.split('.');
  let int = parts[0] ?? '';
  let frac: string | undefined = parts[1];
  int = int.replace(/^0+(?=\d)/, '') || '0';
  if (frac === '') frac = undefined;
  const body = frac !== undefined ? `${int}.${frac}` : int;
  const zero = /^[0.]+$/.test(body);
  return new Decimal(neg && !zero ? `-${body}` : body);
}

const asText = (v: unknown): string => (Buffer.isBuffer(v) ? v.toString('utf8') : String(v));

/**
 * One value (text from the snapshot, or zongji's decoded value from the binlog) →
 * its canonical form. `null`/`undefined` → null.
 */
export function toValue(c: ColumnMeta, type: LogicalType, v: unknown): unknown {
  if (v === null || v === undefined) return null;
  switch (type) {
    case 'boolean':
      if (Buffer.isBuffer(v)) return v.some((b) => b !== 0);
      return Number(asText(v)) !== 0;
    case 'int16':
    case 'int32':
      return typeof v === 'number' ? v : Number(asText(v));
    case 'int64':
      return typeof v === 'bigint' ? v : BigInt(asText(v));
    case 'float32':
      return Math.fround(typeof v === 'number' ? v : Number(asText(v)));
    case 'float64':
      return typeof v === 'number' ? v : Number(asText(v));
    case 'decimal':
      return canonicalDecimal(asText(v));
    case 'string':
    case 'enum':
    case 'time':
      return asText(v);
    case 'json':
      // MariaDB's JSON is text; one that does not parse (check constraints were off)
      // becomes InvalidJson, a record error at the sink, not a failed run.
      return typeof v === 'string' || Buffer.isBuffer(v) ? parseJsonColumn(asText(v)) : v;
    case 'bytes':
      if (Buffer.isBuffer(v)) return c.dataType === 'binary' ? padBinary(c, v) : v;
      return Buffer.from(asText(v), 'binary');
    case 'date': {
      if (v instanceof Date) return new Date(Date.UTC(v.getFullYear(), v.getMonth(), v.getDate()));
      return parseWallClock(asText(v).slice(0, 10));
    }
    case 'timestamp':
    case 'timestamptz':
      if (v instanceof Date) return v;
      return parseWallClock(asText(v));
    default:
      throw new TypeError(`no conversion for ${type}`);
  }
}

/** BINARY(n) is right-padded with zero bytes on both paths. */
function padBinary(c: ColumnMeta, v: Buffer): Buffer {
  const m = /^binary\((\d+)\)/i.exec(c.columnType);
  const n = m ? Number(m[1]) : v.length;
  if (v.length >= n) return v;
  const out = Buffer.alloc(n);
  v.copy(out);
  return out;
}
