/**
 * The expression tree as a predicate over a row, with SQL's semantics: three-valued
 * logic (a row passes only when the clause is TRUE, never when it is NULL), NULL
 * propagation through operators and functions, each dialect's comparison rules.
 * The integration test (where.integration.test.ts) holds it to what PostgreSQL and
 * MariaDB themselves pick.
 */
import type { Row, LogicalType } from '../../core';
import { columnsOf, type CmpOp, type Dialect, type Expr } from './ir';
import { compileLike, type LikeMatcher, type WorkMeter } from './like';
import { SluiceError, isSluiceError } from '../../errors';
import {
  addInterval,
  dayNumber,
  Exact,
  Float,
  foldCi,
  fromRow,
  isNum,
  Ivl,
  numCompare,
  strCompare,
  strToNum,
  strToTime,
  Time,
  toNum,
  toText,
  todayUtc,
  type Num,
  type Value,
} from './values';

export interface EvalEnv {
  /** "Now" for NOW() and CURRENT_DATE, fixed per evaluation like a statement's start. */
  now: number;
  /** LIKE's work on this row, capped (like.ts). */
  work?: WorkMeter;
}

type Fn = (row: Row, env: EvalEnv) => Value;

/** Compiles `e` into a predicate: true when the row passes. `types` gives each column's logical type. */
export function toPredicate(e: Expr, dialect: Dialect, types: ReadonlyMap<string, LogicalType> = new Map()): (row: Row, now?: number) => boolean {
  const f = compile(e, dialect, types);
  return (row, now = Date.now()) => truth(f(row, { now, work: { steps: 0 } }), dialect) === true;
}

/** The earliest instant PostgreSQL's timestamp holds (4713 BC); JavaScript's Date ends before its latest. */
const EARLIEST_MS = Date.UTC(-4712, 0, 1);

/**
 * A part of the clause without columns whose value the databases refuse (a date out of
 * their range, a double past its range): such a clause passed the create check and then
 * failed every start (issue 22). Evaluated once, now, at compile time; null when fine.
 */
export function constantProblem(e: Expr, d: Dialect): string | null {
  const stack: Expr[] = [e];
  while (stack.length) {
    const x = stack.pop()!;
    if ((x.k === 'arith' || x.k === 'neg') && columnsOf(x).size === 0) {
      const v = compile(x, d, new Map())({}, { now: Date.now() });
      if (v instanceof Time && !(Number.isFinite(v.ms) && v.ms >= EARLIEST_MS)) return 'a date computed from constants lies outside the range of dates the databases hold';
      if (v instanceof Float && !Number.isFinite(v.v)) return 'a number computed from constants lies outside the range of a double';
      continue;
    }
    for (const child of Object.values(x)) {
      if (Array.isArray(child)) for (const c of child.flat()) if (c && typeof c === 'object' && 'k' in c) stack.push(c as Expr);
      if (child && typeof child === 'object' && 'k' in child) stack.push(child as Expr);
    }
  }
  return null;
}

/** SQL's truth value of a value: true, false or null (unknown). */
export function truth(v: Value, dialect: Dialect): boolean | null {
  if (v === null || typeof v === 'boolean') return v;
  if (typeof v === 'string') {
    if (dialect === 'postgresql') {
      const t = v.trim().toLowerCase();
      if (['t', 'true', 'y', 'yes', 'on', '1'].includes(t)) return true;
      if (['f', 'false', 'n', 'no', 'off', '0'].includes(t)) return false;
      return null;
    }
    const n = strToNum(v, dialect);
    return n === null ? null : numCompare(n, new Exact(0n, 0, true)) !== 0;
  }
  if (isNum(v)) return numCompare(v, new Exact(0n, 0, true)) !== 0;
  return null;
}

function compile(e: Expr, d: Dialect, types: ReadonlyMap<string, LogicalType>): Fn {
  const c = (x: Expr): Fn => compile(x, d, types);
  switch (e.k) {
    case 'col': {
      const type = types.get(e.name);
      const name = e.name;
      return (row) => fromRow(row[name], type);
    }
    case 'null':
      return () => null;
    case 'bool':
      return () => e.v;
    case 'num': {
      const v = e.float ? new Float(Number(e.text)) : Exact.parse(e.text);
      return () => v;
    }
    case 'str':
      return () => e.v;
    case 'typed': {
      const t = strToTime(e.v)!;
      const v = e.type === 'date' ? new Time(t.ms, true) : new Time(t.ms, false);
      return () => v;
    }
    case 'interval': {
      const v = new Ivl(e.v);
      return () => v;
    }
    case 'cmp': {
      const l = c(e.l);
      const r = c(e.r);
      const op = e.op;
      return (row, env) => {
        const k = compare(l(row, env), r(row, env), d);
        return k === null ? null : test(op, k);
      };
    }
    case 'and':
    case 'or': {
      const l = c(e.l);
      const r = c(e.r);
      const isAnd = e.k === 'and';
      return (row, env) => {
        const a = truth(l(row, env), d);
        if (a === !isAnd) return a;
        const b = truth(r(row, env), d);
        if (b === !isAnd) return b;
        return a === null || b === null ? null : isAnd;
      };
    }
    case 'not': {
      const x = c(e.e);
      return (row, env) => {
        const t = truth(x(row, env), d);
        return t === null ? null : !t;
      };
    }
    case 'is': {
      const x = c(e.e);
      const { what, not } = e;
      return (row, env) => {
        const v = x(row, env);
        const r = what === 'null' ? v === null : truth(v, d) === (what === 'true');
        return not ? !r : r;
      };
    }
    case 'in': {
      const x = c(e.e);
      const list = e.list.map(c);
      const not = e.not;
      return (row, env) => {
        const v = x(row, env);
        if (v === null) return null;
        let unknown = false;
        for (const item of list) {
          const k = compare(v, item(row, env), d);
          if (k === 0) return !not;
          if (k === null) unknown = true;
        }
        return unknown ? null : not;
      };
    }
    case 'between': {
      const x = c(e.e);
      const lo = c(e.lo);
      const hi = c(e.hi);
      const not = e.not;
      return (row, env) => {
        const v = x(row, env);
        const a = compare(v, lo(row, env), d);
        const b = compare(v, hi(row, env), d);
        const ge = a === null ? null : a >= 0;
        const le = b === null ? null : b <= 0;
        const r = ge === false || le === false ? false : ge === null || le === null ? null : true;
        return r === null ? null : not ? !r : r;
      };
    }
    case 'like': {
      const x = c(e.e);
      const p = c(e.pattern);
      const ci = e.ci || d === 'mysql';
      const escape = e.escape ?? '\\';
      const not = e.not;
      const cache = new Map<string, LikeMatcher>();
      const column = e.e.k === 'col' ? e.e.name : undefined;
      return (row, env) => {
        const v = toText(x(row, env), d);
        const pat = toText(p(row, env), d);
        if (v === null || pat === null) return null;
        let m = cache.get(pat);
        if (!m) {
          m = compileLike(ci && d === 'mysql' ? foldCi(pat) : pat, escape, ci && d !== 'mysql');
          if (cache.size < 100) cache.set(pat, m);
        }
        let r: boolean;
        try {
          r = m.test(ci && d === 'mysql' ? foldCi(v) : v, env.work);
        } catch (err) {
          if (column !== undefined && isSluiceError(err)) throw new SluiceError(err.code, `${err.message}, column ${column}`, { ...err.detail, column }, { cause: err });
          throw err;
        }
        return not ? !r : r;
      };
    }
    case 'arith': {
      const l = c(e.l);
      const r = c(e.r);
      const op = e.op;
      return (row, env) => arith(op, l(row, env), r(row, env), d);
    }
    case 'neg': {
      const x = c(e.e);
      return (row, env) => arith('-', new Exact(0n, 0, true), x(row, env), d);
    }
    case 'case': {
      const operand = e.operand && c(e.operand);
      const whens = e.whens.map(([w, t]) => [c(w), c(t)] as const);
      const otherwise = e.else && c(e.else);
      return (row, env) => {
        const o = operand?.(row, env);
        for (const [w, t] of whens) {
          const hit = operand ? compare(o!, w(row, env), d) === 0 : truth(w(row, env), d) === true;
          if (hit) return t(row, env);
        }
        return otherwise ? otherwise(row, env) : null;
      };
    }
    case 'fn':
      return fn(e.name, e.args.map(c), d);
  }
}

function fn(name: Extract<Expr, { k: 'fn' }>['name'], args: Fn[], d: Dialect): Fn {
  switch (name) {
    case 'coalesce':
      return (row, env) => {
        for (const a of args) {
          const v = a(row, env);
          if (v !== null) return v;
        }
        return null;
      };
    case 'lower':
    case 'upper': {
      const a = args[0]!;
      return (row, env) => {
        const v = toText(a(row, env), d);
        return v === null ? null : name === 'lower' ? v.toLowerCase() : v.toUpperCase();
      };
    }
    case 'now':
      return (_row, env) => new Time(env.now, false);
    case 'current_date':
      return (_row, env) => todayUtc(env.now);
    case 'datediff': {
      const [a, b] = args as [Fn, Fn];
      return (row, env) => {
        const x = asTime(a(row, env));
        const y = asTime(b(row, env));
        return x === null || y === null ? null : new Exact(BigInt(dayNumber(x) - dayNumber(y)), 0, true);
      };
    }
  }
}

function asTime(v: Value): Time | null {
  if (v instanceof Time) return v;
  if (typeof v === 'string') return strToTime(v);
  return null;
}

function test(op: CmpOp, k: number): boolean {
  switch (op) {
    case '=':
      return k === 0;
    case '<>':
      return k !== 0;
    case '<':
      return k < 0;
    case '<=':
      return k <= 0;
    case '>':
      return k > 0;
    case '>=':
      return k >= 0;
  }
}

/** -1/0/1, or null when either side is NULL or the two cannot be compared. */
export function compare(a: Value, b: Value, d: Dialect): number | null {
  if (a === null || b === null) return null;
  if (typeof a === 'string' && typeof b === 'string') return strCompare(a, b, d);
  if (a instanceof Time || b instanceof Time) {
    const x = asTime(a);
    const y = asTime(b);
    return x === null || y === null ? null : Math.sign(x.ms - y.ms);
  }
  if (typeof a === 'boolean' && typeof b === 'boolean') return Number(a) - Number(b);
  if (d === 'postgresql' && (typeof a === 'boolean' || typeof b === 'boolean')) {
    const x = truth(a, d);
    const y = truth(b, d);
    return x === null || y === null ? null : Number(x) - Number(y);
  }
  const x = toNum(a, d);
  const y = toNum(b, d);
  return x === null || y === null ? null : numCompare(x, y);
}

function arith(op: '+' | '-' | '*' | '/' | '%', a: Value, b: Value, d: Dialect): Value {
  if (a === null || b === null) return null;
  if (a instanceof Time || b instanceof Time || a instanceof Ivl || b instanceof Ivl) return timeArith(op, a, b, d);
  const x = toNum(a, d);
  const y = toNum(b, d);
  if (x === null || y === null) return null;
  if (x instanceof Float || y instanceof Float) {
    const p = x instanceof Float ? x.v : x.toNumber();
    const q = y instanceof Float ? y.v : y.toNumber();
    if ((op === '/' || op === '%') && q === 0) return null;
    return new Float(op === '+' ? p + q : op === '-' ? p - q : op === '*' ? p * q : op === '/' ? p / q : p % q);
  }
  return exactArith(op, x, y, d);
}

function exactArith(op: '+' | '-' | '*' | '/' | '%', x: Exact, y: Exact, d: Dialect): Num | null {
  const int = x.int && y.int;
  const s = Math.max(x.s, y.s);
  switch (op) {
    case '+':
      return new Exact(x.scaled(s) + y.scaled(s), s, int);
    case '-':
      return new Exact(x.scaled(s) - y.scaled(s), s, int);
    case '*':
      return new Exact(x.m * y.m, x.s + y.s, int);
    case '%':
      return y.m === 0n ? null : new Exact(x.scaled(s) % y.scaled(s), s, int);
    case '/': {
      if (y.m === 0n) return null;
      // PostgreSQL: integer / integer truncates.
      if (int && d === 'postgresql') return new Exact(x.m / y.m, 0, true);
      // MySQL: the dividend's scale plus div_precision_increment (4), rounded half up.
      // PostgreSQL numeric: at least 16 significant digits; 20 decimals is as exact as
      // any comparison against a literal needs.
      const scale = d === 'mysql' ? x.s + 4 : Math.max(20, s);
      const num = x.m * 10n ** BigInt(scale + y.s - x.s + 1);
      let q = num / y.m;
      q = q >= 0n ? (q + 5n) / 10n : (q - 5n) / 10n;
      return new Exact(q, scale, false);
    }
  }
}

function timeArith(op: string, a: Value, b: Value, d: Dialect): Value {
  if (a instanceof Time && b instanceof Ivl && (op === '+' || op === '-')) return addInterval(a, b.v, op === '+' ? 1 : -1);
  if (a instanceof Ivl && b instanceof Time && op === '+') return addInterval(b, a.v, 1);
  if (d === 'postgresql') {
    const n = isNum(b) ? b : null;
    // date ± integer days; date - date = days.
    if (a instanceof Time && a.dateOnly && n instanceof Exact && n.int && (op === '+' || op === '-')) {
      return new Time(a.ms + (op === '+' ? 1 : -1) * Number(n.m) * 86_400_000, true);
    }
    if (a instanceof Time && b instanceof Time && a.dateOnly && b.dateOnly && op === '-') return new Exact(BigInt(dayNumber(a) - dayNumber(b)), 0, true);
    if (a instanceof Time && typeof b === 'string' && op === '-') {
      const t = strToTime(b);
      if (t && a.dateOnly && t.dateOnly) return new Exact(BigInt(dayNumber(a) - dayNumber(t)), 0, true);
    }
  }
  return null;
}
