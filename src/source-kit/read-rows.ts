/**
 * What every SQL source's readRows shares: checking a RowQuery against the table
 * (columns and sort keys must exist, the limit is capped), and the error for a where
 * the server refused. Pure, no I/O.
 */
import { SluiceError } from '../errors';
import { MAX_READ_ROWS, type RowQuery, type TableSchema } from '../core';

export interface RowPlan {
  columns: string[];
  sort: { column: string; desc: boolean }[];
  limit: number;
  offset: number;
}

/**
 * Checks a query against the table: unknown columns in `columns` or `sort` are
 * VALIDATION_FAILED naming the field; no sort means the key ascending (none for a
 * table without a key); the limit is capped at MAX_READ_ROWS.
 */
export function checkRowQuery(schema: TableSchema, q: RowQuery, table: string): RowPlan {
  const names = schema.columns.map((c) => c.name);
  const known = (field: string, c: string): string => {
    if (!names.includes(c)) {
      throw new SluiceError('VALIDATION_FAILED', `${field}: the table ${table} has no column ${JSON.stringify(c)}`, { field, column: c, table, columns: names });
    }
    return c;
  };
  const columns = q.columns?.length ? q.columns.map((c) => known('columns', c)) : names;
  const sort = q.sort?.length ? q.sort.map((s) => ({ column: known('sort', s.column), desc: s.desc === true })) : schema.key.map((k) => ({ column: k, desc: false }));
  const limit = Math.max(0, Math.min(MAX_READ_ROWS, Math.floor(q.limit)));
  const offset = Math.max(0, Math.floor(q.offset));
  return { columns, sort, limit, offset };
}

/**
 * A `where` the server refused as SQL (a syntax or data error in the clause it was
 * given): FILTER_CLAUSE_INVALID naming the table and the clause, with the server's
 * SQLSTATE in `state` (each connector names that field as its driver does).
 */
export function refusedClause(query: Pick<RowQuery, 'where'>, table: string, refusedBy: string, err: unknown, state: Record<string, string>): SluiceError {
  return new SluiceError('FILTER_CLAUSE_INVALID', `where ${JSON.stringify(query.where)}: ${refusedBy} refused it: ${(err as Error).message}`, {
    table,
    clause: query.where,
    part: query.where,
    ...state,
  }, { cause: err });
}
