/**
 * whereClause text → the expression tree of ir.ts, with node-sql-parser in the
 * source's dialect. Only one expression over the table's own columns gets through:
 * statements, subqueries, comments, casts and functions sluice cannot evaluate the
 * same way the database does are refused with FILTER_CLAUSE_INVALID, naming the
 * offending part. (Past 450 lines on purpose: the Translator is one walk over
 * node-sql-parser's node types; split by node kind, its refusals would scatter.
 * Its bounds live in limits.ts.)
 */
import { Parser } from 'node-sql-parser';
import { SluiceError } from '../../errors';
import type { ArithOp, CmpOp, Dialect, Expr, FnName, Interval } from './ir';
import { intervalTooLong, MAX_DEPTH, MAX_INTERVAL_YEARS, treeDepth } from './limits';

/** The parser's AST is loosely typed; we read it defensively. */
type Node = Record<string, unknown> & { type?: string; loc?: { start: { offset: number }; end: { offset: number } } };

const SENTINEL = '__sluice_filter__';
const PREFIX = `SELECT * FROM ${SENTINEL} WHERE (\n`;
const parser = new Parser();

export interface ParseOptions {
  dialect: Dialect;
  /** The table the clause filters; a column qualified with this name is accepted. */
  table?: string;
}

class Refusal extends Error {
  constructor(
    readonly reason: string,
    readonly node: Node | null,
  ) {
    super(reason);
  }
}

/** Parses and checks a whereClause; throws FILTER_CLAUSE_INVALID pointing at the offending part. */
export function parseWhere(clause: string, opts: ParseOptions): Expr {
  const fail = (reason: string, offset?: number, end?: number): never => {
    const part = offset === undefined ? clause : clause.slice(offset, Math.max(end ?? clause.length, offset + 1)).trim() || clause.slice(offset, offset + 20);
    throw new SluiceError('FILTER_CLAUSE_INVALID', `whereClause ${JSON.stringify(clause)}: ${reason}${offset === undefined ? '' : ` (at ${JSON.stringify(part)}, offset ${offset})`}`, {
      clause,
      reason,
      ...(offset === undefined ? {} : { part, offset }),
    });
  };
  if (clause.trim() === '') fail('the clause is empty; leave whereClause out to take every row');
  const lexical = scanOutsideQuotes(clause, opts.dialect);
  if (lexical) fail(lexical.reason, lexical.offset, lexical.offset + 2);

  // node-sql-parser's PostgreSQL grammar reads a bare `at` as the start of AT TIME ZONE;
  // PostgreSQL itself takes it for a column. Quote it (same name: unquoted names fold to lower case).
  const { text, shift } = opts.dialect === 'postgresql' ? quoteBareAt(clause) : { text: clause, shift: (o: number) => o };
  let ast: unknown;
  try {
    // MySQL's grammar for MariaDB too: node-sql-parser's MariaDB grammar takes `status` for a keyword.
    ast = parser.astify(`${PREFIX}${text}\n)`, { database: opts.dialect === 'mysql' ? 'mysql' : 'postgresql', parseOptions: { includeLocations: true } });
  } catch (err) {
    // node-sql-parser recurses per parenthesis: thousands of them overflow its stack.
    if (err instanceof RangeError) return fail(`the clause nests too deeply (at most ${MAX_DEPTH} levels)`);
    const loc = (err as { location?: { start?: { offset?: number } } }).location?.start?.offset;
    const offset = loc === undefined ? undefined : Math.max(0, Math.min(clause.length, shift(loc - PREFIX.length)));
    return fail(`not a valid ${opts.dialect === 'mysql' ? 'MySQL/MariaDB' : 'PostgreSQL'} expression`, offset, offset === undefined ? undefined : offset + 12);
  }
  const stmt = ast as Node & { from?: Array<Node>; where?: Node };
  if (Array.isArray(ast) || stmt.type !== 'select' || stmt._next || !stmt.where) fail('only a single expression is allowed, not a statement');
  const from = stmt.from ?? [];
  if (from.length !== 1 || from[0]!.table !== SENTINEL || stmt.groupby || stmt.having || stmt.orderby || stmt.with) {
    fail('only a single expression is allowed, not a statement');
  }
  // Every pass over the tree (translate, check, evaluate, regenerate SQL) recurses, so a
  // clause of 4,900 `+` terms overflowed the stack into a 500: the depth is bounded first.
  const depth = treeDepth(stmt.where!);
  if (depth > MAX_DEPTH) fail(`the clause nests ${depth} levels deep; at most ${MAX_DEPTH} (a long chain of operators counts one level per operator): use IN (…) for long lists`);
  try {
    return new Translator(opts, `${PREFIX}${text}\n)`).expr(stmt.where!);
  } catch (err) {
    if (!(err instanceof Refusal)) throw err;
    const loc = err.node?.loc;
    return loc ? fail(err.reason, shift(loc.start.offset - PREFIX.length), shift(loc.end.offset - PREFIX.length)) : fail(err.reason);
  }
}

/**
 * PostgreSQL only: a bare word `at` outside quotes that does not start `AT TIME ZONE`
 * (and is not part of a qualified name or a function call) is a column reference;
 * it becomes `"at"` so that node-sql-parser reads it as one. `shift` maps an offset in
 * the rewritten text back to the clause's own.
 */
export function quoteBareAt(clause: string): { text: string; shift: (offset: number) => number } {
  const inserted: number[] = []; // offsets in the rewritten text where a quote pair added 2 characters
  let out = '';
  for (let i = 0; i < clause.length; i++) {
    const c = clause[i]!;
    if (c === "'" || c === '"') {
      let j = i + 1;
      for (; j < clause.length; j++) {
        if (clause[j] === c) {
          if (clause[j + 1] === c) j++;
          else break;
        }
      }
      out += clause.slice(i, j + 1);
      i = j;
      continue;
    }
    if (/[A-Za-z_]/.test(c)) {
      let j = i;
      while (j < clause.length && /[A-Za-z0-9_$]/.test(clause[j]!)) j++;
      const word = clause.slice(i, j);
      const before = clause.slice(0, i).trimEnd();
      const after = clause.slice(j);
      const bare =
        word.toLowerCase() === 'at' &&
        !before.endsWith('.') &&
        !/^\s*[.(]/.test(after) &&
        !/^\s+time\s+zone\b/i.test(after);
      if (bare) {
        inserted.push(out.length);
        out += `"${word.toLowerCase()}"`;
      } else out += word;
      i = j - 1;
      continue;
    }
    out += c;
  }
  const shift = (offset: number): number => {
    let o = offset;
    for (const at of inserted) {
      if (offset > at + 3) o -= 2;
      else if (offset > at) o -= 1;
    }
    return o;
  };
  return { text: out, shift };
}

/**
 * Refuses comments and statement separators outside string literals: the text is
 * regenerated from the tree anyway, but a comment in a filter is a trick, not a filter.
 */
function scanOutsideQuotes(s: string, dialect: Dialect): { reason: string; offset: number } | null {
  for (let i = 0; i < s.length; i++) {
    const c = s[i]!;
    if (c === "'" || c === '"' || c === '`') {
      for (i++; i < s.length; i++) {
        if (dialect === 'mysql' && s[i] === '\\') i++;
        else if (s[i] === c) {
          if (s[i + 1] === c) i++;
          else break;
        }
      }
      continue;
    }
    if ((c === '-' && s[i + 1] === '-') || (c === '/' && s[i + 1] === '*') || (c === '#' && dialect === 'mysql')) {
      return { reason: 'comments are not allowed in a filter', offset: i };
    }
    if (c === ';') return { reason: 'only a single expression is allowed, not a statement', offset: i };
    if (c === '$' && dialect === 'postgresql' && /^\$\w*\$/.test(s.slice(i))) return { reason: 'dollar-quoted strings are not supported; use a quoted literal', offset: i };
  }
  return null;
}

const CMP: Record<string, CmpOp> = { '=': '=', '<>': '<>', '!=': '<>', '<': '<', '<=': '<=', '>': '>', '>=': '>=' };
const ARITH: Record<string, ArithOp> = { '+': '+', '-': '-', '*': '*', '/': '/', '%': '%' };
const UNITS: Record<string, Interval> = {
  microsecond: { months: 0, days: 0, ms: 0.001 },
  millisecond: { months: 0, days: 0, ms: 1 },
  second: { months: 0, days: 0, ms: 1000 },
  minute: { months: 0, days: 0, ms: 60_000 },
  hour: { months: 0, days: 0, ms: 3_600_000 },
  day: { months: 0, days: 1, ms: 0 },
  week: { months: 0, days: 7, ms: 0 },
  month: { months: 1, days: 0, ms: 0 },
  quarter: { months: 3, days: 0, ms: 0 },
  year: { months: 12, days: 0, ms: 0 },
};

class Translator {
  constructor(
    readonly opts: ParseOptions,
    /** The text the parser read, for what its tree leaves out (quotes around a name). */
    readonly source: string,
  ) {}

  get mysql(): boolean {
    return this.opts.dialect === 'mysql';
  }

  expr(n: Node): Expr {
    if (n.ast || n.type === 'select') throw new Refusal('subqueries are not allowed; a filter reads only the row itself', n);
    switch (n.type) {
      case 'column_ref':
        return this.column(n);
      case 'null':
        return { k: 'null' };
      case 'bool':
        return { k: 'bool', v: n.value === true };
      case 'number':
      case 'bigint':
        return this.number(n);
      case 'single_quote_string':
        return { k: 'str', v: this.unquote(String(n.value), "'") };
      case 'double_quote_string':
        // In PostgreSQL "x" is an identifier (handled in column refs); in MySQL's default mode a string.
        if (this.mysql) return { k: 'str', v: this.unquote(String(n.value), '"') };
        throw new Refusal('a double-quoted name here is not a column of the table', n);
      case 'date':
      case 'timestamp':
      case 'datetime':
        return this.typed(n.type === 'date' ? 'date' : 'timestamp', n.value, n);
      case 'cast':
        return this.cast(n);
      case 'interval':
        return this.interval(n);
      case 'unary_expr':
        return this.unary(n);
      case 'binary_expr':
        return this.binary(n);
      case 'case':
        return this.caseExpr(n);
      case 'function':
        return this.fn(n);
      default:
        throw new Refusal(`${describe(n)} is not supported in a filter`, n);
    }
  }

  column(n: Node): Expr {
    // node-sql-parser hangs `x AT TIME ZONE 'z'` on the column as options; dropping them would change the filter.
    if (n.options) throw new Refusal('AT TIME ZONE is not supported in a filter', n);
    const table = n.table as string | null;
    if (table && table !== this.opts.table) throw new Refusal(`column ${table}.… belongs to another table; a filter reads only its own table`, n);
    const c = n.column as string | { expr: { type: string; value: unknown } };
    // node-sql-parser's MySQL grammar reads 1e5 as a name; MySQL reads a number (an unquoted name is never one).
    const bare = typeof c === 'string' && n.loc && /^\d/.test(this.source.slice(n.loc.start.offset)) ? c : null;
    if (this.mysql && !table && bare !== null && /^\d+(\.\d*)?[eE][-+]?\d+$/.test(bare)) return this.number({ ...n, value: bare });
    let name: string;
    if (typeof c === 'string') name = c;
    else if (c.expr.type === 'double_quote_string' || this.mysql) name = String(c.expr.value);
    // PostgreSQL folds unquoted names to lower case.
    else name = String(c.expr.value).toLowerCase();
    if (name === '*') throw new Refusal('* is not an expression', n);
    return { k: 'col', name, at: typeof c === 'string' ? c : String(c.expr.value) };
  }

  number(n: Node): Expr {
    const text = String(n.value);
    if (!/^-?(\d+(\.\d*)?|\.\d+)([eE][-+]?\d+)?$/.test(text)) throw new Refusal(`${text} is not a number sluice can read`, n);
    const float = /[eE]/.test(text);
    // Exponent notation is a double in MySQL (and PostgreSQL refuses numerics past 1e131072): past a double's range both fail at start.
    if (float && !Number.isFinite(Number(text))) throw new Refusal(`${text} is outside the range of a double (about 1.8e308)`, n);
    return { k: 'num', text: float ? text : normaliseDecimal(text), float };
  }

  /** The parser hands string literals over with their escapes still in. */
  unquote(raw: string, q: string): string {
    if (!this.mysql) return raw.split(q + q).join(q);
    const map: Record<string, string> = { '0': '\0', b: '\b', n: '\n', r: '\r', t: '\t', Z: '\x1a' };
    let out = '';
    for (let i = 0; i < raw.length; i++) {
      const ch = raw[i]!;
      if (ch === '\\' && i + 1 < raw.length) {
        const nx = raw[++i]!;
        // \% and \_ keep their backslash: LIKE reads them as escaped wildcards.
        out += nx === '%' || nx === '_' ? `\\${nx}` : (map[nx] ?? nx);
      } else if (ch === q && raw[i + 1] === q) {
        out += q;
        i++;
      } else out += ch;
    }
    return out;
  }

  typed(type: 'date' | 'timestamp', value: unknown, n: Node): Expr {
    const v = String(value);
    const ok = type === 'date' ? /^\d{4}-\d{2}-\d{2}$/.test(v) : /^\d{4}-\d{2}-\d{2}([ T]\d{2}:\d{2}(:\d{2}(\.\d+)?)?)?$/.test(v);
    if (!ok || Number.isNaN(Date.parse(`${v.slice(0, 10)}T00:00:00Z`))) throw new Refusal(`${JSON.stringify(v)} is not a ${type} sluice can read (use 'YYYY-MM-DD[ HH:MM:SS]')`, n);
    return { k: 'typed', type, v };
  }

  cast(n: Node): Expr {
    const target = String(((n.target as Array<{ dataType?: string }> | undefined)?.[0]?.dataType ?? '')).toLowerCase();
    const inner = n.expr as Node;
    if ((target === 'date' || target === 'timestamp' || target === 'datetime') && inner.type === 'single_quote_string') {
      return this.typed(target === 'date' ? 'date' : 'timestamp', this.unquote(String(inner.value), "'"), n);
    }
    throw new Refusal(`casts are not supported in a filter (only a date or timestamp literal such as '2024-01-31'::date)`, n);
  }

  interval(n: Node): Expr {
    const inner = n.expr as Node;
    const unit = String(n.unit ?? '').toLowerCase();
    let text: string;
    if (inner.type === 'number' || inner.type === 'bigint') text = String(inner.value);
    else if (inner.type === 'single_quote_string') text = this.unquote(String(inner.value), "'");
    else throw new Refusal('an INTERVAL must be a literal (INTERVAL 1 DAY, INTERVAL \'1 day\')', n);
    const v = parseInterval(unit ? `${text} ${unit}` : text);
    if (v && intervalTooLong(v)) {
      throw new Refusal(`INTERVAL ${JSON.stringify(unit ? `${text} ${unit}` : text)} is longer than ${MAX_INTERVAL_YEARS} years, more than any date the databases hold spans`, n);
    }
    if (!v) throw new Refusal(`INTERVAL ${JSON.stringify(unit ? `${text} ${unit}` : text)} is not an interval sluice can read (e.g. '2 days', '1 month 3 hours')`, n);
    return { k: 'interval', v, text: unit ? `${text} ${unit}` : text };
  }

  unary(n: Node): Expr {
    const op = String(n.operator).toUpperCase();
    const e = this.expr(n.expr as Node);
    if (op === 'NOT' || (op === '!' && this.mysql)) return { k: 'not', e };
    if (op === '-') return e.k === 'num' ? { ...e, text: e.text.startsWith('-') ? e.text.slice(1) : `-${e.text}` } : { k: 'neg', e };
    if (op === '+') return e;
    throw new Refusal(`the operator ${op} is not supported in a filter`, n);
  }

  binary(n: Node): Expr {
    const op = String(n.operator).toUpperCase();
    const left = n.left as Node;
    const right = n.right as Node;
    if (op === 'AND' || op === 'OR' || op === '&&') return this.logical(n);
    if (op in CMP) return { k: 'cmp', op: CMP[op]!, l: this.expr(left), r: this.expr(right) };
    if (op in ARITH) return { k: 'arith', op: ARITH[op]!, l: this.expr(left), r: this.expr(right) };
    if (op === 'IS' || op === 'IS NOT') {
      const what = right.type === 'null' ? 'null' : right.type === 'bool' ? (right.value ? 'true' : 'false') : null;
      if (!what) throw new Refusal(`${op} must be followed by NULL, TRUE or FALSE`, n);
      return { k: 'is', e: this.expr(left), not: op === 'IS NOT', what };
    }
    if (op === 'IN' || op === 'NOT IN') {
      const values = right.type === 'expr_list' ? (right.value as Node[]) : null;
      if (!values || values.some((v) => v.ast || v.type === 'select')) throw new Refusal('IN takes a list of values; subqueries are not allowed', right.loc ? right : n);
      return { k: 'in', e: this.expr(left), list: values.map((v) => this.expr(v)), not: op === 'NOT IN' };
    }
    if (op === 'BETWEEN' || op === 'NOT BETWEEN') {
      const [lo, hi] = (right.value as Node[] | undefined) ?? [];
      if (!lo || !hi) throw new Refusal('BETWEEN needs two bounds', n);
      return { k: 'between', e: this.expr(left), lo: this.expr(lo), hi: this.expr(hi), not: op === 'NOT BETWEEN' };
    }
    if (op === 'LIKE' || op === 'NOT LIKE' || ((op === 'ILIKE' || op === 'NOT ILIKE') && !this.mysql)) {
      const esc = right.escape as { value?: Node } | undefined;
      let escape: string | null = null;
      if (esc) {
        if (esc.value?.type !== 'single_quote_string') throw new Refusal('ESCAPE takes a one-character string literal', n);
        escape = this.unquote(String(esc.value.value), "'");
        if (escape.length > 1) throw new Refusal('ESCAPE takes a one-character string literal', n);
      }
      const pattern = this.expr({ ...right, escape: undefined });
      return { k: 'like', e: this.expr(left), pattern, not: op.startsWith('NOT'), ci: op.endsWith('ILIKE'), escape };
    }
    throw new Refusal(`the operator ${op} is not supported in a filter`, n);
  }

  /**
   * node-sql-parser 5.4 gives AND and OR the same precedence (`a OR b AND c` comes
   * back as `(a OR b) AND c`, and MariaDB's grammar nests some chains to the right),
   * while SQL binds AND tighter. Parenthesised groups are marked, so the chain of
   * unparenthesised AND/OR is read back in order and regrouped the way SQL does.
   */
  logical(n: Node): Expr {
    const operands: Node[] = [];
    const ops: Array<'and' | 'or'> = [];
    const walk = (x: Node, root: boolean): void => {
      const op = x.type === 'binary_expr' ? String(x.operator).toUpperCase() : '';
      if ((op === 'AND' || op === 'OR' || op === '&&') && (root || !x.parentheses)) {
        walk(x.left as Node, false);
        ops.push(op === 'OR' ? 'or' : 'and');
        walk(x.right as Node, false);
      } else operands.push(x);
    };
    walk(n, true);
    const terms: Expr[] = [];
    let acc = this.expr(operands[0]!);
    ops.forEach((op, i) => {
      const next = this.expr(operands[i + 1]!);
      if (op === 'and') acc = { k: 'and', l: acc, r: next };
      else {
        terms.push(acc);
        acc = next;
      }
    });
    terms.push(acc);
    return terms.reduce((l, r) => ({ k: 'or', l, r }));
  }

  caseExpr(n: Node): Expr {
    const operand = n.expr ? this.expr(n.expr as Node) : null;
    const whens: Array<[Expr, Expr]> = [];
    let otherwise: Expr | null = null;
    for (const a of n.args as Node[]) {
      if (a.type === 'when') whens.push([this.expr(a.cond as Node), this.expr(a.result as Node)]);
      else otherwise = this.expr(a.result as Node);
    }
    return { k: 'case', operand, whens, else: otherwise };
  }

  fn(n: Node): Expr {
    const nameParts = ((n.name as { name?: Array<{ value: string }> } | undefined)?.name ?? []).map((p) => p.value);
    const raw = nameParts.join('.');
    const name = raw.toLowerCase();
    if ((n as { over?: unknown }).over) throw new Refusal(`window functions are not allowed in a filter`, n);
    const args = (((n.args as Node | undefined)?.value as Node[] | undefined) ?? []).map((a) => this.expr(a));
    const want = (fn: FnName, min: number, max = min): Expr => {
      if (args.length < min || args.length > max) throw new Refusal(`${raw} takes ${min === max ? min : `${min} or more`} argument${max === 1 ? '' : 's'}`, n);
      return { k: 'fn', name: fn, args };
    };
    switch (name) {
      case 'not':
        // `NOT (x)` reaches us as a call of NOT.
        if (args.length === 1) return { k: 'not', e: args[0]! };
        break;
      case 'coalesce':
        return want('coalesce', 1, Infinity);
      case 'lower':
      case 'upper':
        return want(name, 1);
      case 'now':
      case 'current_timestamp':
        return want('now', 0);
      case 'current_date':
        return want('current_date', 0);
      case 'curdate':
        if (this.mysql) return want('current_date', 0);
        break;
      case 'datediff':
        if (this.mysql) return want('datediff', 2);
        throw new Refusal('PostgreSQL has no DATEDIFF; subtract dates instead (CURRENT_DATE - some_date <= 1)', n);
      default:
        break;
    }
    throw new Refusal(`the function ${raw}() is not supported in a filter (supported: COALESCE, LOWER, UPPER, NOW, CURRENT_TIMESTAMP, CURRENT_DATE${this.mysql ? ', CURDATE, DATEDIFF' : ''})`, n);
  }
}

function describe(n: Node): string {
  return n.type ? `${String(n.type).replace(/_/g, ' ')}` : 'this part';
}

/** "007.50" → "7.50"; keeps the scale (it matters for nothing but it is what was written). */
function normaliseDecimal(text: string): string {
  const neg = text.startsWith('-');
  let t = neg ? text.slice(1) : text;
  if (t.startsWith('.')) t = `0${t}`;
  if (t.endsWith('.')) t = t.slice(0, -1);
  t = t.replace(/^0+(?=\d)/, '');
  return neg && !/^0(\.0*)?$/.test(t) ? `-${t}` : t;
}

/** "1 day", "2 hours 30 minutes", "-1 month", "1 year 2 mons". */
export function parseInterval(text: string): Interval | null {
  const parts = text.trim().toLowerCase().split(/\s+/);
  if (parts.length === 0 || parts.length % 2 !== 0) return null;
  const out: Interval = { months: 0, days: 0, ms: 0 };
  for (let i = 0; i < parts.length; i += 2) {
    const n = Number(parts[i]);
    let unit = parts[i + 1]!.replace(/s$/, '');
    if (unit === 'mon') unit = 'month';
    if (unit === 'min') unit = 'minute';
    if (unit === 'sec') unit = 'second';
    const u = UNITS[unit];
    if (!u || !Number.isFinite(n)) return null;
    if ((u.months || u.days) && !Number.isInteger(n)) return null;
    out.months += n * u.months;
    out.days += n * u.days;
    out.ms += n * u.ms;
  }
  return out;
}
