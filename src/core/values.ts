/**
 * The value model every connector and transport agrees on. A source turns its
 * database's values into these JS values and describes each table's columns with
 * a logical type; the Kafka serde writes them in Debezium's JSON conventions and
 * reads them back; the MongoDB sink turns them into BSON. Exactness is the point:
 * an int8 stays a bigint, a numeric stays its decimal text, bytes stay bytes.
 *
 *   logical type  JS value                         e.g. PostgreSQL / MySQL
 *   boolean       boolean                          bool, tinyint(1)
 *   int16/int32   number                           int2, int4, smallint, int
 *   int64         bigint                           int8, bigint (unsigned past 2^63: decimal)
 *   float32/64    number                           float4, float8, float, double
 *   decimal       Decimal (exact text)             numeric, decimal
 *   string        string                           text, varchar, char, inet, …
 *   uuid          string (canonical lower case)    uuid
 *   enum          string                           enum types
 *   json          parsed JSON (object, array, …)   json, jsonb, JSON
 *                 or InvalidJson (the raw text)    a MariaDB JSON (LONGTEXT) value
 *                                                  that does not parse
 *   bytes         Buffer                           bytea, blob, binary
 *   date          Date (UTC midnight)              date
 *   timestamp     Date (wall clock read as UTC)    timestamp, datetime
 *   timestamptz   Date (the instant)               timestamptz, MySQL timestamp
 *   time          string "HH:MM:SS[.ffffff]"       time, timetz
 *   interval      string (ISO 8601 duration)       interval
 *   array         array of the element type        int4[], text[], …
 *
 * `undefined` in an `after` image means "unchanged and not sent" (PostgreSQL's
 * unchanged TOASTed columns): the sink must leave that field as it is.
 */

/** A row: column name → value (of the model above). */
export type Row = Record<string, unknown>;

export class Decimal {
  /** Canonical decimal text: optional '-', digits, optional '.' digits; or NaN / Infinity / -Infinity. */
  constructor(readonly text: string) {
    if (!/^-?\d+(\.\d+)?$|^(NaN|-?Infinity)$/.test(text)) throw new TypeError(`not a decimal: ${text}`);
  }
  toString(): string {
    return this.text;
  }
  toJSON(): string {
    return this.text;
  }
}

/**
 * A JSON column's value that is not JSON: MariaDB's JSON is a LONGTEXT whose CHECK
 * (json_valid) can be off (`SET SESSION check_constraint_checks=0`, or a table made
 * without it). Sources keep the raw text rather than fail the whole run; the sink's
 * conversion rejects it as a record error naming the field, so the stream's
 * errorHandling decides (FAIL, or dead-letter the row with the text).
 */
export class InvalidJson {
  constructor(
    readonly text: string,
    /** Why it does not parse (JSON.parse's message). */
    readonly reason: string,
  ) {}
  toString(): string {
    return this.text;
  }
  /** In dead letters and JSON messages: the raw text. */
  toJSON(): string {
    return this.text;
  }
}

/** JSON column text → parsed JSON, or InvalidJson with the text when it does not parse. */
export function parseJsonColumn(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch (err) {
    return new InvalidJson(text, (err as Error).message);
  }
}

export const LOGICAL_TYPES = [
  'boolean',
  'int16',
  'int32',
  'int64',
  'float32',
  'float64',
  'decimal',
  'string',
  'uuid',
  'enum',
  'json',
  'bytes',
  'date',
  'timestamp',
  'timestamptz',
  'time',
  'interval',
  'array',
] as const;
export type LogicalType = (typeof LOGICAL_TYPES)[number];

export interface ColumnSpec {
  name: string;
  type: LogicalType;
  /** For arrays: the element's logical type. */
  elementType?: LogicalType;
  /** The database's own type name, e.g. "numeric(12,2)", for messages and the Kafka schema. */
  sourceType: string;
  optional: boolean;
  /** Decimal precision/scale when the column declares them. */
  precision?: number;
  scale?: number;
  /** Allowed values of an enum column. */
  enumValues?: string[];
}

/**
 * A table's shape as the source sees it at the time of the event. Sources share
 * one object per table version, so consumers may cache derived data per object.
 */
export interface TableSchema {
  columns: ColumnSpec[];
  /** Primary-key columns (or the unique key used in its place), in key order. */
  key: string[];
}

/** The key columns of a row, in key order. */
export function keyOf(key: readonly string[], row: Row): Row {
  return Object.fromEntries(key.map((k) => [k, row[k]]));
}

/** Value equality for key comparison (bigint, Buffer, Date, Decimal, JSON values). */
export function sameKey(a: Row, b: Row, key: readonly string[]): boolean {
  return key.every((k) => stable(a[k]) === stable(b[k]));
}

function stable(v: unknown): string {
  if (typeof v === 'bigint') return `n:${v}`;
  if (Buffer.isBuffer(v)) return `b:${v.toString('hex')}`;
  if (v instanceof Date) return `d:${v.getTime()}`;
  return `j:${JSON.stringify(v)}`;
}

/**
 * A value as JSON for previews and reports: bigint and Decimal as their exact text,
 * bytes as base64, dates as ISO 8601, arrays and JSON as they are.
 */
export function jsonValue(v: unknown): unknown {
  if (v === null || v === undefined) return null;
  if (typeof v === 'bigint') return v.toString();
  if (v instanceof Decimal) return v.text;
  if (Buffer.isBuffer(v)) return v.toString('base64');
  if (v instanceof Date) return Number.isNaN(v.getTime()) ? null : v.toISOString();
  if (typeof v === 'number' && !Number.isFinite(v)) return String(v);
  if (Array.isArray(v)) return v.map(jsonValue);
  return v;
}

export function jsonRow(row: Row): Record<string, unknown> {
  return Object.fromEntries(Object.entries(row).map(([k, v]) => [k, jsonValue(v)]));
}
