/**
 * What every connector's readRows shares: checking a RowQuery against the table
 * (columns and sort keys must exist, the limit is capped), and how the API writes
 * the rows as JSON. Pure functions, no I/O.
 */
import { SluiceError } from '../errors';
import type { Row, RowQuery, TableRef } from './connector';
import { Decimal, type TableSchema } from './values';

/** The most rows one readRows call returns. */
export const MAX_READ_ROWS = 1000;

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

/** `schema.table`, or a bare table in the connection's default schema (schema ''). Quotes are not needed: the first dot splits. */
export function parseTableParam(text: string): TableRef {
  const dot = text.indexOf('.');
  return dot < 0 ? { schema: '', table: text } : { schema: text.slice(0, dot), table: text.slice(dot + 1) };
}

/** `col,-other` → sort keys. */
export function parseSort(text: string | undefined): { column: string; desc?: boolean }[] | undefined {
  if (text === undefined || text.trim() === '') return undefined;
  return text.split(',').map((s) => s.trim()).filter(Boolean).map((s) => (s.startsWith('-') ? { column: s.slice(1), desc: true } : { column: s.replace(/^\+/, '') }));
}

/**
 * A value as JSON for previews: bigint and Decimal as their exact text, bytes as
 * base64, dates as ISO 8601, arrays and JSON as they are.
 */
export function jsonValue(v: unknown): unknown {
  if (v === null || v === undefined) return null;
  if (typeof v === 'bigint') return v.toString();
  if (v instanceof Decimal) return v.text;
  if (Buffer.isBuffer(v)) return v.toString('base64');
  if (v instanceof Date) return Number.isNaN(v.getTime()) ? null : v.toISOString();
  if (typeof v === 'number' && !Number.isFinite(v)) return String(v);
  if (Array.isArray(v)) return v.map(jsonValue);
  return v;
}

export function jsonRow(row: Row): Record<string, unknown> {
  return Object.fromEntries(Object.entries(row).map(([k, v]) => [k, jsonValue(v)]));
}
