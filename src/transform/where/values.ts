/**
 * The values a filter computes with, and SQL's rules for them. Numbers stay exact
 * where the database keeps them exact (integers and decimals as scaled bigints),
 * floats stay doubles; dates and timestamps are instants in UTC (sluice's sessions
 * run in UTC, see src/core/values.ts), with a flag for a date without a time.
 */
import { Decimal, type LogicalType } from '../../core';
import type { Dialect, Interval } from './ir';

export class Exact {
  /** value = m / 10^s */
  constructor(
    readonly m: bigint,
    readonly s: number,
    /** An integer type (int2/4/8, literal 12): PostgreSQL divides those with truncation. */
    readonly int: boolean,
  ) {}

  static parse(text: string, int = !/[.]/.test(text)): Exact {
    const neg = text.startsWith('-');
    const t = neg ? text.slice(1) : text;
    const [i, f = ''] = t.split('.');
    const m = BigInt(`${i || '0'}${f}`);
    return new Exact(neg ? -m : m, f.length, int);
  }

  scaled(s: number): bigint {
    return this.m * 10n ** BigInt(s - this.s);
  }

  toNumber(): number {
    return Number(this.toString());
  }

  toString(): string {
    const neg = this.m < 0n;
    const digits = (neg ? -this.m : this.m).toString().padStart(this.s + 1, '0');
    const body = this.s === 0 ? digits : `${digits.slice(0, -this.s)}.${digits.slice(-this.s)}`;
    return neg ? `-${body}` : body;
  }
}

export class Float {
  constructor(readonly v: number) {}
}

export class Time {
  constructor(
    readonly ms: number,
    readonly dateOnly: boolean,
  ) {}
}

export class Ivl {
  constructor(readonly v: Interval) {}
}

export type Num = Exact | Float;
export type Value = null | boolean | string | Exact | Float | Time | Ivl | { opaque: unknown };

const DAY = 86_400_000;

/** A row's JS value (src/core/values.ts) as a filter value; the logical type decides when known. */
export function fromRow(v: unknown, type?: LogicalType): Value {
  if (v === null || v === undefined) return null;
  switch (type) {
    case 'int16':
    case 'int32':
    case 'int64':
      return new Exact(BigInt(v as number | bigint), 0, true);
    case 'float32':
    case 'float64':
      return new Float(Number(v));
    case 'date':
      return new Time((v as Date).getTime(), true);
    default:
      break;
  }
  if (typeof v === 'boolean' || typeof v === 'string') return v;
  if (typeof v === 'bigint') return new Exact(v, 0, true);
  if (typeof v === 'number') return Number.isInteger(v) && type !== 'decimal' ? new Exact(BigInt(v), 0, true) : new Float(v);
  if (v instanceof Decimal) return /^-?\d/.test(v.text) ? Exact.parse(v.text, false) : new Float(Number(v.text));
  if (v instanceof Date) return new Time(v.getTime(), false);
  return { opaque: v };
}

export const isNum = (v: Value): v is Num => v instanceof Exact || v instanceof Float;

/** A string as a number the way each database converts it (MySQL: leading numeric prefix, else 0). */
export function strToNum(s: string, dialect: Dialect): Num | null {
  const t = s.trim();
  if (/^[-+]?\d+(\.\d*)?$|^[-+]?\.\d+$/.test(t)) return Exact.parse(t.replace(/^\+/, '').replace(/\.$/, '').replace(/^(-?)\./, '$10.'));
  if (/^[-+]?(\d+(\.\d*)?|\.\d+)([eE][-+]?\d+)?$/.test(t)) return new Float(Number(t));
  if (dialect === 'postgresql') return null;
  const prefix = /^[-+]?(\d+(\.\d*)?|\.\d+)([eE][-+]?\d+)?/.exec(t);
  return new Float(prefix ? Number(prefix[0]) : 0);
}

/** 'YYYY-MM-DD[ HH:MM:SS[.fff]]' (UTC) as an instant. */
export function strToTime(s: string): Time | null {
  const m = /^(\d{4})-(\d{1,2})-(\d{1,2})(?:[ T](\d{1,2}):(\d{2})(?::(\d{2})(\.\d+)?)?)?(Z|[+-]00(?::?00)?)?$/.exec(s.trim());
  if (!m) return null;
  const ms = Date.UTC(+m[1]!, +m[2]! - 1, +m[3]!, +(m[4] ?? 0), +(m[5] ?? 0), +(m[6] ?? 0), Math.floor(Number(m[7] ?? 0) * 1000));
  return Number.isNaN(ms) ? null : new Time(ms, m[4] === undefined);
}

export function toNum(v: Value, dialect: Dialect): Num | null {
  if (isNum(v)) return v;
  if (typeof v === 'boolean') return new Exact(v ? 1n : 0n, 0, true);
  if (typeof v === 'string') return strToNum(v, dialect);
  return null;
}

export function numCompare(a: Num, b: Num): number {
  if (a instanceof Exact && b instanceof Exact) {
    const s = Math.max(a.s, b.s);
    const x = a.scaled(s);
    const y = b.scaled(s);
    return x < y ? -1 : x > y ? 1 : 0;
  }
  const x = a instanceof Exact ? a.toNumber() : a.v;
  const y = b instanceof Exact ? b.toNumber() : b.v;
  // PostgreSQL orders NaN above every number and equal to itself.
  if (Number.isNaN(x) || Number.isNaN(y)) return Number.isNaN(x) ? (Number.isNaN(y) ? 0 : 1) : -1;
  return x < y ? -1 : x > y ? 1 : 0;
}

/**
 * String order: PostgreSQL's C collation is byte order; MySQL's default
 * (utf8mb4_general_ci) ignores case, accents and trailing spaces.
 */
export function strCompare(a: string, b: string, dialect: Dialect): number {
  if (dialect === 'mysql') {
    const x = foldCi(a).replace(/ +$/, '');
    const y = foldCi(b).replace(/ +$/, '');
    return x < y ? -1 : x > y ? 1 : 0;
  }
  return Math.sign(Buffer.compare(Buffer.from(a, 'utf8'), Buffer.from(b, 'utf8')));
}

/** An approximation of utf8mb4_general_ci: case and accents fold away. */
export function foldCi(s: string): string {
  return s.normalize('NFD').replace(/\p{M}/gu, '').toUpperCase();
}

/** date/timestamp + interval: months first (clamped to the month's end, as both databases do), then days, then time. */
export function addInterval(t: Time, iv: Interval, sign: 1 | -1): Time {
  let ms = t.ms;
  if (iv.months) {
    const d = new Date(ms);
    const y = d.getUTCFullYear();
    const mo = d.getUTCMonth() + sign * iv.months;
    const target = new Date(Date.UTC(y, mo, 1));
    const last = new Date(Date.UTC(target.getUTCFullYear(), target.getUTCMonth() + 1, 0)).getUTCDate();
    const day = Math.min(d.getUTCDate(), last);
    ms = Date.UTC(target.getUTCFullYear(), target.getUTCMonth(), day, d.getUTCHours(), d.getUTCMinutes(), d.getUTCSeconds(), d.getUTCMilliseconds());
  }
  ms += sign * iv.days * DAY + sign * iv.ms;
  return new Time(ms, t.dateOnly && iv.ms === 0);
}

export const dayNumber = (t: Time): number => Math.floor(t.ms / DAY);

export function todayUtc(now: number): Time {
  return new Time(Math.floor(now / DAY) * DAY, true);
}

/** How MySQL shows a value when it needs its text (LIKE on a number or a date). */
export function toText(v: Value, dialect: Dialect): string | null {
  if (typeof v === 'string') return v;
  if (dialect === 'postgresql') return null;
  if (v instanceof Exact) return v.toString();
  if (v instanceof Float) return String(v.v);
  if (typeof v === 'boolean') return v ? '1' : '0';
  if (v instanceof Time) {
    const iso = new Date(v.ms).toISOString();
    return v.dateOnly ? iso.slice(0, 10) : `${iso.slice(0, 10)} ${iso.slice(11, 19)}`;
  }
  return null;
}
