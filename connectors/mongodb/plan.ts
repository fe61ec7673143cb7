/**
 * Turns a batch of change events into one ordered list of writes per collection.
 * Pure, so the coalescing rules are unit-tested without a server.
 *
 * Every write is keyed by `_id` and idempotent (replace-with-upsert, $set-with-upsert,
 * delete), so replaying a batch converges to the same documents. A document's final
 * state depends only on the writes to its own `_id`, which is what makes coalescing
 * per `_id` safe: the last full image wins, a partial image ($set of the columns
 * that were sent) merges onto what came before it.
 */
import { BSON, type AnyBulkWriteOperation, type Document, type Filter } from 'mongodb';
import type { ChangeEvent, Row, TableRef } from '../../src/core';
import { FieldConversionError } from '../../src/transform/mapping';
import { ConversionError, convertRow, documentId, idString, type ConvertOptions } from './bson';

export type WriteKind = 'replace' | 'set' | 'delete';

export interface PlannedWrite {
  kind: WriteKind;
  id: unknown;
  /** replace: the whole document without `_id`; set: the fields to set. */
  fields: Document;
  /** set: fields to remove (nulls omitted by the mapping). */
  unset?: string[];
  /** Matches on this instead of `{_id: id}` (the objectId strategy's key field). */
  filter?: Document;
  /** The replacement carries no `_id`: the server generates it (objectId strategy). */
  noId?: boolean;
  /** set: update only a document that exists (embedded fields of a parent, staging cleanup). */
  noUpsert?: boolean;
  /** The last event that shaped this write: its index in the batch, table and key, for error reports. */
  eventIndex: number;
  table: TableRef;
  key: Row;
}

export interface CollectionPlan {
  collection: string;
  writes: PlannedWrite[];
}

/** A ConversionError with the event it came from, so the sink can name table and key. */
export class PlanError extends Error {
  constructor(
    readonly conversion: ConversionError,
    readonly eventIndex: number,
    readonly event: ChangeEvent,
  ) {
    super(conversion.message);
    this.name = 'PlanError';
  }
}

/**
 * A table's mapping rules as the planner applies them (src/transform/mapping): the
 * document key, the mapped fields, and the field writes match on.
 */
export interface RowMapper {
  key(key: Row, columns: readonly string[]): unknown;
  row(after: Row): { doc: Document; undefinedFields: string[]; omittedNulls: string[] };
  /** '_id' (key strategy) or the objectId strategy's key field. */
  keyField: string;
}

export interface PlanOptions extends ConvertOptions {
  /** The mapping of a table, when it has rules. */
  mapper?: (table: TableRef) => RowMapper | undefined;
  /**
   * The server's document size limit. Checked here because an oversized document
   * otherwise fails inside the driver's serialiser with an error that names neither
   * the document nor the limit.
   */
  maxDocumentBytes?: number;
}

/** Key columns in key order: the table schema's order when the source sent one. */
export function keyColumns(event: ChangeEvent): string[] {
  const fromSchema = event.schema?.key;
  if (fromSchema && fromSchema.length > 0 && fromSchema.every((c) => c in event.key)) return [...fromSchema];
  return Object.keys(event.key);
}

function oldKeyOf(event: ChangeEvent, columns: string[]): Row | null {
  const before = event.before;
  if (!before || !columns.every((c) => before[c] !== undefined)) return null;
  return Object.fromEntries(columns.map((c) => [c, before[c]]));
}

// $set takes dotted names as paths and rejects `$` prefixes, so a partial image can
// only carry plain names; full images (replace) store any name literally.
const PATH_UNSAFE = /[.]|^\$/;

class CollectionBuilder {
  readonly #byId = new Map<string, PlannedWrite>();

  constructor(readonly collection: string) {}

  apply(w: PlannedWrite): void {
    const k = idString(w.id);
    const prev = this.#byId.get(k);
    if (prev && w.kind === 'set') {
      const without = (fields: Document, names: readonly string[] = []): Document => {
        const out = { ...fields };
        for (const n of names) delete out[n];
        return out;
      };
      if (prev.kind === 'replace') w = { ...w, kind: 'replace', fields: { ...without(prev.fields, w.unset), ...w.fields }, unset: undefined };
      else if (prev.kind === 'set') {
        const unset = [...new Set([...(prev.unset ?? []).filter((n) => !(n in w.fields)), ...(w.unset ?? [])])];
        w = { ...w, fields: { ...without(prev.fields, w.unset), ...w.fields }, ...(unset.length > 0 ? { unset } : {}) };
      }
      // After a delete the document is gone, and an upserting $set would create
      // exactly {_id, ...fields}: that is a replace with those fields.
      else w = { ...w, kind: 'replace', unset: undefined };
    }
    // Map order is first-touch order; order across different _ids does not matter.
    this.#byId.set(k, w);
  }

  build(): CollectionPlan {
    return { collection: this.collection, writes: [...this.#byId.values()] };
  }
}

/**
 * Plans a batch. `collectionFor` maps a table to its collection. Throws PlanError
 * for a value that cannot be converted exactly.
 */
export function planBatch(
  events: readonly ChangeEvent[],
  collectionFor: (table: TableRef) => string | null,
  opts: PlanOptions,
): CollectionPlan[] {
  const builders = new Map<string, CollectionBuilder>();
  events.forEach((event, eventIndex) => {
    // null: the table writes no documents of its own (only embedded).
    const collection = collectionFor(event.table);
    if (collection === null) return;
    let b = builders.get(collection);
    if (!b) builders.set(collection, (b = new CollectionBuilder(collection)));
    try {
      for (const w of writesFor(event, eventIndex, opts)) b.apply(w);
    } catch (err) {
      if (err instanceof ConversionError) throw new PlanError(err, eventIndex, event);
      if (err instanceof FieldConversionError) throw new PlanError(new ConversionError(err.field, err.message), eventIndex, event);
      throw err;
    }
  });
  return [...builders.values()].map((b) => b.build());
}

function writesFor(event: ChangeEvent, eventIndex: number, opts: PlanOptions): PlannedWrite[] {
  const mapper = opts.mapper?.(event.table);
  if (mapper) return mappedWritesFor(event, eventIndex, opts, mapper);
  const columns = keyColumns(event);
  const id = documentId(event.key, columns, opts);
  const base = { id, eventIndex, table: event.table, key: event.key };
  if (event.op === 'd') return [{ ...base, kind: 'delete', fields: {} }];
  if (!event.after) throw new ConversionError('after', `a '${event.op}' event has no after image`);

  const out: PlannedWrite[] = [];
  if (event.op === 'u') {
    // A primary-key change moves the row: the document under the old _id must go.
    const oldKey = oldKeyOf(event, columns);
    if (oldKey) {
      const oldId = documentId(oldKey, columns, opts);
      if (idString(oldId) !== idString(id)) out.push({ ...base, id: oldId, key: oldKey, kind: 'delete', fields: {} });
    }
  }
  const { doc, undefinedFields } = convertRow(event.after, opts);
  // The key decides `_id`; a column that happens to be called _id cannot override it.
  delete doc._id;
  if (opts.maxDocumentBytes !== undefined) {
    const size = BSON.calculateObjectSize({ _id: id, ...doc });
    if (size > opts.maxDocumentBytes) throw new ConversionError('_document', `the document is ${size} bytes, over the server's limit of ${opts.maxDocumentBytes}`);
  }
  if (event.op === 'u' && undefinedFields.length > 0) {
    const unsafe = Object.keys(doc).find((f) => PATH_UNSAFE.test(f));
    if (unsafe !== undefined) {
      throw new ConversionError(unsafe, 'a partial update (unchanged TOASTed columns) cannot set a field whose name contains "." or starts with "$"');
    }
    out.push({ ...base, kind: 'set', fields: doc });
  } else {
    out.push({ ...base, kind: 'replace', fields: doc });
  }
  return out;
}

/** writesFor under a table's mapping rules: the same writes, with the mapped key, fields and filter. */
function mappedWritesFor(event: ChangeEvent, eventIndex: number, opts: PlanOptions, m: RowMapper): PlannedWrite[] {
  const columns = keyColumns(event);
  const byKeyField = m.keyField !== '_id';
  const located = (key: Row): Pick<PlannedWrite, 'id' | 'key' | 'filter' | 'noId'> => {
    const id = m.key(key, columns);
    return byKeyField ? { id, key, filter: { [m.keyField]: id }, noId: true } : { id, key };
  };
  const base = { ...located(event.key), eventIndex, table: event.table };
  if (event.op === 'd') return [{ ...base, kind: 'delete', fields: {} }];
  if (!event.after) throw new ConversionError('after', `a '${event.op}' event has no after image`);
  const out: PlannedWrite[] = [];
  if (event.op === 'u') {
    const oldKey = oldKeyOf(event, columns);
    if (oldKey) {
      const old = located(oldKey);
      if (idString(old.id) !== idString(base.id)) out.push({ ...base, ...old, kind: 'delete', fields: {} });
    }
  }
  const { doc, undefinedFields, omittedNulls } = m.row(event.after);
  delete doc._id;
  if (byKeyField) doc[m.keyField] = base.id;
  if (opts.maxDocumentBytes !== undefined) {
    const size = BSON.calculateObjectSize(byKeyField ? doc : { _id: base.id, ...doc });
    if (size > opts.maxDocumentBytes) throw new ConversionError('_document', `the document is ${size} bytes, over the server's limit of ${opts.maxDocumentBytes}`);
  }
  if (event.op === 'u' && undefinedFields.length > 0) {
    const unsafe = [...Object.keys(doc), ...omittedNulls].find((f) => PATH_UNSAFE.test(f));
    if (unsafe !== undefined) {
      throw new ConversionError(unsafe, 'a partial update (unchanged TOASTed columns) cannot set a field whose name contains "." or starts with "$"');
    }
    out.push({ ...base, kind: 'set', fields: doc, ...(omittedNulls.length > 0 ? { unset: omittedNulls } : {}) });
  } else {
    out.push({ ...base, kind: 'replace', fields: doc });
  }
  return out;
}

/** The driver operations for one collection's writes, in order; `writes[i]` produced `ops[i]`. */
export function bulkOperations(planned: readonly PlannedWrite[]): { ops: AnyBulkWriteOperation<Document>[]; writes: PlannedWrite[] } {
  const ops: AnyBulkWriteOperation<Document>[] = [];
  const writes: PlannedWrite[] = [];
  for (const w of planned) {
    const filter = (w.filter ?? { _id: w.id }) as Filter<Document>;
    if (w.kind === 'delete') ops.push({ deleteOne: { filter } });
    else if (w.kind === 'replace') ops.push({ replaceOne: { filter, replacement: w.noId ? { ...w.fields } : { _id: w.id, ...w.fields }, upsert: true } });
    // An update that sent nothing but unchanged columns changes nothing; an empty $set
    // is an error on older servers, so it is left out.
    else if (Object.keys(w.fields).length > 0 || (w.unset?.length ?? 0) > 0) {
      const update: Document = {};
      if (Object.keys(w.fields).length > 0) update.$set = w.fields;
      if (w.unset && w.unset.length > 0) update.$unset = Object.fromEntries(w.unset.map((f) => [f, '']));
      ops.push({ updateOne: { filter, update, upsert: w.noUpsert !== true } });
    } else continue;
    writes.push(w);
  }
  return { ops, writes };
}

/**
 * Splits a collection's writes into documents that can be inserted outright and the
 * rest. A replace whose last event was a read (snapshot) or a create usually meets no
 * existing document, and a plain insert is several times cheaper than an upsert
 * (which must look the _id up first). Safe because a plan holds at most one write per
 * _id, so the two groups can be applied in any order; an insert that meets an
 * existing _id (a replayed batch) is redone as the replace it stands for.
 */
export function splitInserts(
  writes: readonly PlannedWrite[],
  opOf: (eventIndex: number) => ChangeEvent['op'] | undefined,
): { inserts: PlannedWrite[]; rest: PlannedWrite[] } {
  const inserts: PlannedWrite[] = [];
  const rest: PlannedWrite[] = [];
  for (const w of writes) {
    const op = opOf(w.eventIndex);
    // objectId strategy: the key field is unique only if its index could be created, so always upsert.
    if (w.kind === 'replace' && !w.noId && (op === 'r' || op === 'c')) inserts.push(w);
    else rest.push(w);
  }
  return { inserts, rest };
}
