/**
 * Which shape decodes a binlog table map: the reader's side of the schema history
 * (schema-history.ts), kept in binlog order as zongji parses.
 *
 * A table whose shape the history knows at this point is decoded with it, checked
 * against the table map's column count and binlog types (and its column names, when
 * the server writes them: binlog_row_metadata=FULL); a disagreement means the history
 * is wrong, and the stream stops (SOURCE_SCHEMA_CHANGED) rather than guess.
 *
 * A table the history does not know (a statement it could not follow, a position saved
 * before the history existed) falls back to information_schema, which knows the table
 * only as it is now: it is used when it matches the table map, and only for rows up to
 * the next DDL statement naming the table (ddl-history.ts's scan); rows before such a
 * statement, or a table map that does not match, stop the stream loudly, naming why the
 * history could not tell.
 */
import type { Logger } from 'pino';
import { SluiceError } from '../../src/errors';
import { buildSchema, readColumns, type TableMeta } from './catalog';
import { changesShape, isBefore, lastShapeChanges, type BinlogPoint } from './ddl-history';
import type { Conn } from './naming';
import { SchemaHistory } from './schema-history';
import type { ColumnMeta, TypeOptions } from './types';
import { tableMapMismatch, type ZongJiEvent } from './zongji';

const RESNAPSHOT = 'The table was altered after these events were written and before sluice read them, in a way the schema history could not follow. Re-snapshot the stream (POST /streams/{id}/start with {"resnapshot": true}) to resync MongoDB.';

const keyOf = (t: TableMeta): string => `${t.ref.schema}.${t.ref.table}`;

export class TableShapes {
  readonly #tables: TableMeta[];
  readonly #typeOptions: TypeOptions;
  readonly #logger: Logger;
  #history: SchemaHistory;
  /** Per table, its TableMeta for the columns last used (rebuilt only when they change). */
  readonly #built = new Map<string, { columns: ColumnMeta[]; meta: TableMeta }>();
  /** Fallback: the catalog's schema per table, replaced when it is re-read. */
  readonly #current = new Map<string, TableMeta>();
  /** Fallback: per table, the last DDL naming it that was ahead in the binlog when we looked: rows before it are refused. */
  #horizon = new Map<string, BinlogPoint>();
  /** Fallback: per unknown table, where a DDL naming it was read since its catalog schema was: the next table map re-reads it. */
  readonly #altered = new Map<string, BinlogPoint>();

  constructor(tables: TableMeta[], typeOptions: TypeOptions, logger: Logger) {
    this.#tables = tables;
    this.#typeOptions = typeOptions;
    this.#logger = logger;
    this.#history = SchemaHistory.decode(undefined, tables.map((t) => t.ref));
    for (const t of tables) this.#current.set(keyOf(t), t);
  }

  get encoded(): string {
    return this.#history.encoded;
  }

  /** The history as of `shapes` (a position's), and for tables it does not know, the DDL ahead of `from`. */
  async start(meta: Conn, from: BinlogPoint, shapes: string | null | undefined): Promise<void> {
    this.reset(shapes);
    const unknown = this.#tables.filter((t) => !('columns' in this.#history.get(t.ref)));
    this.#horizon = unknown.length === 0 ? new Map() : await lastShapeChanges(meta, from, unknown.map((t) => t.ref));
  }

  /** Back to the history of a position (a reconnect re-reads from it). */
  reset(shapes: string | null | undefined): void {
    this.#history = SchemaHistory.decode(shapes ?? undefined, this.#tables.map((t) => t.ref));
    this.#altered.clear();
  }

  /**
   * A DDL statement read at `at`: applied to the history. Returns the captured tables it
   * dropped or renamed, and the history after it (what positions from here carry).
   */
  onDdl(query: string, db: string | null, at: BinlogPoint): { gone: Array<{ table: string; how: string }>; shapes: string } {
    const gone = this.#history.apply(query, db, this.#tables.map((t) => t.ref));
    for (const t of this.#tables) {
      if (!('columns' in this.#history.get(t.ref)) && changesShape(query, db, t.ref) && !this.#altered.has(keyOf(t))) this.#altered.set(keyOf(t), at);
    }
    return { gone: gone.map((g) => ({ table: `${g.ref.schema}.${g.ref.table}`, how: g.how })), shapes: this.#history.encoded };
  }

  /** For a row event at `at` of a table the history does not know: the later DDL it was written before, and why the history cannot tell. */
  writtenBefore(t: TableMeta, at: BinlogPoint): { point: BinlogPoint; why: string } | undefined {
    const horizon = this.#horizon.get(keyOf(t));
    if (!horizon || !isBefore(at, horizon)) return undefined;
    const shape = this.#history.get(t.ref);
    return { point: horizon, why: 'unknown' in shape ? shape.unknown : 'unknown' };
  }

  #meta(t: TableMeta, columns: ColumnMeta[]): TableMeta {
    const built = this.#built.get(keyOf(t));
    if (built?.columns === columns) return built.meta;
    const meta: TableMeta = { ...t, columns, schema: buildSchema(t.ref, columns, t.key, this.#typeOptions) };
    this.#built.set(keyOf(t), { columns, meta });
    return meta;
  }

  #keyCheck(t: TableMeta, columns: ColumnMeta[]): void {
    const missing = t.key.filter((k) => !columns.some((c) => c.name === k));
    if (missing.length > 0) {
      throw new SluiceError('SOURCE_SCHEMA_CHANGED', `key column${missing.length > 1 ? 's' : ''} ${missing.join(', ')} of ${keyOf(t)} no longer exist`, { table: keyOf(t), missing });
    }
  }

  /** The schema a table map's rows are decoded with, or SOURCE_SCHEMA_CHANGED. */
  async resolve(meta: Conn, e: ZongJiEvent): Promise<TableMeta> {
    const key = `${e.schemaName}.${e.tableName}`;
    const t = this.#current.get(key);
    if (!t) throw new SluiceError('SOURCE_READ_FAILED', `table map for ${key}, which the stream does not capture`, { table: key });
    const shape = this.#history.get(t.ref);
    if ('columns' in shape) {
      const known = this.#meta(t, shape.columns);
      const why = tableMapMismatch(e.columnTypes ?? [], known) ?? this.#namesDiffer(e, known);
      if (why !== null) {
        throw new SluiceError('SOURCE_SCHEMA_CHANGED', `binlog events for ${key} do not match the table's shape in the schema history at this point (${why})`, { table: key }, { suggestion: RESNAPSHOT });
      }
      this.#keyCheck(t, shape.columns);
      return known;
    }
    return this.#fromCatalog(meta, e, t, shape.unknown);
  }

  #namesDiffer(e: ZongJiEvent, t: TableMeta): string | null {
    const names = e.columnNames;
    if (!names || names.join('\0') === t.columns.map((c) => c.name).join('\0')) return null;
    return `the events name the columns ${names.join(', ')}, the history has ${t.columns.map((c) => c.name).join(', ')}`;
  }

  async #fromCatalog(meta: Conn, e: ZongJiEvent, t: TableMeta, unknown: string): Promise<TableMeta> {
    const key = keyOf(t);
    const held = this.#current.get(key)!;
    const alteredAt = this.#altered.get(key);
    if (alteredAt === undefined && tableMapMismatch(e.columnTypes ?? [], held) === null && this.#namesDiffer(e, held) === null) return held;
    // The table changed shape since we last looked: take what the catalog says now, but
    // only if it matches what this event was written with, and only for events up to the
    // next DDL naming the table (the catalog may already reflect that one).
    const columns = await readColumns(meta, t.ref);
    if (alteredAt !== undefined) {
      const later = (await lastShapeChanges(meta, alteredAt, [t.ref])).get(key);
      if (later) this.#horizon.set(key, later);
      this.#altered.delete(key);
    }
    const fresh: TableMeta = { ...t, columns, schema: buildSchema(t.ref, columns, t.key, this.#typeOptions) };
    const why = tableMapMismatch(e.columnTypes ?? [], fresh) ?? this.#namesDiffer(e, fresh);
    if (why !== null) {
      throw new SluiceError('SOURCE_SCHEMA_CHANGED', `binlog events for ${key} were written with a different table shape than the table has now (${why}); the schema history cannot tell their shape (${unknown}), and decoding them with today's column names would put values in the wrong fields`, {
        table: key,
      }, { suggestion: RESNAPSHOT });
    }
    this.#keyCheck(t, columns);
    this.#logger.info({ table: key, columns: columns.map((c) => c.name), unknown }, 'table shape read from information_schema (the schema history could not tell it)');
    this.#current.set(key, fresh);
    // No later DDL names the table: today's catalog is its shape here, and the history follows it from now on.
    const ahead = this.#horizon.get(key);
    if (!ahead || (alteredAt !== undefined && !isBefore(alteredAt, ahead))) this.#history.set(t.ref, { columns });
    return fresh;
  }
}
