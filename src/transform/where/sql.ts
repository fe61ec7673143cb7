/**
 * The expression tree back to SQL for the snapshot SELECT. Generated from the tree,
 * never copied from the operator's text: identifiers are quoted here, numbers and
 * date literals are the canonical forms parse.ts checked, and every string literal
 * is a bound parameter.
 */
import type { Dialect, Expr, Interval } from './ir';

export interface SqlFragment {
  text: string;
  /** String literals, in order of their placeholders. */
  params: string[];
}

/**
 * `placeholder(i)` names the i-th parameter of this fragment (0-based), so the caller
 * can put the fragment after its own parameters: PostgreSQL `$n`, MySQL `?`.
 */
export function toSql(e: Expr, dialect: Dialect, placeholder: (i: number) => string): SqlFragment {
  const params: string[] = [];
  const q = (name: string): string => (dialect === 'mysql' ? `\`${name.replace(/`/g, '``')}\`` : `"${name.replace(/"/g, '""')}"`);
  const gen = (x: Expr): string => {
    switch (x.k) {
      case 'col':
        return q(x.name);
      case 'null':
        return 'NULL';
      case 'bool':
        return x.v ? 'TRUE' : 'FALSE';
      case 'num':
        return x.text.startsWith('-') ? `(${x.text})` : x.text;
      case 'str':
        params.push(x.v);
        return placeholder(params.length - 1);
      case 'typed':
        return dialect === 'mysql' ? `${x.type === 'date' ? 'DATE' : 'TIMESTAMP'} '${x.v}'` : `${x.type === 'date' ? 'DATE' : 'TIMESTAMP'} '${x.v}'`;
      case 'interval':
        return interval(x.v, dialect).join(' + ');
      case 'cmp':
        return `(${gen(x.l)} ${x.op} ${gen(x.r)})`;
      case 'and':
      case 'or':
        return `(${gen(x.l)} ${x.k.toUpperCase()} ${gen(x.r)})`;
      case 'not':
        return `(NOT ${gen(x.e)})`;
      case 'is':
        return `(${gen(x.e)} IS ${x.not ? 'NOT ' : ''}${x.what.toUpperCase()})`;
      case 'in':
        return `(${gen(x.e)} ${x.not ? 'NOT ' : ''}IN (${x.list.map(gen).join(', ')}))`;
      case 'between':
        return `(${gen(x.e)} ${x.not ? 'NOT ' : ''}BETWEEN ${gen(x.lo)} AND ${gen(x.hi)})`;
      case 'like': {
        const op = x.ci ? 'ILIKE' : 'LIKE';
        // Parameters in text order: positional `?` placeholders depend on it.
        const subject = gen(x.e);
        const pattern = gen(x.pattern);
        let esc = '';
        if (x.escape !== null) {
          params.push(x.escape);
          esc = ` ESCAPE ${placeholder(params.length - 1)}`;
        }
        return `(${subject} ${x.not ? 'NOT ' : ''}${op} ${pattern}${esc})`;
      }
      case 'arith': {
        // MySQL's INTERVAL takes one unit per term: chain them in the order both databases apply them.
        if (dialect === 'mysql' && x.r.k === 'interval' && (x.op === '+' || x.op === '-')) {
          return interval(x.r.v, dialect).reduce((acc, term) => `(${acc} ${x.op} ${term})`, gen(x.l));
        }
        if (dialect === 'mysql' && x.l.k === 'interval' && x.op === '+') {
          return interval(x.l.v, dialect).reduce((acc, term) => `(${acc} + ${term})`, gen(x.r));
        }
        return `(${gen(x.l)} ${x.op} ${gen(x.r)})`;
      }
      case 'neg':
        return `(- ${gen(x.e)})`;
      case 'case': {
        const parts = ['CASE'];
        if (x.operand) parts.push(gen(x.operand));
        for (const [w, t] of x.whens) parts.push(`WHEN ${gen(w)} THEN ${gen(t)}`);
        if (x.else) parts.push(`ELSE ${gen(x.else)}`);
        parts.push('END');
        return `(${parts.join(' ')})`;
      }
      case 'fn':
        switch (x.name) {
          case 'now':
            return 'CURRENT_TIMESTAMP';
          case 'current_date':
            return 'CURRENT_DATE';
          default:
            return `${x.name.toUpperCase()}(${x.args.map(gen).join(', ')})`;
        }
    }
  };
  return { text: gen(e), params };
}

/** An interval as SQL terms (one per unit for MySQL; one literal for PostgreSQL). */
function interval(v: Interval, dialect: Dialect): string[] {
  if (dialect === 'postgresql') return [`INTERVAL '${v.months} months ${v.days} days ${Math.round(v.ms * 1000)} microseconds'`];
  const terms: string[] = [];
  if (v.months) terms.push(`INTERVAL ${v.months} MONTH`);
  if (v.days) terms.push(`INTERVAL ${v.days} DAY`);
  if (v.ms || terms.length === 0) terms.push(`INTERVAL ${Math.round(v.ms * 1000)} MICROSECOND`);
  return terms;
}
