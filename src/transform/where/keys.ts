/**
 * "The rows whose key columns hold one of these values", written in the whereClause
 * language: how verification and the mapping preview read the children of a chunk of
 * parents. The clause is compiled like any filter (values become bind parameters, never
 * SQL text); a value the language cannot spell exactly gives no clause at all, and the
 * caller then reads the rows whole and matches them in memory.
 */
import { Decimal } from '../../core';
import type { Dialect } from './ir';

/** A column name as the where compiler reads it: quoted, so any name (and a reserved word) is that column. */
export function whereIdent(name: string, dialect: Dialect): string {
  return dialect === 'mysql' ? `\`${name.replace(/`/g, '``')}\`` : `"${name.replace(/"/g, '""')}"`;
}

/** A value as a literal of the where language, or undefined when the language has none for it. */
export function whereLiteral(v: unknown, dialect: Dialect): string | undefined {
  if (typeof v === 'number') return Number.isFinite(v) ? String(v) : undefined;
  if (typeof v === 'bigint') return v.toString();
  // NaN and ±Infinity would read as column names.
  if (v instanceof Decimal) return /^-?\d/.test(v.text) ? v.text : undefined;
  if (typeof v === 'boolean') return v ? 'TRUE' : 'FALSE';
  if (typeof v === 'string') {
    if (v.includes('\0')) return undefined;
    // The PostgreSQL parser reads a backslash before a quote as an escape, which the
    // database does not: such a string is left to the in-memory match.
    if (dialect === 'postgresql' && v.includes('\\')) return undefined;
    const body = dialect === 'mysql' ? v.replace(/\\/g, '\\\\').replace(/'/g, "''") : v.replace(/'/g, "''");
    return `'${body}'`;
  }
  return undefined;
}

/**
 * The where clause that selects the rows whose `columns` hold one of `keys` (tuples in
 * column order), or undefined when there are no keys or a value cannot be written in
 * the where language.
 */
export function keysWhere(columns: readonly string[], keys: readonly unknown[][], dialect: Dialect): string | undefined {
  const lits: string[][] = [];
  for (const k of keys) {
    const l = k.map((v) => whereLiteral(v, dialect));
    if (l.some((x) => x === undefined)) return undefined;
    lits.push(l as string[]);
  }
  if (lits.length === 0) return undefined;
  if (columns.length === 1) return `${whereIdent(columns[0]!, dialect)} IN (${lits.map((l) => l[0]).join(', ')})`;
  return lits.map((l) => `(${l.map((x, i) => `${whereIdent(columns[i]!, dialect)} = ${x}`).join(' AND ')})`).join(' OR ');
}
