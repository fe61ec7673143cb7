/**
 * The filter expression after parsing: a small tree of what sluice supports and
 * nothing else. Both the CDC predicate (evaluate.ts) and the snapshot's pushed-down
 * SQL (sql.ts) are generated from this tree, never from the operator's text, so the
 * two cannot drift apart and no unparsed text reaches the database.
 */
import type { SqlDialect } from '../../core';

/** The SQL dialect a clause is written in: the source connector declares it (ConnectorModule.dialect). */
export type Dialect = SqlDialect;

export type CmpOp = '=' | '<>' | '<' | '<=' | '>' | '>=';
export type ArithOp = '+' | '-' | '*' | '/' | '%';
export type FnName = 'coalesce' | 'lower' | 'upper' | 'now' | 'current_date' | 'datediff';

/** A calendar interval: months, days and milliseconds apply separately, as in both databases. */
export interface Interval {
  months: number;
  days: number;
  ms: number;
}

export type Expr =
  | { k: 'col'; name: string; at: string }
  | { k: 'null' }
  | { k: 'bool'; v: boolean }
  /** Exact numeric literal text; `float` for exponent notation (a double in both databases). */
  | { k: 'num'; text: string; float: boolean }
  | { k: 'str'; v: string }
  /** DATE 'yyyy-mm-dd' / TIMESTAMP '…' typed literals. */
  | { k: 'typed'; type: 'date' | 'timestamp'; v: string }
  | { k: 'interval'; v: Interval; text: string }
  | { k: 'cmp'; op: CmpOp; l: Expr; r: Expr }
  | { k: 'and' | 'or'; l: Expr; r: Expr }
  | { k: 'not'; e: Expr }
  | { k: 'is'; e: Expr; not: boolean; what: 'null' | 'true' | 'false' }
  | { k: 'in'; e: Expr; list: Expr[]; not: boolean }
  | { k: 'between'; e: Expr; lo: Expr; hi: Expr; not: boolean }
  | { k: 'like'; e: Expr; pattern: Expr; not: boolean; ci: boolean; escape: string | null }
  | { k: 'arith'; op: ArithOp; l: Expr; r: Expr }
  | { k: 'neg'; e: Expr }
  | { k: 'case'; operand: Expr | null; whens: Array<[Expr, Expr]>; else: Expr | null }
  | { k: 'fn'; name: FnName; args: Expr[] };

/** Every column the expression reads. */
export function columnsOf(e: Expr, out = new Set<string>()): Set<string> {
  switch (e.k) {
    case 'col':
      out.add(e.name);
      break;
    case 'cmp':
    case 'and':
    case 'or':
    case 'arith':
      columnsOf(e.l, out);
      columnsOf(e.r, out);
      break;
    case 'not':
    case 'neg':
    case 'is':
      columnsOf(e.e, out);
      break;
    case 'in':
      columnsOf(e.e, out);
      e.list.forEach((x) => columnsOf(x, out));
      break;
    case 'between':
      [e.e, e.lo, e.hi].forEach((x) => columnsOf(x, out));
      break;
    case 'like':
      columnsOf(e.e, out);
      columnsOf(e.pattern, out);
      break;
    case 'case':
      if (e.operand) columnsOf(e.operand, out);
      for (const [w, t] of e.whens) {
        columnsOf(w, out);
        columnsOf(t, out);
      }
      if (e.else) columnsOf(e.else, out);
      break;
    case 'fn':
      e.args.forEach((x) => columnsOf(x, out));
      break;
    default:
      break;
  }
  return out;
}

/** Rewrites every column reference (name resolution against the table's real columns). */
export function mapColumns(e: Expr, f: (c: { name: string; at: string }) => string): Expr {
  const m = (x: Expr): Expr => mapColumns(x, f);
  switch (e.k) {
    case 'col':
      return { ...e, name: f(e) };
    case 'cmp':
    case 'and':
    case 'or':
    case 'arith':
      return { ...e, l: m(e.l), r: m(e.r) } as Expr;
    case 'not':
    case 'neg':
    case 'is':
      return { ...e, e: m(e.e) } as Expr;
    case 'in':
      return { ...e, e: m(e.e), list: e.list.map(m) };
    case 'between':
      return { ...e, e: m(e.e), lo: m(e.lo), hi: m(e.hi) };
    case 'like':
      return { ...e, e: m(e.e), pattern: m(e.pattern) };
    case 'case':
      return { ...e, operand: e.operand && m(e.operand), whens: e.whens.map(([w, t]) => [m(w), m(t)] as [Expr, Expr]), else: e.else && m(e.else) };
    case 'fn':
      return { ...e, args: e.args.map(m) };
    default:
      return e;
  }
}
