/**
 * Column include/exclude per table (relationalTableFilters' `includeColumns` /
 * `excludeColumns`), applied in the source's process before anything is published,
 * so an excluded column never reaches the transport, Kafka or MongoDB. Row filters
 * run first: a whereClause may read a column that is not sent on.
 */
import { SluiceError } from '../errors';
import type { ChangeEvent, Row, StreamSpec, TableRef, TableSchema } from '../core';
import { filterOf } from './filters';

export interface ColumnFilterSpec {
  /** Only these columns (the key columns are always kept). */
  includeColumns?: string[];
  /** Every column but these; key columns cannot be excluded. */
  excludeColumns?: string[];
}

type Spec = Pick<StreamSpec, 'relationalTableFilters'>;

function columnSpec(stream: Spec, ref: TableRef): ColumnFilterSpec | undefined {
  const f = filterOf(stream, ref);
  return f && (f.includeColumns || f.excludeColumns) ? f : undefined;
}

/** The columns of `schema` that are sent on; throws for unknown names and excluded key columns. */
export function keptColumns(stream: Spec, ref: TableRef, schema: TableSchema): Set<string> | null {
  const spec = columnSpec(stream, ref);
  if (!spec) return null;
  const names = new Set(schema.columns.map((c) => c.name));
  const field = `relationalTableFilters.${ref.schema}.${ref.table}`;
  for (const [which, list] of [['includeColumns', spec.includeColumns], ['excludeColumns', spec.excludeColumns]] as const) {
    for (const c of list ?? []) {
      if (!names.has(c)) {
        throw new SluiceError('FILTER_COLUMN_UNKNOWN', `${field}.${which}: the table has no column ${JSON.stringify(c)}`, { schema: ref.schema, table: ref.table, column: c, field: `${field}.${which}` });
      }
    }
  }
  const key = schema.key.find((k) => spec.excludeColumns?.includes(k));
  if (key !== undefined) {
    throw new SluiceError('FILTER_COLUMNS_INVALID', `${field}.excludeColumns: ${key} is a key column; documents are keyed by it, so it cannot be excluded`, {
      schema: ref.schema,
      table: ref.table,
      column: key,
      field: `${field}.excludeColumns`,
    });
  }
  const kept = new Set(spec.includeColumns ? [...schema.key, ...spec.includeColumns] : names);
  for (const c of spec.excludeColumns ?? []) kept.delete(c);
  return kept;
}

/** Projects change events onto the kept columns, with a projected schema shared per table version. */
export class ColumnFilter {
  readonly #stream: Spec;
  readonly #bySchema = new WeakMap<TableSchema, { kept: Set<string>; schema: TableSchema } | null>();

  constructor(stream: Spec) {
    this.#stream = stream;
  }

  get active(): boolean {
    return Object.values(this.#stream.relationalTableFilters ?? {}).some((t) => Object.values(t ?? {}).some((f) => f?.includeColumns || f?.excludeColumns));
  }

  #projection(e: ChangeEvent): { kept: Set<string>; schema: TableSchema | undefined } | null {
    if (!columnSpec(this.#stream, e.table)) return null;
    if (!e.schema) {
      // Without a schema the names cannot be checked; project by the spec alone.
      const spec = columnSpec(this.#stream, e.table)!;
      const all = Object.keys(e.after ?? e.before ?? {});
      const kept = new Set(spec.includeColumns ? [...Object.keys(e.key), ...spec.includeColumns] : all);
      for (const c of spec.excludeColumns ?? []) if (!(c in e.key)) kept.delete(c);
      return { kept, schema: undefined };
    }
    let p = this.#bySchema.get(e.schema);
    if (p === undefined) {
      const kept = keptColumns(this.#stream, e.table, e.schema);
      p = kept && { kept, schema: { ...e.schema, columns: e.schema.columns.filter((c) => kept.has(c.name)) } };
      this.#bySchema.set(e.schema, p);
    }
    return p;
  }

  event(e: ChangeEvent): ChangeEvent {
    const p = this.#projection(e);
    if (!p) return e;
    const project = (row: Row | null): Row | null => (row ? Object.fromEntries(Object.entries(row).filter(([k]) => p.kept.has(k))) : row);
    return { ...e, before: project(e.before), after: project(e.after), ...(p.schema ? { schema: p.schema } : {}) };
  }
}

/** A table as a stream reads it: the schema of its kept columns, and what readRows is asked for. */
export interface StreamTableRead {
  /** The table's schema with only the kept columns (the key stays). */
  schema: TableSchema;
  /** The columns to read; left out when every column is kept. */
  columns?: string[];
  /** The table's whereClause, when it has one. */
  where?: string;
}

/**
 * How `stream` reads a table of this schema (as the snapshot does): column include/exclude
 * applied to the schema, and its whereClause. Verification and the mapping preview read
 * source rows through readRows with it.
 */
export function streamTableRead(stream: Spec, ref: TableRef, schema: TableSchema): StreamTableRead {
  const kept = keptColumns(stream, ref, schema);
  const columns = kept ? schema.columns.filter((c) => kept.has(c.name)).map((c) => c.name) : undefined;
  const where = filterOf(stream, ref)?.whereClause;
  return {
    schema: { ...schema, columns: schema.columns.filter((c) => !columns || columns.includes(c.name)) },
    ...(columns ? { columns } : {}),
    ...(where !== undefined ? { where } : {}),
  };
}
