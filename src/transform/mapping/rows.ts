/**
 * One row → one document, by a table's rules: rename, include/exclude, type
 * override, nulls kept or omitted; and the document's identity per `_id` strategy.
 * Pure. `convert` is the sink's own canonical-value conversion (connectors/mongodb/bson.ts)
 * for the columns that have no type override.
 */
import type { MapOptions, Row } from '../../core';
import type { TableMapping } from './spec';
import { convertType, FieldConversionError } from './types';

export interface MappedRow {
  /** The document's fields (no `_id`). */
  doc: Record<string, unknown>;
  /** Mapped names of columns whose value was not sent (unchanged TOASTed columns): left as they are. */
  undefinedFields: string[];
  /** Mapped names of null columns left out (nulls: omit): a partial update must unset them. */
  omittedNulls: string[];
}

export const DEFAULT_KEY_FIELD = '_sourceKey';

/** The document field name of a column. */
export const fieldName = (tm: TableMapping | undefined, column: string): string => tm?.fields?.[column]?.name ?? column;

/** Whether a column is part of the document. */
export const included = (tm: TableMapping | undefined, column: string): boolean => tm?.fields?.[column]?.include !== false;

/** One value by the column's rule: its type override, else the sink's conversion. */
export function mapValue(value: unknown, column: string, tm: TableMapping | undefined, opts: MapOptions): unknown {
  if (value === null || value === undefined) return value;
  const type = tm?.fields?.[column]?.type;
  return type ? convertType(value, type, column, opts) : opts.convert(value, column);
}

export function mapRow(row: Row, tm: TableMapping | undefined, opts: MapOptions): MappedRow {
  const doc: Record<string, unknown> = {};
  const undefinedFields: string[] = [];
  const omittedNulls: string[] = [];
  const omit = tm?.nulls === 'omit';
  for (const [column, value] of Object.entries(row)) {
    if (!included(tm, column)) continue;
    const name = fieldName(tm, column);
    if (value === undefined) undefinedFields.push(name);
    else if (value === null) {
      if (omit) omittedNulls.push(name);
      else doc[name] = null;
    } else doc[name] = mapValue(value, column, tm, opts);
  }
  return { doc, undefinedFields, omittedNulls };
}

/**
 * The document's key: a single key column's value, or a subdocument of the key
 * columns (by their field names, in key order) for a composite key. Type overrides
 * of the key columns apply (a string key with `type: objectId` gives an ObjectId `_id`).
 * With the `key` strategy this is `_id`; with `objectId` it is the value of keyField.
 */
export function documentKey(key: Row, columns: readonly string[], tm: TableMapping | undefined, opts: MapOptions): unknown {
  if (columns.length === 0) throw new FieldConversionError('_id', 'the event has no key columns');
  if (columns.length === 1) return mapValue(key[columns[0]!], columns[0]!, tm, opts);
  const id: Record<string, unknown> = {};
  for (const c of columns) id[fieldName(tm, c)] = mapValue(key[c], c, tm, opts);
  return id;
}

/** The field writes match on: `_id` (key strategy) or keyField (objectId strategy). */
export function keyFieldOf(tm: TableMapping | undefined): string {
  return tm?.id?.strategy === 'objectId' ? (tm.id.keyField ?? DEFAULT_KEY_FIELD) : '_id';
}

/** The filter that finds a table's document by its key. */
export function keyFilter(tm: TableMapping | undefined, key: unknown): Record<string, unknown> {
  return { [keyFieldOf(tm)]: key };
}

/**
 * A whole document as the sink writes it (previews use this too): `_id` and fields for
 * the key strategy; keyField and fields for objectId (the server then generates `_id`).
 */
export function documentFor(tm: TableMapping | undefined, key: unknown, fields: Record<string, unknown>): Record<string, unknown> {
  const kf = keyFieldOf(tm);
  const rest = { ...fields };
  delete rest._id;
  delete rest[kf];
  return { [kf]: key, ...rest };
}
