/**
 * One column's Kafka Connect schema and its JSON codec, following Debezium's default
 * mappings (decimal.handling.mode=precise, time.precision.mode=adaptive_time_microseconds,
 * interval.handling.mode=string). Codecs are built once per column (see serde.ts's
 * caches), so the per-event work is one closure call per value.
 */
import { Decimal, InvalidJson, parseJsonColumn, type ColumnSpec, type LogicalType } from '../../core';
import { SluiceError } from '../../errors';

/** Debezium's `unavailable.value.placeholder` default, written for unchanged TOASTed values. */
export const UNAVAILABLE = '__debezium_unavailable_value';
const UNAVAILABLE_BYTES = Buffer.from(UNAVAILABLE, 'utf8');
const UNAVAILABLE_B64 = UNAVAILABLE_BYTES.toString('base64');

export type ConnectSchema = {
  type: string;
  optional?: boolean;
  name?: string;
  version?: number;
  parameters?: Record<string, string>;
  fields?: ConnectSchema[];
  items?: ConnectSchema;
  field?: string;
};

export interface ColumnCodec {
  schema: ConnectSchema;
  /** JSON text of a defined, non-null value. */
  encode(v: unknown): string;
  /** A parsed JSON value (never null) back to the canonical JS value. */
  decode(v: unknown): unknown;
  /**
   * JSON text Debezium writes in place of an unavailable value of this type, or null
   * when the type cannot hold one (then serde.ts writes null and a sidecar entry).
   */
  placeholder: string | null;
  /** Recognises an in-band placeholder on decode. */
  isPlaceholder(v: unknown): boolean;
}

// Debezium's column.propagate.source.type parameters: they let decode rebuild the ColumnSpec.
export const SOURCE_TYPE = '__debezium.source.column.type';
export const SOURCE_LENGTH = '__debezium.source.column.length';
export const SOURCE_SCALE = '__debezium.source.column.scale';
export const MS_PER_DAY = 86_400_000;
const never = () => false;

export function rejected(message: string, detail: Record<string, unknown>): SluiceError {
  return new SluiceError('SINK_RECORD_REJECTED', message, detail);
}

// ---- exact integers and decimals -------------------------------------------------

/** A parsed JSON integer (number, or bigint when lossless-json kept its digits) as bigint. */
export function toBigInt(v: unknown): bigint {
  if (typeof v === 'bigint') return v;
  if (typeof v === 'number' && Number.isInteger(v)) return BigInt(v);
  if (typeof v === 'string' && /^-?\d+$/.test(v)) return BigInt(v);
  throw new TypeError(`not an integer: ${String(v)}`);
}

/** Java BigInteger.toByteArray(): minimal big-endian two's complement. */
export function bigIntToBytes(n: bigint): Buffer {
  let hex: string;
  if (n >= 0n) {
    hex = n.toString(16);
    if (hex.length % 2) hex = '0' + hex;
    if (parseInt(hex[0]!, 16) >= 8) hex = '00' + hex;
  } else {
    let bytes = 1;
    while (n < -(1n << BigInt(8 * bytes - 1))) bytes++;
    hex = ((1n << BigInt(8 * bytes)) + n).toString(16).padStart(bytes * 2, '0');
  }
  return Buffer.from(hex, 'hex');
}

export function bytesToBigInt(b: Buffer): bigint {
  if (b.length === 0) return 0n;
  const u = BigInt('0x' + b.toString('hex'));
  return b[0]! & 0x80 ? u - (1n << BigInt(8 * b.length)) : u;
}

/** Splits decimal text into unscaled value and scale ("-12.340" → -12340n, 3). */
export function parseDecimal(text: string): { unscaled: bigint; scale: number } {
  const neg = text.startsWith('-');
  const body = neg ? text.slice(1) : text;
  const dot = body.indexOf('.');
  const digits = dot < 0 ? body : body.slice(0, dot) + body.slice(dot + 1);
  const u = BigInt(digits);
  return { unscaled: neg ? -u : u, scale: dot < 0 ? 0 : body.length - dot - 1 };
}

export function formatDecimal(unscaled: bigint, scale: number): string {
  if (scale <= 0) return (unscaled * 10n ** BigInt(-scale)).toString();
  const neg = unscaled < 0n;
  const digits = (neg ? -unscaled : unscaled).toString().padStart(scale + 1, '0');
  return (neg ? '-' : '') + digits.slice(0, -scale) + '.' + digits.slice(-scale);
}

/** Rescales to a column's fixed scale; refuses to drop non-zero digits. */
function rescale(text: string, target: number, col: string): bigint {
  const { unscaled, scale } = parseDecimal(text);
  if (target >= scale) return unscaled * 10n ** BigInt(target - scale);
  const div = 10n ** BigInt(scale - target);
  if (unscaled % div !== 0n) throw rejected(`decimal ${text} does not fit scale ${target} of column ${col}`, { field: col });
  return unscaled / div;
}

export const isDecimalSpecial = (v: unknown): boolean => v instanceof Decimal && /^(NaN|-?Infinity)$/.test(v.text);

// ---- time ------------------------------------------------------------------------

function timeToMicros(s: string, col: string): bigint {
  const m = /^(\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,6}))?$/.exec(s);
  if (!m) throw rejected(`time "${s}" of column ${col} is not HH:MM:SS[.ffffff]`, { field: col });
  const secs = Number(m[1]) * 3600 + Number(m[2]) * 60 + Number(m[3]);
  return BigInt(secs) * 1_000_000n + BigInt((m[4] ?? '').padEnd(6, '0') || '0');
}

function microsToTime(us: bigint): string {
  const secs = Number(us / 1_000_000n);
  const frac = Number(us % 1_000_000n);
  const p = (n: number) => String(n).padStart(2, '0');
  const base = `${p(Math.floor(secs / 3600))}:${p(Math.floor(secs / 60) % 60)}:${p(secs % 60)}`;
  return frac ? `${base}.${String(frac).padStart(6, '0').replace(/0+$/, '')}` : base;
}

/** Floor division for pre-1970 instants (bigint division truncates toward zero). */
export function floorDiv(a: bigint, b: bigint): bigint {
  const q = a / b;
  return a % b !== 0n && a < 0n !== b < 0n ? q - 1n : q;
}

/** ISO-8601 with an offset or Z; sub-millisecond digits are dropped (Date holds ms). */
function parseZoned(s: string): Date {
  const t = Date.parse(s.replace(/(\.\d{3})\d+/, '$1'));
  if (Number.isNaN(t)) throw new TypeError(`not an ISO timestamp: ${s}`);
  return new Date(t);
}

// ---- float -----------------------------------------------------------------------

// Jackson (and so Kafka Connect) quotes non-finite doubles; JSON has no literal for them.
function encodeFloat(v: unknown): string {
  const n = v as number;
  if (Number.isFinite(n)) return Object.is(n, -0) ? '-0.0' : String(n);
  return Number.isNaN(n) ? '"NaN"' : n > 0 ? '"Infinity"' : '"-Infinity"';
}
function decodeFloat(v: unknown): number {
  if (typeof v === 'number') return v;
  if (typeof v === 'bigint') return Number(v);
  if (v === 'NaN' || v === 'Infinity' || v === '-Infinity') return Number(v);
  throw new TypeError(`not a float: ${String(v)}`);
}

// ---- the mapping -----------------------------------------------------------------

const str = JSON.stringify as (v: unknown) => string;
const isStr = (v: unknown) => v === UNAVAILABLE;
const STR_PLACEHOLDER = str(UNAVAILABLE);

export function asString(v: unknown): string {
  if (typeof v !== 'string') throw new TypeError(`not a string: ${String(v)}`);
  return v;
}

function base(col: ColumnSpec, type: LogicalType): Omit<ColumnCodec, 'schema'> & { schema: ConnectSchema } {
  const name = col.name;
  switch (type) {
    case 'boolean':
      return { schema: { type: 'boolean' }, encode: (v) => (v ? 'true' : 'false'), decode: (v) => v === true || v === 1, placeholder: null, isPlaceholder: never };
    case 'int16':
    case 'int32':
      return { schema: { type: type }, encode: (v) => String(v), decode: (v) => Number(v), placeholder: null, isPlaceholder: never };
    case 'int64':
      // All digits, always: JSON.stringify cannot write a bigint and Number would round past 2^53.
      return { schema: { type: 'int64' }, encode: (v) => (typeof v === 'bigint' ? v.toString() : String(toBigInt(v))), decode: toBigInt, placeholder: null, isPlaceholder: never };
    case 'float32':
    case 'float64':
      return { schema: { type: type === 'float32' ? 'float' : 'double' }, encode: encodeFloat, decode: decodeFloat, placeholder: null, isPlaceholder: never };
    case 'decimal': {
      if (col.scale !== undefined) {
        const scale = col.scale;
        const parameters: Record<string, string> = { scale: String(scale) };
        if (col.precision !== undefined) parameters['connect.decimal.precision'] = String(col.precision);
        return {
          schema: { type: 'bytes', name: 'org.apache.kafka.connect.data.Decimal', version: 1, parameters },
          encode: (v) => '"' + bigIntToBytes(rescale(String(v), scale, name)).toString('base64') + '"',
          decode: (v) => new Decimal(formatDecimal(bytesToBigInt(Buffer.from(asString(v), 'base64')), scale)),
          placeholder: null,
          isPlaceholder: never,
        };
      }
      return {
        schema: {
          type: 'struct',
          name: 'io.debezium.data.VariableScaleDecimal',
          version: 1,
          fields: [
            { type: 'int32', optional: false, field: 'scale' },
            { type: 'bytes', optional: false, field: 'value' },
          ],
        },
        encode: (v) => {
          const { unscaled, scale } = parseDecimal(String(v));
          return '{"scale":' + scale + ',"value":"' + bigIntToBytes(unscaled).toString('base64') + '"}';
        },
        decode: (v) => {
          const o = v as { scale: unknown; value: unknown };
          return new Decimal(formatDecimal(bytesToBigInt(Buffer.from(asString(o.value), 'base64')), Number(o.scale)));
        },
        placeholder: null,
        isPlaceholder: never,
      };
    }
    case 'string':
      return { schema: { type: 'string' }, encode: str, decode: asString, placeholder: STR_PLACEHOLDER, isPlaceholder: isStr };
    case 'uuid':
      return { schema: { type: 'string', name: 'io.debezium.data.Uuid', version: 1 }, encode: str, decode: asString, placeholder: STR_PLACEHOLDER, isPlaceholder: isStr };
    case 'enum':
      return {
        schema: { type: 'string', name: 'io.debezium.data.Enum', version: 1, parameters: { allowed: (col.enumValues ?? []).join(',') } },
        encode: str,
        decode: asString,
        placeholder: STR_PLACEHOLDER,
        isPlaceholder: isStr,
      };
    case 'json':
      return {
        schema: { type: 'string', name: 'io.debezium.data.Json', version: 1 },
        // Debezium's Json is the column's text. Text that is not JSON (a MariaDB JSON
        // column written with check constraints off) travels as it is and decodes back
        // to InvalidJson, so the sink rejects it as on the direct transport.
        encode: (v) => str(v instanceof InvalidJson ? v.text : JSON.stringify(v)),
        decode: (v) => parseJsonColumn(asString(v)),
        placeholder: STR_PLACEHOLDER,
        isPlaceholder: isStr,
      };
    case 'bytes':
      return {
        schema: { type: 'bytes' },
        encode: (v) => '"' + (v as Buffer).toString('base64') + '"',
        decode: (v) => Buffer.from(asString(v), 'base64'),
        placeholder: '"' + UNAVAILABLE_B64 + '"',
        isPlaceholder: (v) => v === UNAVAILABLE_B64,
      };
    case 'date':
      return {
        schema: { type: 'int32', name: 'io.debezium.time.Date', version: 1 },
        encode: (v) => String(Math.floor((v as Date).getTime() / MS_PER_DAY)),
        decode: (v) => new Date(Number(v) * MS_PER_DAY),
        placeholder: null,
        isPlaceholder: never,
      };
    case 'timestamp':
      return {
        schema: { type: 'int64', name: 'io.debezium.time.MicroTimestamp', version: 1 },
        encode: (v) => String((v as Date).getTime() * 1000),
        decode: (v) => new Date(Number(floorDiv(toBigInt(v), 1000n))),
        placeholder: null,
        isPlaceholder: never,
      };
    case 'timestamptz': {
      // Debezium's PostgreSQL connector writes a timestamptz with the column's six fraction
      // digits ("…15.500000Z"); sluice's times are milliseconds, so three zeros follow them.
      const micros = /^(timestamptz|timestamp\b.*\bwith time zone)/i.test(col.sourceType);
      return {
        schema: { type: 'string', name: 'io.debezium.time.ZonedTimestamp', version: 1 },
        encode: micros ? (v) => '"' + (v as Date).toISOString().slice(0, -1) + '000Z"' : (v) => '"' + (v as Date).toISOString() + '"',
        decode: (v) => parseZoned(asString(v)),
        placeholder: STR_PLACEHOLDER,
        isPlaceholder: isStr,
      };
    }
    case 'time':
      // timetz carries an offset MicroTime cannot hold: Debezium's ZonedTime string.
      if (/^(timetz|time\b.*\bwith time zone)/i.test(col.sourceType)) {
        return { schema: { type: 'string', name: 'io.debezium.time.ZonedTime', version: 1 }, encode: str, decode: asString, placeholder: STR_PLACEHOLDER, isPlaceholder: isStr };
      }
      return {
        schema: { type: 'int64', name: 'io.debezium.time.MicroTime', version: 1 },
        encode: (v) => timeToMicros(v as string, name).toString(),
        decode: (v) => microsToTime(toBigInt(v)),
        placeholder: null,
        isPlaceholder: never,
      };
    case 'interval':
      return { schema: { type: 'string', name: 'io.debezium.time.Interval', version: 1 }, encode: str, decode: asString, placeholder: STR_PLACEHOLDER, isPlaceholder: isStr };
    case 'array': {
      const el = base(col, col.elementType ?? 'string');
      if (el.schema.type === 'array') throw rejected(`nested arrays are not supported (column ${name})`, { field: name });
      const encEl = el.encode;
      const decEl = el.decode;
      // Debezium's array placeholders: [placeholder] for text/bytes elements, the
      // placeholder's bytes as numbers for int/bigint arrays; others go to the sidecar.
      const isInt = el.schema.type === 'int16' || el.schema.type === 'int32' || el.schema.type === 'int64';
      const ph = el.placeholder ? '[' + el.placeholder + ']' : isInt ? '[' + [...UNAVAILABLE_BYTES].join(',') + ']' : null;
      return {
        schema: { type: 'array', items: { ...el.schema, optional: true } },
        encode: (v) => {
          const a = v as unknown[];
          let out = '[';
          for (let i = 0; i < a.length; i++) {
            if (i) out += ',';
            const x = a[i];
            if (x === null || x === undefined) out += 'null';
            else if (isDecimalSpecial(x)) throw rejected(`decimal ${String(x)} cannot be written inside array column ${name}`, { field: name });
            else out += encEl(x);
          }
          return out + ']';
        },
        decode: (v) => (v as unknown[]).map((x) => (x === null ? null : decEl(x))),
        placeholder: ph,
        isPlaceholder: (v) => Array.isArray(v) && ph !== null && JSON.stringify(v, (_k, x) => (typeof x === 'bigint' ? Number(x) : x)) === ph,
      };
    }
  }
}

/** The codec of one column, with Debezium's propagated source type so decode can rebuild the ColumnSpec. */
export function columnCodec(col: ColumnSpec): ColumnCodec {
  const c = base(col, col.type);
  const parameters: Record<string, string> = { ...c.schema.parameters, [SOURCE_TYPE]: col.sourceType };
  if (col.precision !== undefined) parameters[SOURCE_LENGTH] = String(col.precision);
  if (col.scale !== undefined) parameters[SOURCE_SCALE] = String(col.scale);
  const { type, fields, items, name, version } = c.schema;
  // Key order as Kafka Connect's JsonConverter writes it; `field` last.
  const schema: ConnectSchema = { type, ...(fields ? { fields } : {}), ...(items ? { items } : {}), optional: col.optional };
  if (name) Object.assign(schema, { name, version });
  Object.assign(schema, { parameters, field: col.name });
  return { ...c, schema };
}
