/**
 * One way to list anything: limit, offset, sort (field or -field) and equality
 * filters on declared fields. Every list route and repository goes through here,
 * so paging behaves the same everywhere.
 */
import type { Db } from './db';

export interface ListQuery {
  limit?: number;
  offset?: number;
  /** "name" ascending, "-name" descending. */
  sort?: string;
  /** Equality filters: API field name → value. */
  filters?: Record<string, string | number | undefined>;
}

export interface ListSpec {
  table: string;
  /** API field name → SQL column, for the fields that may be sorted or filtered on. */
  columns: Record<string, string>;
  defaultSort: string;
  /** Extra fixed condition, e.g. "stream_id = @streamId". */
  where?: string;
}

export interface Page<T> {
  items: T[];
  total: number;
  limit: number;
  offset: number;
}

export const MAX_LIMIT = 1000;
export const DEFAULT_LIMIT = 100;

export function listRows<Raw>(db: Db, spec: ListSpec, q: ListQuery, params: Record<string, unknown> = {}): Page<Raw> {
  const limit = Math.min(Math.max(q.limit ?? DEFAULT_LIMIT, 1), MAX_LIMIT);
  const offset = Math.max(q.offset ?? 0, 0);
  const sort = q.sort ?? spec.defaultSort;
  const desc = sort.startsWith('-');
  const sortColumn = spec.columns[desc ? sort.slice(1) : sort];
  if (!sortColumn) throw new Error(`unknown sort field ${sort}`);
  const conditions: string[] = spec.where ? [spec.where] : [];
  const bind: Record<string, unknown> = { ...params };
  for (const [field, value] of Object.entries(q.filters ?? {})) {
    if (value === undefined) continue;
    const column = spec.columns[field];
    if (!column) throw new Error(`unknown filter field ${field}`);
    conditions.push(`${column} = @f_${field}`);
    bind[`f_${field}`] = value;
  }
  const where = conditions.length ? `WHERE ${conditions.join(' AND ')}` : '';
  const total = (db.prepare(`SELECT count(*) AS n FROM ${spec.table} ${where}`).get(bind) as { n: number }).n;
  const items = db
    .prepare(`SELECT * FROM ${spec.table} ${where} ORDER BY ${sortColumn} ${desc ? 'DESC' : 'ASC'}, rowid ASC LIMIT @limit OFFSET @offset`)
    .all({ ...bind, limit, offset }) as Raw[];
  return { items, total, limit, offset };
}

export const nowIso = (): string => new Date().toISOString();

export function parseJson<T>(text: string | null | undefined, fallback: T): T {
  if (text === null || text === undefined || text === '') return fallback;
  return JSON.parse(text) as T;
}
