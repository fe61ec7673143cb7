/**
 * The schema history: each captured table's columns as of a binlog point, so a row
 * event is decoded with the shape its table had when the event was written, not the
 * shape information_schema shows when sluice reads it (after a pause, a crash, or a
 * daemon that was down while a migration ran).
 *
 * Where it starts: the shapes read from information_schema when the snapshot (or a
 * CDC_ONLY stream's "now") fixed the stream's start position. How it moves: the DDL
 * in the binlog's query events, parsed with node-sql-parser (MariaDB dialect) and
 * applied here (ALTER TABLE ADD / DROP / MODIFY / CHANGE / RENAME COLUMN; index and
 * constraint changes leave the columns as they are). Where it is kept: in the CDC
 * position itself (`shapes`, JSON text), so the run loop saves it in the same write as
 * the binlog point it belongs to; a crash can never pair a position with another
 * point's shapes.
 *
 * What it cannot follow is named, not guessed: a statement naming a captured table that
 * the parser does not read (or CREATE TABLE over it) leaves that table "unknown", and
 * binlog.ts falls back to information_schema with its loud SOURCE_SCHEMA_CHANGED check,
 * whose message names the statement. DROP TABLE and RENAME TABLE of a captured table
 * are reported as gone (SOURCE_TABLE_GONE).
 */
import { Parser } from 'node-sql-parser';
import type { TableRef } from '../../src/core';
import { changesShape, withoutUse } from './ddl-history';
import type { ColumnMeta } from './types';

/** A table's columns, or why they are not known at this point. */
export type Shape = { columns: ColumnMeta[] } | { unknown: string };

export type ShapeChange =
  | { kind: 'none' }
  | { kind: 'columns'; columns: ColumnMeta[] }
  | { kind: 'gone'; how: 'dropped' | 'renamed' }
  | { kind: 'unknown'; why: string };

const parser = new Parser();

const keyOf = (ref: TableRef): string => `${ref.schema}.${ref.table}`;

// ---- DDL → column ----------------------------------------------------------

type Node = Record<string, unknown>;
const obj = (v: unknown): Node => (v && typeof v === 'object' ? (v as Node) : {});
const colName = (ref: unknown): string => String(obj(ref).column ?? '');

const ALIASES: Record<string, string> = { integer: 'int', boolean: 'tinyint', bool: 'tinyint', real: 'double', 'double precision': 'double', numeric: 'decimal', dec: 'decimal', fixed: 'decimal' };
const TEXT = /^(char|varchar|tinytext|text|mediumtext|longtext|enum|set)$/;

/** A column definition of ALTER TABLE … ADD / MODIFY / CHANGE as information_schema would describe it. */
export function columnFromDefinition(name: string, item: Node, tableCharset: string): ColumnMeta {
  const def = obj(item.definition);
  const raw = String(def.dataType ?? '').toLowerCase();
  const isJson = raw === 'json';
  // MariaDB's JSON is LONGTEXT with a json_valid CHECK; binlog type 252 either way.
  const dataType = isJson ? 'longtext' : (ALIASES[raw] ?? raw);
  const suffix = (Array.isArray(def.suffix) ? def.suffix : []).map((s) => String(s).toLowerCase());
  let columnType = dataType;
  if (dataType === 'enum' || dataType === 'set') {
    const labels = (obj(def.expr).value as Node[] | undefined ?? []).map((v) => `'${String(v.value)}'`);
    columnType = `${dataType}(${labels.join(',')})`;
  } else if (raw === 'boolean' || raw === 'bool') {
    columnType = 'tinyint(1)';
  } else if (typeof def.length === 'number') {
    columnType = `${dataType}(${def.length}${typeof def.scale === 'number' ? `,${def.scale}` : ''})`;
  }
  if (suffix.length > 0) columnType += ` ${suffix.join(' ')}`;
  const decimal = dataType === 'decimal';
  const charset = String(obj(obj(item.character_set).value).value ?? '') || tableCharset;
  return {
    name,
    dataType,
    columnType,
    nullable: obj(item.nullable).type !== 'not null' && !item.primary_key,
    charset: TEXT.test(dataType) ? charset : null,
    isJson,
    ...(decimal ? { precision: typeof def.length === 'number' ? def.length : 10, scale: typeof def.scale === 'number' ? def.scale : 0 } : {}),
  };
}

/** The columns after one ALTER TABLE's list of changes, or why they cannot be told. */
function alterColumns(columns: ColumnMeta[], exprs: Node[], dropIfExists: boolean): ColumnMeta[] | string {
  let cols = [...columns];
  const tableCharset = cols.find((c) => c.charset !== null)?.charset ?? 'utf8mb4';
  const at = (name: string): number => cols.findIndex((c) => c.name.toLowerCase() === name.toLowerCase());
  const place = (c: ColumnMeta, where: unknown, replacing = -1): string | null => {
    const w = obj(where);
    const kw = String(w.keyword ?? '').toUpperCase();
    if (replacing >= 0 && kw === '') {
      cols[replacing] = c;
      return null;
    }
    if (replacing >= 0) cols.splice(replacing, 1);
    if (kw === 'FIRST') cols.unshift(c);
    else if (kw === 'AFTER') {
      const i = at(colName(w.expr));
      if (i < 0) return `AFTER names no column ${colName(w.expr)}`;
      cols.splice(i + 1, 0, c);
    } else cols.push(c);
    return null;
  };
  for (const x of exprs) {
    const action = String(x.action ?? '');
    if (x.resource !== 'column') {
      if (x.resource === 'table' && action === 'rename') return 'renamed';
      // The charset that later added text columns get (and zongji decodes them with) is not kept here.
      if (/charset|character|collat/i.test(String(x.resource))) return `a table default character set change (${String(x.resource)})`;
      // Indexes, keys, constraints, other table options: the columns stay.
      continue;
    }
    const name = colName(x.column);
    let why: string | null = null;
    if (action === 'add') {
      if (at(name) >= 0) {
        if (x.if_not_exists) continue;
        return `ADD COLUMN ${name}, which exists`;
      }
      why = place(columnFromDefinition(name, x, tableCharset), x.suffix);
    } else if (action === 'drop') {
      const i = at(name);
      if (i < 0 && dropIfExists) continue;
      if (i < 0) return `DROP COLUMN ${name}, which does not exist`;
      cols = cols.filter((_, j) => j !== i);
    } else if (action === 'modify' || action === 'change') {
      const old = action === 'change' ? colName(x.old_column) : name;
      const i = at(old);
      if (i < 0) return `${action.toUpperCase()} COLUMN ${old}, which does not exist`;
      why = place(columnFromDefinition(name, x, cols[i]!.charset ?? tableCharset), x.suffix, i);
    } else if (action === 'rename') {
      const i = at(colName(x.old_column));
      if (i < 0) return `RENAME COLUMN ${colName(x.old_column)}, which does not exist`;
      cols[i] = { ...cols[i]!, name };
    } else {
      return `column action ${action || '?'}`;
    }
    if (why) return why;
  }
  return cols;
}

// ---- statements ------------------------------------------------------------

const same = (a: string, b: string): boolean => a.toLowerCase() === b.toLowerCase();
const names = (t: unknown, db: string | null, ref: TableRef): boolean => {
  const n = obj(t);
  return same(String(n.table ?? ''), ref.table) && same(String(n.db ?? db ?? ''), ref.schema);
};

/**
 * What a statement of the binlog (run in default database `db`) does to `ref` whose
 * columns are `columns` before it: nothing, new columns, the table gone, or a change
 * the history cannot follow (with why).
 */
export function applyDdl(query: string, db: string | null, ref: TableRef, columns: ColumnMeta[]): ShapeChange {
  if (!changesShape(query, db, ref)) return { kind: 'none' };
  let ast: Node[];
  // MariaDB's DROP COLUMN IF EXISTS, which the parser does not read: a plain DROP, a no-op for a missing column.
  const dropIfExists = /\bDROP\s+(COLUMN\s+)?IF\s+EXISTS\b/i.test(query);
  try {
    const sql = withoutUse(query).replace(/\bDROP\s+(COLUMN\s+)?IF\s+EXISTS\b/gi, 'DROP COLUMN ');
    const parsed = parser.astify(sql, { database: 'MariaDB' }) as unknown;
    ast = (Array.isArray(parsed) ? parsed : [parsed]) as Node[];
  } catch (err) {
    return { kind: 'unknown', why: `the statement could not be parsed (${(err as Error).message.split('\n')[0]!.slice(0, 120)})` };
  }
  let cols = columns;
  let changed = false;
  for (const s of ast) {
    const type = String(s.type ?? '');
    if (type === 'alter' && (s.table as unknown[] | undefined ?? []).some((t) => names(t, db, ref))) {
      const out = alterColumns(cols, (s.expr as Node[] | undefined) ?? [], dropIfExists);
      if (out === 'renamed') return { kind: 'gone', how: 'renamed' };
      if (typeof out === 'string') return { kind: 'unknown', why: out };
      changed ||= JSON.stringify(out) !== JSON.stringify(cols);
      cols = out;
    } else if (type === 'rename' && (s.table as unknown[][] | undefined ?? []).some((pair) => names(pair[0], db, ref))) {
      return { kind: 'gone', how: 'renamed' };
    } else if (type === 'drop' && s.keyword === 'table' && (s.name as unknown[] | undefined ?? []).some((t) => names(t, db, ref))) {
      return { kind: 'gone', how: 'dropped' };
    } else if (type === 'create' && s.keyword === 'table' && names((s.table as unknown[] | undefined)?.[0], db, ref)) {
      return { kind: 'unknown', why: 'CREATE TABLE over a captured table' };
    }
  }
  return changed ? { kind: 'columns', columns: cols } : { kind: 'none' };
}

// ---- the history at one binlog point ----------------------------------------

/** Compact form kept in a position: [name, dataType, columnType, nullable, charset, isJson, precision?, scale?]. */
type Packed = [string, string, string, 0 | 1, string | null, 0 | 1, number?, number?];

const pack = (c: ColumnMeta): Packed => {
  const p: Packed = [c.name, c.dataType, c.columnType, c.nullable ? 1 : 0, c.charset, c.isJson ? 1 : 0];
  if (c.precision !== undefined) p.push(c.precision, c.scale ?? 0);
  return p;
};
const unpack = (p: Packed): ColumnMeta => ({
  name: p[0], dataType: p[1], columnType: p[2], nullable: p[3] === 1, charset: p[4], isJson: p[5] === 1,
  ...(p[6] !== undefined ? { precision: p[6], scale: p[7] ?? 0 } : {}),
});

/** Captured tables' shapes at the point being read; `encoded` is what positions carry. */
export class SchemaHistory {
  readonly #shapes: Map<string, Shape>;
  #encoded: string | null = null;

  private constructor(shapes: Map<string, Shape>) {
    this.#shapes = shapes;
  }

  /** From columns read from information_schema at the start position. */
  static of(tables: Array<{ ref: TableRef; columns: ColumnMeta[] }>): SchemaHistory {
    return new SchemaHistory(new Map(tables.map((t) => [keyOf(t.ref), { columns: t.columns }])));
  }

  /**
   * From a position's `shapes` (absent in positions saved before the history existed:
   * every table is then unknown, and binlog.ts checks them against information_schema).
   */
  static decode(shapes: unknown, refs: TableRef[]): SchemaHistory {
    const saved = typeof shapes === 'string' ? (JSON.parse(shapes) as Record<string, Packed[] | { unknown: string }>) : {};
    const out = new Map<string, Shape>();
    for (const ref of refs) {
      const s = saved[keyOf(ref)];
      const absent = typeof shapes === 'string' ? 'the table is not in the history of the saved position (added to the stream since)' : 'the saved position predates the schema history';
      out.set(keyOf(ref), Array.isArray(s) ? { columns: s.map(unpack) } : { unknown: s?.unknown ?? absent });
    }
    return new SchemaHistory(out);
  }

  get encoded(): string {
    this.#encoded ??= JSON.stringify(Object.fromEntries([...this.#shapes].map(([k, s]) => [k, 'columns' in s ? s.columns.map(pack) : s])));
    return this.#encoded;
  }

  get(ref: TableRef): Shape {
    return this.#shapes.get(keyOf(ref)) ?? { unknown: 'not captured' };
  }

  set(ref: TableRef, shape: Shape): void {
    this.#shapes.set(keyOf(ref), shape);
    this.#encoded = null;
  }

  /**
   * Applies one statement to every captured table it names; returns the tables it
   * dropped or renamed.
   */
  apply(query: string, db: string | null, refs: TableRef[]): Array<{ ref: TableRef; how: 'dropped' | 'renamed' }> {
    const gone: Array<{ ref: TableRef; how: 'dropped' | 'renamed' }> = [];
    for (const ref of refs) {
      const shape = this.get(ref);
      if (!('columns' in shape)) {
        // Unknown stays unknown, with the statement it became unknown at (binlog.ts resolves it).
        const change = applyDdl(query, db, ref, []);
        if (change.kind === 'gone') gone.push({ ref, how: change.how });
        continue;
      }
      const change = applyDdl(query, db, ref, 'columns' in shape ? shape.columns : []);
      if (change.kind === 'gone') gone.push({ ref, how: change.how });
      else if (change.kind === 'columns') this.set(ref, { columns: change.columns });
      else if (change.kind === 'unknown') this.set(ref, { unknown: `${change.why}: ${query.slice(0, 300)}` });
    }
    return gone;
  }
}
