/**
 * The shape of a stream's mapping rules (`stream.mapping`, or a reusable mapping
 * resource that a stream names with `{"mappingId": "…"}`). Relational Migrator's rules in
 * sluice's terms: each source table ("schema.table") says where its rows go.
 *
 *   {"tables": {
 *     "public.orders":      {"collection": "orders", "fields": {"customer_id": {"name": "customerId", "type": "string"}}},
 *     "public.order_items": {"newDocuments": false,
 *                            "embed": {"into": "public.orders", "kind": "array", "field": "items",
 *                                      "foreignKey": ["order_id"], "sort": [{"field": "line_no"}]}}}}
 *
 * Pure data; the functions that apply it live beside this file (src/transform/mapping).
 */

/** What a field becomes in MongoDB when the column's own conversion is not wanted. */
export type FieldType = 'objectId' | 'date' | 'decimal128' | 'uuid' | 'string' | 'int' | 'long' | 'double' | 'boolean';

export interface FieldRule {
  /** The field name in the document; the column name when left out. */
  name?: string;
  /** false leaves the column out of the document. Default true. */
  include?: boolean;
  /** Converts the value; a value that cannot be converted is a rejected record naming the field. */
  type?: FieldType;
}

/**
 * `key` (default): `_id` is the primary key's value, or a subdocument {col: value, …}
 * for a composite key. `objectId`: `_id` is an ObjectId the server generates, and the
 * key is kept in `keyField` (default "_sourceKey"), which updates and deletes match on.
 */
export type IdStrategy = { strategy: 'key' } | { strategy: 'objectId'; keyField?: string };

export interface EmbedRule {
  /** The parent table, "schema.table"; its documents receive this table's rows. */
  into: string;
  /**
   * array: every child row, as an array field of the parent;
   * document: the one child row, as an embedded document (null when there is none);
   * merge: the one child row's fields, merged into the parent document.
   */
  kind: 'array' | 'document' | 'merge';
  /** The parent's field (array, document), or a prefix for merged fields (merge, default none). */
  field?: string;
  /** This table's columns that hold the parent's primary key, in the parent key's order. */
  foreignKey: string[];
  /**
   * The parent's key columns that `foreignKey` refers to, in the same order. Needed for a
   * composite parent key (its `_id` subdocument is keyed by the parent's field names)
   * and for the parent key's type override to apply to the lookup; defaults to none.
   */
  references?: string[];
  /** Order of an embedded array, by (mapped) field names; the child's key when left out. */
  sort?: { field: string; desc?: boolean }[];
}

export interface TableMapping {
  /** The collection of this table's own documents; the table name when left out. */
  collection?: string;
  /** false: the table writes no documents of its own (it is only embedded). Default true. */
  newDocuments?: boolean;
  /** Per source column. */
  fields?: Record<string, FieldRule>;
  /** Null values: kept as null (default) or the field is left out. */
  nulls?: 'keep' | 'omit';
  id?: IdStrategy;
  /** This table's rows also (or, with newDocuments false, only) go into a parent's documents. */
  embed?: EmbedRule;
}

export interface MappingSpec {
  tables?: Record<string, TableMapping>;
}

/** What a stream's `mapping` may hold: the rules themselves, or the id of a mapping resource. */
export type StreamMapping = MappingSpec | { mappingId: string };
