/**
 * A row filter (relationalTableFilters' whereClause) compiled once: the predicate
 * CDC events are tested with, and the SQL the snapshot pushes down, both from one
 * parsed tree.
 */
import { SluiceError } from '../../errors';
import type { Row, ColumnSpec, LogicalType } from '../../core';
import { constantProblem, toPredicate } from './evaluate';
import { columnsOf, mapColumns, type Dialect, type Expr } from './ir';
import { parseWhere } from './parse';
import { toSql, type SqlFragment } from './sql';

export type { Dialect } from './ir';
export type { SqlFragment } from './sql';
export { keysWhere, whereIdent, whereLiteral } from './keys';

export interface CompiledWhere {
  clause: string;
  dialect: Dialect;
  expr: Expr;
  /** Columns the clause reads (the table's own spelling once bound). */
  columns: ReadonlySet<string>;
  /** True when the row passes; `now` (ms) fixes NOW() and CURRENT_DATE for the call. */
  test(row: Row, now?: number): boolean;
  /** The clause as SQL; `placeholder(i)` names its i-th string parameter. */
  sql(placeholder: (i: number) => string): SqlFragment;
}

export interface CompileOptions {
  dialect: Dialect;
  /** The filtered table: a column qualified with its name is accepted. */
  table?: string;
  /**
   * The table's columns. With them, names are resolved as the database resolves
   * them (MySQL: any case) and checked; a column that does not exist is
   * FILTER_COLUMN_UNKNOWN, and one whose type a filter cannot read FILTER_CLAUSE_INVALID.
   */
  columns?: readonly ColumnSpec[];
}

/** Parses, checks and compiles a whereClause; throws FILTER_CLAUSE_INVALID / FILTER_COLUMN_UNKNOWN. */
export function compileWhere(clause: string, opts: CompileOptions): CompiledWhere {
  let expr = parseWhere(clause, { dialect: opts.dialect, table: opts.table });
  const types = new Map<string, LogicalType>();
  if (opts.columns) {
    const cols = opts.columns;
    expr = mapColumns(expr, ({ name, at }) => {
      const col = cols.find((c) => c.name === name) ?? (opts.dialect === 'mysql' ? cols.find((c) => c.name.toLowerCase() === name.toLowerCase()) : undefined);
      if (!col) {
        throw new SluiceError('FILTER_COLUMN_UNKNOWN', `whereClause ${JSON.stringify(clause)}: the table has no column ${JSON.stringify(name)} (at ${JSON.stringify(at)})`, {
          clause,
          column: name,
          part: at,
          ...(opts.table ? { table: opts.table } : {}),
        });
      }
      if (col.type === 'json' || col.type === 'bytes' || col.type === 'array') {
        throw new SluiceError('FILTER_CLAUSE_INVALID', `whereClause ${JSON.stringify(clause)}: column ${col.name} is ${col.sourceType}, which a filter cannot read`, {
          clause,
          column: col.name,
          part: at,
        });
      }
      types.set(col.name, col.type);
      return col.name;
    });
  }
  const problem = constantProblem(expr, opts.dialect);
  if (problem) throw new SluiceError('FILTER_CLAUSE_INVALID', `whereClause ${JSON.stringify(clause)}: ${problem}`, { clause, reason: problem });
  const test = toPredicate(expr, opts.dialect, types);
  return {
    clause,
    dialect: opts.dialect,
    expr,
    columns: columnsOf(expr),
    test,
    sql: (placeholder) => toSql(expr, opts.dialect, placeholder),
  };
}
