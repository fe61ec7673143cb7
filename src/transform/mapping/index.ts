/**
 * Mapping rules (issue 6): where a table's rows go and what their documents look
 * like. Pure functions; the MongoDB sink applies them to change events, the mapping
 * preview to rows read from the source, with the same code.
 */
import type { Row, TableRef, TableSchema, MapOptions } from '../../core';
import type { MappingSpec, TableMapping } from './spec';
import { buildEmbedded, childrenOf, keyString, parentKeyOf, type ChildDoc } from './embed';
import { documentFor, documentKey, fieldName, included, mapRow } from './rows';

export * from './spec';
export { FieldConversionError, convertType, FIELD_TYPES, type TypeOptions } from './types';
export { mapRow, mapValue, documentKey, documentFor, keyFieldOf, keyFilter, fieldName, included, DEFAULT_KEY_FIELD, type MappedRow } from './rows';
export { buildEmbedded, childrenOf, compareValues, embedField, keyString, parentKeyOf, sortChildren, type ChildDoc, type Embedded } from './embed';
export { validateMapping, validateStreamMapping, validateTableColumns } from './validate';

export const tableName = (t: TableRef): string => `${t.schema}.${t.table}`;

/** A table's rules, when the spec has any. */
export const tableMapping = (spec: MappingSpec | undefined, t: TableRef | string): TableMapping | undefined =>
  spec?.tables?.[typeof t === 'string' ? t : tableName(t)];

/** The collection of a table's own documents. */
export const collectionOf = (spec: MappingSpec | undefined, t: TableRef): string => tableMapping(spec, t)?.collection || t.table;

/** The field names a table's rows can produce (merge embeds remove those a child no longer has). */
export function mappedFieldNames(tm: TableMapping | undefined, schema: TableSchema | undefined): string[] {
  return (schema?.columns ?? []).filter((c) => included(tm, c.name)).map((c) => fieldName(tm, c.name));
}

export interface PreviewTable {
  table: TableRef;
  schema: TableSchema;
  rows: Row[];
}

/**
 * The documents the sink would write for these rows: each table with documents of its
 * own gives its collection's documents, with its children (from the child tables' rows
 * given here) embedded. Under the objectId strategy the server generates `_id`, so a
 * preview document has the key field only.
 */
export function previewDocuments(spec: MappingSpec | undefined, tables: readonly PreviewTable[], opts: MapOptions): { collection: string; documents: Record<string, unknown>[] }[] {
  const byName = new Map(tables.map((t) => [tableName(t.table), t]));
  const out: { collection: string; documents: Record<string, unknown>[] }[] = [];
  for (const t of tables) {
    const name = tableName(t.table);
    const tm = tableMapping(spec, name);
    if (tm?.newDocuments === false) continue;
    // Children grouped by the parent key they point at.
    const embeds = childrenOf(spec, name).map(([child, rule]) => {
      const groups = new Map<string, ChildDoc[]>();
      const c = byName.get(child);
      const ctm = tableMapping(spec, child);
      for (const row of c?.rows ?? []) {
        const pk = parentKeyOf(row, rule, tm, opts);
        if (pk === null) continue;
        const k = keyString(pk);
        const list = groups.get(k) ?? [];
        list.push({ key: documentKey(row, c!.schema.key, ctm, opts), doc: mapRow(row, ctm, opts).doc });
        groups.set(k, list);
      }
      return { child, rule, groups, fields: mappedFieldNames(ctm, c?.schema) };
    });
    const documents = t.rows.map((row) => {
      const key = documentKey(row, t.schema.key, tm, opts);
      let fields = mapRow(row, tm, opts).doc;
      for (const e of embeds) {
        const built = buildEmbedded(e.rule, e.child, e.groups.get(keyString(key)) ?? [], e.fields);
        fields = { ...fields, ...built.set };
      }
      return documentFor(tm, key, fields);
    });
    out.push({ collection: collectionOf(spec, t.table), documents });
  }
  return out;
}

