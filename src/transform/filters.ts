/**
 * A stream's row filters (relationalTableFilters, Relational Migrator's shape:
 * `{schema: {table: {whereClause, rowCount}}}`) with one meaning for the snapshot
 * and for change events. The snapshot pushes the clause into its SELECT (sources
 * call `tableWhere`); change events go through `RowFilter`, which tests the same
 * compiled clause on the row images:
 *
 *   INSERT whose row passes                → kept
 *   INSERT whose row does not pass         → dropped (counted as filtered)
 *   UPDATE whose new row passes            → kept: the sink replaces/upserts the full row
 *   UPDATE whose new row does not pass     → a DELETE when the old row passed or cannot
 *                                            be told (the row moved out of the filter),
 *                                            else dropped
 *   DELETE whose old row did not pass      → dropped; kept when it passed or cannot be told
 *
 * "Cannot be told": PostgreSQL sends only key columns in the old image unless the
 * table has REPLICA IDENTITY FULL. A delete of a document that is not there is a no-op,
 * so the doubt costs a write, never a wrong document.
 *
 * NOW() and CURRENT_DATE in a clause are read when the event is tested (as the
 * snapshot's database reads them when the SELECT runs).
 */
import { SluiceError, isSluiceError } from '../errors';
import { keyOf, type ChangeEvent, type EventBatch, type Row, type StreamSpec, type TableRef, type ColumnSpec, type TableSchema } from '../core';
import { compileWhere, type CompiledWhere, type Dialect } from './where';

export type { Dialect } from './where';

export interface TableFilterSpec {
  whereClause?: string;
  rowCount?: number;
  includeColumns?: string[];
  excludeColumns?: string[];
}

export function filterOf(stream: Pick<StreamSpec, 'relationalTableFilters'>, ref: TableRef): TableFilterSpec | undefined {
  return stream.relationalTableFilters?.[ref.schema]?.[ref.table];
}

/** rowCount for a table, when set. */
export function rowLimitOf(stream: Pick<StreamSpec, 'relationalTableFilters'>, ref: TableRef): number | undefined {
  const n = filterOf(stream, ref)?.rowCount;
  return typeof n === 'number' && n >= 0 ? n : undefined;
}

function located(err: unknown, ref: TableRef): never {
  if (!isSluiceError(err)) throw err;
  const where = `relationalTableFilters.${ref.schema}.${ref.table}.whereClause`;
  throw new SluiceError(err.code, `${where}: ${err.message}`, { ...err.detail, schema: ref.schema, table: ref.table, field: where }, { cause: err });
}

/**
 * Checks every whereClause of a stream spec without touching the database (create,
 * update and /validate): syntax, refusals and supported operations. Column names are
 * checked when the stream starts, against the table itself.
 */
export function validateFilters(stream: Pick<StreamSpec, 'relationalTableFilters'>, dialect: Dialect): void {
  for (const [schema, tables] of Object.entries(stream.relationalTableFilters ?? {})) {
    for (const [table, spec] of Object.entries(tables ?? {})) {
      if (spec?.whereClause === undefined) continue;
      try {
        compileWhere(spec.whereClause, { dialect, table });
      } catch (err) {
        located(err, { schema, table });
      }
    }
  }
}

/** The compiled whereClause of one table, bound to its columns; undefined when it has none. */
export function tableWhere(stream: Pick<StreamSpec, 'relationalTableFilters'>, ref: TableRef, dialect: Dialect, columns: readonly ColumnSpec[]): CompiledWhere | undefined {
  const clause = filterOf(stream, ref)?.whereClause;
  if (clause === undefined) return undefined;
  try {
    return compileWhere(clause, { dialect, table: ref.table, columns });
  } catch (err) {
    return located(err, ref);
  }
}

/** Every column an image must carry for the clause to be decided on it. */
function decidable(where: CompiledWhere, image: Row | null): image is Row {
  if (!image) return false;
  for (const c of where.columns) if (image[c] === undefined) return false;
  return true;
}

export interface FilterResult {
  batch: EventBatch;
  /** Events dropped, per table. */
  filtered: Array<{ table: TableRef; n: number }>;
}

/** Applies a stream's whereClauses to change events (see the file comment for the rules). */
export class RowFilter {
  readonly #stream: Pick<StreamSpec, 'relationalTableFilters'>;
  readonly #dialect: Dialect;
  /** Compiled per table schema object (sources share one per table version). */
  readonly #compiled = new WeakMap<TableSchema, CompiledWhere | null>();
  readonly #unbound = new Map<string, CompiledWhere | null>();
  readonly #now: () => number;
  readonly #filterReads: boolean;

  /**
   * `filterReads`: snapshot reads are tested too (and dropped when they do not match), for
   * snapshots no SELECT of ours filtered (Debezium's, read from its topics).
   */
  constructor(stream: Pick<StreamSpec, 'relationalTableFilters'>, dialect: Dialect, now: () => number = Date.now, filterReads = false) {
    this.#stream = stream;
    this.#dialect = dialect;
    this.#now = now;
    this.#filterReads = filterReads;
  }

  /** Whether any table has a whereClause at all (no work to do otherwise). */
  get active(): boolean {
    return Object.values(this.#stream.relationalTableFilters ?? {}).some((t) => Object.values(t ?? {}).some((f) => f?.whereClause !== undefined));
  }

  #where(e: ChangeEvent): CompiledWhere | null {
    if (filterOf(this.#stream, e.table)?.whereClause === undefined) return null;
    if (e.schema) {
      let w = this.#compiled.get(e.schema);
      if (w === undefined) {
        w = tableWhere(this.#stream, e.table, this.#dialect, e.schema.columns) ?? null;
        this.#compiled.set(e.schema, w);
      }
      return w;
    }
    const k = `${e.table.schema}.${e.table.table}`;
    let w = this.#unbound.get(k);
    if (w === undefined) {
      const clause = filterOf(this.#stream, e.table)!.whereClause!;
      try {
        w = compileWhere(clause, { dialect: this.#dialect, table: e.table.table });
      } catch (err) {
        located(err, e.table);
      }
      this.#unbound.set(k, w);
    }
    return w;
  }

  /**
   * One event through the filter: itself, a delete in its place, or null (dropped).
   * Snapshot reads ('r') are already filtered by the source's SELECT and pass as they are
   * (unless `filterReads`: then one that does not match is dropped, as an insert would be).
   */
  event(e: ChangeEvent, now = this.#now()): ChangeEvent | null {
    if (e.op === 'r' && !this.#filterReads) return e;
    const where = this.#where(e);
    if (!where) return e;
    try {
      return this.#decide(e, where, now);
    } catch (err) {
      // A row whose LIKE would cost more than the per-row cap (like.ts): the run stops, naming the table and key.
      if (!isSluiceError(err) || err.code !== 'FILTER_EVALUATION_LIMIT') throw err;
      const table = `${e.table.schema}.${e.table.table}`;
      throw new SluiceError(err.code, `relationalTableFilters.${table}.whereClause: ${err.message}`, { ...err.detail, table, key: e.key, op: e.op }, { cause: err });
    }
  }

  #decide(e: ChangeEvent, where: CompiledWhere, now: number): ChangeEvent | null {
    const was = decidable(where, e.before) ? where.test(e.before, now) : null;
    if (e.op === 'd') return was === false ? null : e;
    // An image with an unsent (unchanged TOASTed) column used by the clause takes that value from the old image when there is one.
    const after: Row = { ...e.after };
    for (const c of where.columns) if (after[c] === undefined && e.before?.[c] !== undefined) after[c] = e.before[c];
    const is = where.test(after, now);
    if (is) return e;
    if (e.op === 'c' || e.op === 'r' || was === false) return null;
    // The row moved out of the filter: its document goes. A key change leaves the old key's document behind otherwise.
    const keyCols = e.schema?.key ?? Object.keys(e.key);
    const oldKey = e.before && keyCols.every((k) => e.before![k] !== undefined) ? keyOf(keyCols, e.before) : e.key;
    return { ...e, op: 'd', key: oldKey, before: e.before ?? oldKey, after: null };
  }

  apply(batch: EventBatch): FilterResult {
    if (batch.events.length === 0 || !this.active) return { batch, filtered: [] };
    const now = this.#now();
    const out: ChangeEvent[] = [];
    const dropped = new Map<string, { table: TableRef; n: number }>();
    for (const e of batch.events) {
      const r = this.event(e, now);
      if (r) out.push(r);
      else {
        const k = `${e.table.schema}.${e.table.table}`;
        const d = dropped.get(k) ?? { table: e.table, n: 0 };
        d.n++;
        dropped.set(k, d);
      }
    }
    return { batch: out.length === batch.events.length && out.every((e, i) => e === batch.events[i]) ? batch : { ...batch, events: out }, filtered: [...dropped.values()] };
  }
}
