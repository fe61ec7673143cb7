/**
 * Canonical values (src/core/values.ts) → BSON values for the MongoDB driver.
 * Pure: no I/O, so every conversion is unit-tested without a server.
 *
 * Exactness is the contract: a Decimal becomes a Decimal128 with the same text (or,
 * on servers without Decimal128, the same text as a string), a bigint becomes an
 * int64 Long, bytes become Binary. Anything that cannot be converted exactly throws
 * a ConversionError naming the field, which the sink reports as a rejected record.
 */
import { BSON, Binary, Decimal128, Long, type Document } from 'mongodb';
import { Decimal, InvalidJson } from '../../src/core';

/**
 * How decimals are stored. FerretDB v1 has no Decimal128 (see index.ts); there the
 * exact text is kept as a string rather than rounded to a double.
 */
export type DecimalMode = 'decimal128' | 'string';

export interface ConvertOptions {
  decimals: DecimalMode;
  /**
   * FerretDB v1 drops the connection on a NaN or ±Infinity double (measured on
   * v1.24.2), which looks like a network error and would be retried for ever; such
   * values are refused here instead, as a rejected record.
   */
  finiteDoublesOnly?: boolean;
}

/** A value that cannot be written exactly; `field` is the dotted path inside the row. */
export class ConversionError extends Error {
  constructor(
    readonly field: string,
    message: string,
    /** A more precise record-error code than SINK_RECORD_REJECTED, with the value it is about. */
    readonly reason?: { code: 'VALUE_OUT_OF_RANGE'; value: string },
  ) {
    super(`field ${field}: ${message}`);
    this.name = 'ConversionError';
  }
}

const INT64_MIN = -(2n ** 63n);
const INT64_MAX = 2n ** 63n - 1n;

function isPlainObject(v: object): boolean {
  const proto = Object.getPrototypeOf(v) as unknown;
  return proto === Object.prototype || proto === null;
}

/** Values that are already BSON (from a transform that built them on purpose). */
function isBsonValue(v: object): boolean {
  return typeof (v as { _bsontype?: unknown })._bsontype === 'string';
}

function decimalToBson(d: Decimal, opts: ConvertOptions, path: string): Decimal128 | string {
  if (opts.decimals === 'string') return d.text;
  try {
    // fromString refuses inexact rounding (more than 34 significant digits): better a
    // rejected record that names the field than a silently different amount.
    return Decimal128.fromString(d.text);
  } catch (err) {
    throw new ConversionError(path, `decimal ${d.text} does not fit Decimal128 exactly (${(err as Error).message})`);
  }
}

const clip = (t: string): string => JSON.stringify(t.length > 60 ? `${t.slice(0, 60)}…` : t);

/** Converts one value; `path` names it in errors. `undefined` never reaches here at the top level. */
export function toBson(value: unknown, opts: ConvertOptions, path = 'value'): unknown {
  switch (typeof value) {
    case 'string':
    case 'boolean':
      return value;
    case 'number':
      if (opts.finiteDoublesOnly && !Number.isFinite(value)) {
        throw new ConversionError(path, `${value} cannot be stored on this server (FerretDB accepts only finite doubles)`);
      }
      return value;
    case 'bigint':
      if (value < INT64_MIN || value > INT64_MAX) throw new ConversionError(path, `integer ${value} is outside int64`, { code: 'VALUE_OUT_OF_RANGE', value: value.toString() });
      return Long.fromBigInt(value);
    case 'undefined':
      // Inside JSON an undefined member does not exist (JSON.stringify drops it); an
      // array hole reads as null. Callers drop undefined members before calling.
      return null;
    case 'object':
      break;
    default:
      throw new ConversionError(path, `unsupported JS type ${typeof value}`);
  }
  if (value === null) return null;
  if (value instanceof Decimal) return decimalToBson(value, opts, path);
  if (value instanceof InvalidJson) throw new ConversionError(path, `invalid JSON in a JSON column (${value.reason}): ${clip(value.text)}`);
  if (value instanceof Date) {
    if (Number.isNaN(value.getTime())) throw new ConversionError(path, 'invalid date');
    return value;
  }
  // The driver would serialise a Buffer as Binary subtype 0 by itself; wrapping it
  // makes the stored type explicit and copies nothing.
  if (Buffer.isBuffer(value)) return new Binary(value);
  if (value instanceof Uint8Array) return new Binary(value);
  if (Array.isArray(value)) return value.map((v, i) => toBson(v, opts, `${path}.${i}`));
  if (isBsonValue(value)) return value;
  if (isPlainObject(value)) return toBsonObject(value as Record<string, unknown>, opts, path);
  throw new ConversionError(path, `unsupported value of class ${value.constructor?.name ?? 'unknown'}`);
}

function toBsonObject(obj: Record<string, unknown>, opts: ConvertOptions, path: string): Document {
  const out: Document = {};
  for (const [k, v] of Object.entries(obj)) {
    if (v === undefined) continue;
    out[k] = toBson(v, opts, `${path}.${k}`);
  }
  return out;
}

export interface ConvertedRow {
  /** Every defined column, converted. */
  doc: Document;
  /** Columns whose value is `undefined`: unchanged TOASTed columns the sink must leave alone. */
  undefinedFields: string[];
}

/** Converts a row image (`after`), separating the fields that were not sent. */
export function convertRow(row: Record<string, unknown>, opts: ConvertOptions): ConvertedRow {
  const doc: Document = {};
  const undefinedFields: string[] = [];
  for (const [k, v] of Object.entries(row)) {
    if (v === undefined) {
      undefinedFields.push(k);
      continue;
    }
    doc[k] = toBson(v, opts, k);
  }
  return { doc, undefinedFields };
}

/**
 * The document `_id` for a key: a single column's value itself, a composite key a
 * subdocument with the columns in key order (field order is part of equality in
 * MongoDB, so the order must be stable for upserts to match).
 */
export function documentId(key: Record<string, unknown>, columns: readonly string[], opts: ConvertOptions): unknown {
  if (columns.length === 0) throw new ConversionError('_id', 'the event has no key columns');
  for (const c of columns) {
    if (key[c] === undefined) throw new ConversionError(c, 'key column has no value');
  }
  if (columns.length === 1) return toBson(key[columns[0]!], opts, columns[0]!);
  const id: Document = {};
  for (const c of columns) id[c] = toBson(key[c], opts, c);
  return id;
}

/** A stable, typed text form of a converted `_id`, for grouping writes by document. */
export function idString(id: unknown): string {
  return BSON.EJSON.stringify(id as Document, { relaxed: false });
}

/** A key row as plain JSON for messages and error detail (bigint and Decimal as text). */
export function keyForDetail(key: Record<string, unknown>): Record<string, unknown> {
  return JSON.parse(
    JSON.stringify(key, (_k, v: unknown) => (typeof v === 'bigint' ? v.toString() : v)),
  ) as Record<string, unknown>;
}
