/**
 * Where a table's rows go and as what: the stream's mapping rules, checked; the
 * collection of each table; the conversion options the mapping functions take on a
 * given server; and the message of a record that cannot be converted. The sink, verify
 * (verify.ts) and the mapping preview (preview.ts) share them, so that what they show
 * is what the sink writes.
 */
import type { MapOptions, StreamSpec, TableRef } from '../../src/core';
import { SluiceError } from '../../src/errors';
import { tableName, validateMapping, type MappingSpec } from '../../src/transform/mapping';
import { toBson, type DecimalMode } from './bson';

/**
 * The stream's mapping spec, checked. A `{mappingId}` reference must have been resolved
 * into the rules before the run; one that reaches the sink is refused.
 */
export function sinkMapping(stream: Pick<StreamSpec, 'mapping' | 'tables'>): MappingSpec | null {
  const m = stream.mapping as Record<string, unknown> | undefined;
  if (!m) return null;
  if ('mappingId' in m && m.tables === undefined) {
    throw new SluiceError('MAPPING_INVALID', `mapping: the mapping ${String(m.mappingId)} was not resolved before the run`, { field: 'mapping.mappingId' });
  }
  const spec = validateMapping(m, stream.tables);
  return spec.tables && Object.keys(spec.tables).length > 0 ? spec : null;
}

/**
 * The options the mapping functions take, with this sink's conversion of canonical
 * values: what the mapping preview passes to previewDocuments to show what the sink
 * would write (decimals 'string' for FerretDB v1).
 */
export function mapOptionsFor(decimals: DecimalMode = 'decimal128', finiteDoublesOnly = false): MapOptions {
  const opts = { decimals, finiteDoublesOnly };
  return { decimals, convert: (v, field) => toBson(v, opts, field) };
}

/** The sink's message for a record it cannot convert (the mapping preview shows the same). */
export function rejectionMessage(database: string, collection: string, table: string, key: Record<string, unknown>, cause: string): string {
  return `Cannot convert the record for collection ${database}.${collection}, key ${JSON.stringify(key)} (table ${table}): ${cause}`;
}

/** The collection a table's own documents go to, or null when it writes none (embedded only). */
export function ownCollection(stream: Pick<StreamSpec, 'mapping'>, spec: MappingSpec | null, table: TableRef): string | null {
  if (spec?.tables?.[tableName(table)]?.newDocuments === false) return null;
  return collectionFor(stream, table);
}

/** The collection a table is written to: `mapping.tables['schema.table'].collection`, else the table name. */
export function collectionFor(stream: Pick<StreamSpec, 'mapping'>, table: TableRef): string {
  const tables = (stream.mapping as { tables?: unknown } | undefined)?.tables;
  if (tables && typeof tables === 'object') {
    const entry = (tables as Record<string, unknown>)[`${table.schema}.${table.table}`];
    const name = (entry as { collection?: unknown } | undefined)?.collection;
    if (typeof name === 'string' && name !== '') return name;
  }
  return table.table;
}
