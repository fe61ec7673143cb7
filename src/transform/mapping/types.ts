/**
 * Type overrides (FieldRule.type): a canonical source value (src/core/values.ts)
 * → the BSON value the rule asks for. Pure. A value that cannot be converted exactly
 * throws FieldConversionError naming the field; the sink reports it as a rejected record.
 */
import { Binary, Decimal128, Double, Int32, Long, ObjectId, UUID } from 'mongodb';
import { Decimal, InvalidJson, type MapOptions } from '../../core';
import type { FieldType } from './spec';

export const FIELD_TYPES: readonly FieldType[] = ['objectId', 'date', 'decimal128', 'uuid', 'string', 'int', 'long', 'double', 'boolean'];

/** A value a type override cannot convert; `field` is the source column. */
export class FieldConversionError extends Error {
  constructor(
    readonly field: string,
    message: string,
  ) {
    super(message);
    this.name = 'FieldConversionError';
  }
}

/** What a type override needs of the sink's conversion: how it stores decimals. */
export type TypeOptions = Pick<MapOptions, 'decimals'>;

const HEX24 = /^[0-9a-fA-F]{24}$/;
const UUID_RE = /^[0-9a-fA-F]{8}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{12}$/;
const INT_RE = /^[+-]?\d+$/;
const NUM_RE = /^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/;
const INT32_MIN = -(2 ** 31);
const INT32_MAX = 2 ** 31 - 1;
const INT64_MIN = -(2n ** 63n);
const INT64_MAX = 2n ** 63n - 1n;

const describe = (v: unknown): string => {
  if (typeof v === 'string') return JSON.stringify(v.length > 40 ? `${v.slice(0, 40)}…` : v);
  if (typeof v === 'bigint') return `${v}`;
  if (v instanceof Decimal) return v.text;
  if (v instanceof InvalidJson) return `invalid JSON ${JSON.stringify(v.text.length > 40 ? `${v.text.slice(0, 40)}…` : v.text)} (${v.reason})`;
  if (v instanceof Date) return v.toISOString();
  if (Buffer.isBuffer(v) || v instanceof Uint8Array) return `${v.length} bytes`;
  if (typeof v === 'object') return (v as object).constructor?.name ?? 'object';
  return String(v);
};

/** An integer as a bigint, or undefined when the value is not an exact integer. */
function integerOf(v: unknown): bigint | undefined {
  if (typeof v === 'bigint') return v;
  if (typeof v === 'number') return Number.isSafeInteger(v) ? BigInt(v) : undefined;
  if (typeof v === 'boolean') return v ? 1n : 0n;
  const text = v instanceof Decimal ? v.text : typeof v === 'string' ? v.trim() : undefined;
  if (text === undefined) return undefined;
  if (INT_RE.test(text)) return BigInt(text);
  // "12.000" is an integer; "12.5" is not.
  const m = /^([+-]?\d+)\.0*$/.exec(text);
  return m ? BigInt(m[1]!) : undefined;
}

/** Converts `value` (never null or undefined) to `type`; `field` names it in errors. */
export function convertType(value: unknown, type: FieldType, field: string, opts: TypeOptions): unknown {
  const fail = (why: string): never => {
    throw new FieldConversionError(field, `${describe(value)} cannot be converted to ${type}${why ? `: ${why}` : ''}`);
  };
  // A JSON column's text that does not parse is a record error under every override:
  // no type can hold it without guessing (fix the source row, or exclude the column).
  if (value instanceof InvalidJson) return fail('the source JSON column holds text that is not JSON');
  switch (type) {
    case 'string':
      if (typeof value === 'string') return value;
      if (typeof value === 'number' || typeof value === 'bigint' || typeof value === 'boolean') return String(value);
      if (value instanceof Decimal) return value.text;
      if (value instanceof Date) return Number.isNaN(value.getTime()) ? fail('invalid date') : value.toISOString();
      if (Buffer.isBuffer(value) || value instanceof Uint8Array) return Buffer.from(value).toString('hex');
      if (typeof value === 'object' && value !== null) return JSON.stringify(value, (_k, v: unknown) => (typeof v === 'bigint' ? v.toString() : v instanceof Decimal ? v.text : v));
      return fail('');
    case 'objectId':
      if (typeof value === 'string' && HEX24.test(value)) return ObjectId.createFromHexString(value.toLowerCase());
      if ((Buffer.isBuffer(value) || value instanceof Uint8Array) && value.length === 12) return new ObjectId(Buffer.from(value));
      return fail('an ObjectId needs 24 hex digits or 12 bytes');
    case 'uuid':
      if (typeof value === 'string' && UUID_RE.test(value)) return new UUID(value.replace(/-/g, '').toLowerCase());
      if ((Buffer.isBuffer(value) || value instanceof Uint8Array) && value.length === 16) return new Binary(Buffer.from(value), Binary.SUBTYPE_UUID);
      return fail('a UUID needs 32 hex digits (dashes allowed) or 16 bytes');
    case 'date': {
      let d: Date | undefined;
      if (value instanceof Date) d = value;
      else if (typeof value === 'number') d = new Date(value);
      else if (typeof value === 'bigint') d = value >= -(2n ** 53n) && value <= 2n ** 53n ? new Date(Number(value)) : undefined;
      // Only ISO-8601 text with a date part: Date.parse accepts too much else.
      else if (typeof value === 'string' && /^\d{4}-\d{2}-\d{2}([T ][\d:.]+(Z|[+-]\d{2}(:?\d{2})?)?)?$/.test(value.trim())) d = new Date(value.trim().replace(' ', 'T'));
      if (!d || Number.isNaN(d.getTime())) return fail('a date needs a timestamp, milliseconds since 1970, or ISO-8601 text');
      return d;
    }
    case 'decimal128': {
      let text: string | undefined;
      if (value instanceof Decimal) text = value.text;
      else if (typeof value === 'bigint') text = value.toString();
      else if (typeof value === 'number') text = Number.isFinite(value) ? String(value) : undefined;
      else if (typeof value === 'string' && NUM_RE.test(value.trim())) text = value.trim();
      if (text === undefined) return fail('not a number');
      if (opts.decimals === 'string') return text;
      try {
        return Decimal128.fromString(text);
      } catch (err) {
        return fail(`does not fit Decimal128 exactly (${(err as Error).message})`);
      }
    }
    case 'int': {
      const i = integerOf(value);
      if (i === undefined) return fail('not an integer');
      if (i < BigInt(INT32_MIN) || i > BigInt(INT32_MAX)) return fail('outside int32');
      return new Int32(Number(i));
    }
    case 'long': {
      const i = integerOf(value);
      if (i === undefined) return fail('not an integer');
      if (i < INT64_MIN || i > INT64_MAX) return fail('outside int64');
      return Long.fromBigInt(i);
    }
    case 'double': {
      let n: number | undefined;
      if (typeof value === 'number') n = value;
      else if (typeof value === 'bigint') n = Number(value);
      else if (value instanceof Decimal) n = Number(value.text);
      else if (typeof value === 'string' && NUM_RE.test(value.trim())) n = Number(value.trim());
      else if (typeof value === 'boolean') n = value ? 1 : 0;
      if (n === undefined || Number.isNaN(n)) return fail('not a number');
      return new Double(n);
    }
    case 'boolean':
      if (typeof value === 'boolean') return value;
      if (value === 0 || value === 1 || value === 0n || value === 1n) return Number(value) === 1;
      if (typeof value === 'string') {
        const t = value.trim().toLowerCase();
        if (['true', 't', '1', 'yes', 'y'].includes(t)) return true;
        if (['false', 'f', '0', 'no', 'n'].includes(t)) return false;
      }
      return fail('a boolean needs true/false, 1/0 or t/f');
    default:
      return fail(`unknown type ${String(type)}`);
  }
}
