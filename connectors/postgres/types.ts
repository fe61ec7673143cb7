/**
 * PostgreSQL text representation → the canonical values of src/core/values.ts.
 *
 * Both paths read text: pgoutput sends every column in its text form, and the
 * snapshot client is configured (RAW_TEXT_TYPES) to hand back the server's text
 * untouched. One converter therefore decides every value, so a row read by the
 * snapshot and the same row read from the WAL are equal field by field.
 *
 * Sessions are opened with fixed output settings (SESSION_OPTIONS: DateStyle ISO,
 * TimeZone UTC, IntervalStyle iso_8601, bytea_output hex), so the parsers below
 * only need to understand one format each; the walsender honours the same GUCs.
 *
 * Documented choices:
 * - `infinity` / `-infinity` dates and timestamps become the JS Date extremes
 *   (±8.64e15 ms, i.e. +275760-09-13 / -271821-04-20): they keep their order against
 *   every real date and survive BSON, where null would lose the meaning.
 * - timestamps keep millisecond precision (a JS Date); microseconds are truncated.
 * - numeric NaN / ±Infinity stay Decimal("NaN" / "Infinity" / "-Infinity").
 * - anything without a better model (inet, cidr, macaddr, money, bit, xml, ranges,
 *   geometric types, composites) is its PostgreSQL text, unchanged.
 */
import { Decimal, type LogicalType } from '../../src/core';

/** What the converter needs to know about a type; builtins are below, others come from pg_type. */
export interface PgType {
  oid: number;
  name: string;
  logical: LogicalType;
  /** For arrays: the element type's OID. */
  elementOid?: number;
  /** Array element delimiter (',' for all but box). */
  delimiter?: string;
  enumValues?: string[];
}

/** Startup options for every session we open, snapshot and walsender alike. */
export const SESSION_OPTIONS = '-c DateStyle=ISO -c TimeZone=UTC -c IntervalStyle=iso_8601 -c bytea_output=hex -c extra_float_digits=1';

/** pg client `types` override: every column comes back as the server's text. */
export const RAW_TEXT_TYPES = { getTypeParser: () => (value: string) => value } as const;

const scalars: Array<[number, string, LogicalType]> = [
  [16, 'bool', 'boolean'],
  [17, 'bytea', 'bytes'],
  [18, 'char', 'string'],
  [19, 'name', 'string'],
  [20, 'int8', 'int64'],
  [21, 'int2', 'int16'],
  [23, 'int4', 'int32'],
  [25, 'text', 'string'],
  [26, 'oid', 'int64'],
  [114, 'json', 'json'],
  [142, 'xml', 'string'],
  [650, 'cidr', 'string'],
  [700, 'float4', 'float32'],
  [701, 'float8', 'float64'],
  [790, 'money', 'string'],
  [829, 'macaddr', 'string'],
  [869, 'inet', 'string'],
  [1042, 'bpchar', 'string'],
  [1043, 'varchar', 'string'],
  [1082, 'date', 'date'],
  [1083, 'time', 'time'],
  [1114, 'timestamp', 'timestamp'],
  [1184, 'timestamptz', 'timestamptz'],
  [1186, 'interval', 'interval'],
  [1266, 'timetz', 'time'],
  [1700, 'numeric', 'decimal'],
  [2950, 'uuid', 'uuid'],
  [3802, 'jsonb', 'json'],
];
// [array oid, element oid]
const arrays: Array<[number, number]> = [
  [1000, 16], [1001, 17], [1002, 18], [1003, 19], [1016, 20], [1005, 21], [1007, 23], [1009, 25],
  [1028, 26], [199, 114], [143, 142], [651, 650], [1021, 700], [1022, 701], [791, 790], [1040, 829],
  [1041, 869], [1014, 1042], [1015, 1043], [1182, 1082], [1183, 1083], [1115, 1114], [1185, 1184],
  [1187, 1186], [1270, 1266], [1231, 1700], [2951, 2950], [3807, 3802],
];

export const BUILTIN_TYPES: ReadonlyMap<number, PgType> = new Map<number, PgType>([
  ...scalars.map(([oid, name, logical]): [number, PgType] => [oid, { oid, name, logical }]),
  ...arrays.map(([oid, elementOid]): [number, PgType] => [
    oid,
    { oid, name: `_${scalars.find((s) => s[0] === elementOid)![1]}`, logical: 'array', elementOid, delimiter: ',' },
  ]),
]);

/** Any type we know nothing better about is carried as its text. */
export const textType = (oid: number, name = `oid ${oid}`): PgType => ({ oid, name, logical: 'string' });

export type TypeLookup = (oid: number) => PgType;

const MAX_DATE_MS = 8.64e15;

/** Converts one column value from its text form. null stays null, undefined (unchanged TOAST) stays undefined. */
export function decodeText(text: string | null | undefined, type: PgType, lookup: TypeLookup): unknown {
  if (text === null || text === undefined) return text;
  switch (type.logical) {
    case 'boolean':
      return text === 't' || text === 'true';
    case 'int16':
    case 'int32':
      return Number.parseInt(text, 10);
    case 'int64':
      return BigInt(text);
    case 'float32':
    case 'float64':
      return Number(text);
    case 'decimal':
      return new Decimal(text);
    case 'uuid':
      return text.toLowerCase();
    case 'json':
      return JSON.parse(text);
    case 'bytes':
      return decodeBytea(text);
    case 'date':
      return decodeDate(text);
    case 'timestamp':
    case 'timestamptz':
      return decodeTimestamp(text);
    case 'interval':
      return decodeInterval(text);
    case 'array': {
      const elem = lookup(type.elementOid ?? 25);
      return parseArray(text, (s) => decodeText(s, elem, lookup), type.delimiter ?? ',');
    }
    default:
      // string, enum, time (kept as "HH:MM:SS[.ffffff][+TZ]")
      return text;
  }
}

export function decodeBytea(text: string): Buffer {
  if (text.startsWith('\\x')) return Buffer.from(text.slice(2), 'hex');
  // bytea_output=escape: backslash-octal escapes and doubled backslashes.
  const out: number[] = [];
  for (let i = 0; i < text.length; ) {
    if (text[i] === '\\') {
      if (text[i + 1] === '\\') {
        out.push(0x5c);
        i += 2;
      } else {
        out.push(Number.parseInt(text.slice(i + 1, i + 4), 8));
        i += 4;
      }
    } else {
      out.push(text.charCodeAt(i));
      i++;
    }
  }
  return Buffer.from(out);
}

function infinity(text: string): Date | null {
  if (text === 'infinity') return new Date(MAX_DATE_MS);
  if (text === '-infinity') return new Date(-MAX_DATE_MS);
  return null;
}

function utc(year: number, month: number, day: number, h = 0, m = 0, s = 0, ms = 0): Date {
  const d = new Date(Date.UTC(2000, month - 1, day, h, m, s, ms));
  d.setUTCFullYear(year); // Date.UTC maps years 0..99 to 1900..1999
  return d;
}

/** "2024-02-29" (or "0044-03-15 BC") → that day's UTC midnight. */
export function decodeDate(text: string): Date {
  const inf = infinity(text);
  if (inf) return inf;
  const m = /^(\d{4,})-(\d\d)-(\d\d)( BC)?$/.exec(text);
  if (!m) throw new TypeError(`not a PostgreSQL date: ${text}`);
  const year = m[4] ? 1 - Number(m[1]) : Number(m[1]);
  return utc(year, Number(m[2]), Number(m[3]));
}

/**
 * "2024-02-29 13:14:15.123456" (timestamp: wall clock read as UTC) or with a
 * "+05:30" style offset (timestamptz: the instant).
 */
export function decodeTimestamp(text: string): Date {
  const inf = infinity(text);
  if (inf) return inf;
  const m = /^(\d{4,})-(\d\d)-(\d\d)[ T](\d\d):(\d\d):(\d\d)(?:\.(\d+))?(?:([+-])(\d\d)(?::?(\d\d))?(?::?(\d\d))?)?( BC)?$/.exec(text);
  if (!m) throw new TypeError(`not a PostgreSQL timestamp: ${text}`);
  const year = m[12] ? 1 - Number(m[1]) : Number(m[1]);
  const ms = m[7] ? Number(m[7].slice(0, 3).padEnd(3, '0')) : 0;
  const d = utc(year, Number(m[2]), Number(m[3]), Number(m[4]), Number(m[5]), Number(m[6]), ms);
  if (m[8]) {
    const offsetSec = Number(m[9]) * 3600 + Number(m[10] ?? 0) * 60 + Number(m[11] ?? 0);
    d.setTime(d.getTime() - (m[8] === '-' ? -1 : 1) * offsetSec * 1000);
  }
  return d;
}

/**
 * ISO 8601 duration. The server already formats iso_8601 (SESSION_OPTIONS); the
 * "postgres" style ("1 year 2 mons 3 days 04:05:06.5", "-1 days +02:00:00") is
 * converted for sessions where the option was not applied.
 */
export function decodeInterval(text: string): string {
  if (text.startsWith('P') || text.startsWith('-P')) return text;
  const parts: Record<string, number> = { Y: 0, M: 0, D: 0 };
  let time = '';
  for (const tok of text.matchAll(/([+-]?\d+) (year|mon|day)s?|([+-]?)(\d+):(\d\d):(\d\d(?:\.\d+)?)/g)) {
    if (tok[2]) parts[tok[2] === 'year' ? 'Y' : tok[2] === 'mon' ? 'M' : 'D'] = Number(tok[1]);
    else {
      const sign = tok[3] === '-' ? '-' : '';
      const [h, mi, s] = [Number(tok[4]), Number(tok[5]), tok[6]!];
      time = [h ? `${sign}${h}H` : '', mi ? `${sign}${mi}M` : '', Number(s) ? `${sign}${s.replace(/^0(\d)/, '$1')}S` : ''].join('');
    }
  }
  const date = [parts.Y ? `${parts.Y}Y` : '', parts.M ? `${parts.M}M` : '', parts.D ? `${parts.D}D` : ''].join('');
  if (!date && !time) return 'PT0S';
  return `P${date}${time ? `T${time}` : ''}`;
}

/**
 * Parses PostgreSQL's array text ("{1,NULL,\"a b\",{2,3}}", optionally prefixed by
 * dimension bounds "[0:1]="); NULL elements become null, elements go through `elem`.
 */
export function parseArray(text: string, elem: (s: string | null) => unknown, delimiter = ','): unknown[] {
  let i = text.startsWith('[') ? text.indexOf('=') + 1 : 0;
  const parseLevel = (): unknown[] => {
    if (text[i] !== '{') throw new TypeError(`not a PostgreSQL array: ${text}`);
    i++;
    const out: unknown[] = [];
    if (text[i] === '}') {
      i++;
      return out;
    }
    for (;;) {
      if (text[i] === '{') out.push(parseLevel());
      else if (text[i] === '"') {
        let s = '';
        i++;
        while (text[i] !== '"') {
          if (i >= text.length) throw new TypeError(`unterminated array element: ${text}`);
          if (text[i] === '\\') i++;
          s += text[i++];
        }
        i++;
        out.push(elem(s));
      } else {
        let j = i;
        while (j < text.length && text[j] !== delimiter && text[j] !== '}') j++;
        const raw = text.slice(i, j).trim();
        i = j;
        out.push(raw === 'NULL' ? elem(null) : elem(raw));
      }
      if (text[i] === delimiter) i++;
      else if (text[i] === '}') {
        i++;
        return out;
      } else throw new TypeError(`malformed PostgreSQL array: ${text}`);
    }
  };
  return parseLevel();
}

/** numeric typmod → precision/scale (undefined when unconstrained). */
export function numericPrecision(typmod: number): { precision?: number; scale?: number } {
  if (typmod < 4) return {};
  const v = typmod - 4;
  return { precision: (v >> 16) & 0xffff, scale: v & 0xffff };
}
