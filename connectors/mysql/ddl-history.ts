/**
 * Where in the binlog each captured table last changed shape, so no row event is
 * decoded with column names from after an ALTER it was written before.
 *
 * The binlog's table maps carry column types but no names (without
 * binlog_row_metadata=FULL, which zongji cannot parse), so names come from
 * information_schema, which only knows the table as it is now. The table-map check
 * in binlog.ts catches a changed column count or type; this catches the rest (a
 * RENAME COLUMN, two same-typed columns swapped): `SHOW BINLOG EVENTS` lists the
 * DDL statements from a position to the end of the binlog, and a row event of a
 * table written before the last DDL naming that table is refused
 * (SOURCE_SCHEMA_CHANGED) instead of being labelled with today's names.
 */
import type { TableRef } from '../../src/core';
import type { Conn } from './naming';

export interface BinlogPoint {
  file: string;
  pos: number;
}

/** `mariadb-bin.000012` → 12: binlog files sort by their numeric extension. */
const fileIndex = (file: string): number => Number(/\.(\d+)\0*$/.exec(file)?.[1] ?? 0);

/** a < b in binlog order. */
export function isBefore(a: BinlogPoint, b: BinlogPoint): boolean {
  const fa = fileIndex(a.file);
  const fb = fileIndex(b.file);
  return fa !== fb ? fa < fb : a.pos < b.pos;
}

const esc = (s: string): string => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

/**
 * Whether a statement can change the shape of `ref` (ALTER, RENAME, CREATE, DROP naming
 * it, quoted or not, qualified or in the statement's default database `db`). TRUNCATE
 * and DML are not shape changes. A false positive costs only a loud stop on replay.
 */
/** A statement without the `use \`db\`;` prefix SHOW BINLOG EVENTS puts before one run in a default database. */
export const withoutUse = (query: string): string => query.replace(/^use\s+`?[^`;]*`?;\s*/i, '');

export function changesShape(query: string, db: string | null, ref: TableRef): boolean {
  const q = withoutUse(query).replace(/\/\*.*?\*\//gs, ' ').trimStart();
  if (!/^(ALTER|RENAME|CREATE|DROP)\b/i.test(q)) return false;
  const table = `\`?${esc(ref.table)}\`?`;
  const qualifiedName = new RegExp(`(^|[^\\w$.\`])\`?${esc(ref.schema)}\`?\\s*\\.\\s*${table}(?![\\w$])`, 'i');
  if (qualifiedName.test(q)) return true;
  if (db !== null && db.toLowerCase() !== ref.schema.toLowerCase()) return false;
  return new RegExp(`(^|[^\\w$.\`])${table}(?![\\w$.])`, 'i').test(q.replace(/^\S+/, ''));
}

/** The `use \`db\`;` prefix SHOW BINLOG EVENTS puts before a statement run in a default database. */
const defaultDb = (info: string): string | null => /^use\s+`([^`]*)`/i.exec(info)?.[1] ?? null;

const PAGE = 10_000;

/**
 * For each table, the end position of the last statement at or after `from` that
 * changes its shape; tables without one are absent.
 */
export async function lastShapeChanges(conn: Conn, from: BinlogPoint, tables: TableRef[]): Promise<Map<string, BinlogPoint>> {
  const out = new Map<string, BinlogPoint>();
  const logs = await conn.query<{ Log_name: string }>('SHOW BINARY LOGS');
  const files = logs.map((l) => l.Log_name).filter((f) => fileIndex(f) >= fileIndex(from.file));
  for (const file of files) {
    const start = file === from.file ? from.pos : 4;
    for (let offset = 0; ; offset += PAGE) {
      const rows = await conn.query<{ Event_type: string; End_log_pos: number; Info: string }>(
        `SHOW BINLOG EVENTS IN ? FROM ${Number(start)} LIMIT ${offset}, ${PAGE}`,
        [file],
      );
      for (const r of rows) {
        if (r.Event_type !== 'Query') continue;
        const info = String(r.Info ?? '');
        for (const t of tables) {
          if (changesShape(info, defaultDb(info), t)) out.set(`${t.schema}.${t.table}`, { file, pos: Number(r.End_log_pos) });
        }
      }
      if (rows.length < PAGE) break;
    }
  }
  return out;
}
