/**
 * The MongoDB side of stream verification (POST /streams/{id}/verify): per table,
 * the collection's count against the source's, then every source row against the
 * document the sink would have written for it, in chunks, and finally every
 * document the source does not explain.
 *
 * The comparison is built around one function, `expectedDocument` (row → the
 * collection, `_id` and fields the sink writes), using the sink's own conversion
 * (bson.ts, plan.ts's `_id` rule, `collectionFor`), so mapping rules plug in there.
 * Values are compared in one canonical form: both sides are put through the same
 * BSON round trip and written as canonical Extended JSON, so an int64 read back as a
 * JS number equals the Long that was written, and a decimal stored as text differs
 * from one stored as a number.
 *
 * Memory: the keys of one table (their canonical text) are held to find extra
 * documents, fine for tables of hundreds of thousands of rows.
 */
import { BSON, Binary, Decimal128, Long, type Document } from 'mongodb';
import { keyOf, jsonRow, jsonValue, type Row, type StreamSpec, type TableRef, type TableSchema, type TableVerification, type VerifyArgs, type VerifyChildTable, type VerifySourceTable } from '../../src/core';
import { SluiceError, isSluiceError } from '../../src/errors';
import { ConversionError, convertRow, documentId, type ConvertOptions } from './bson';
import { guardedClient, databaseFromUrl, detectServer, effectiveDecimalMode, parseOptions } from './client';
import { collectionFor, mapOptionsFor, sinkMapping } from './targets';
import {
  buildEmbedded,
  childrenOf,
  documentFor,
  documentKey,
  embedField,
  FieldConversionError,
  keyFieldOf,
  keyString,
  mappedFieldNames,
  mapRow,
  parentKeyOf,
  tableMapping,
  tableName,
  type ChildDoc,
  type EmbedRule,
  type MappingSpec,
} from '../../src/transform/mapping';

export interface ExpectedDocument {
  collection: string;
  /** The field writes match on: `_id` (key strategy) or the objectId strategy's keyField. */
  keyField: string;
  /** The document's key: its `_id`, or its keyField's value (the server generated `_id`). */
  id: unknown;
  /** Every field the document holds but `_id` (keyField included under objectId), embedded fields too. */
  fields: Document;
}

/** One child row as its parent holds it, or the error that made the sink reject it. */
export type ExpectedChild = ChildDoc | { rejected: string };

/** The mapping rules verification applies: the sink's checked spec (a `{mappingId}` must be resolved first). */
export const verifyMapping = (stream: VerifiedStream): MappingSpec | null => sinkMapping(stream as Pick<StreamSpec, 'mapping' | 'tables'>);

/** The parts of a stream verification reads (its tables, when given, check the mapping's table names). */
export type VerifiedStream = Pick<StreamSpec, 'mapping'> & Partial<Pick<StreamSpec, 'tables'>>;

/** A child row mapped by its table's rules, as staging holds it (its key and fields). */
export function expectedChild(spec: MappingSpec | null, child: TableRef, schema: TableSchema, row: Row, opts: ConvertOptions): ExpectedChild {
  const ctm = tableMapping(spec ?? undefined, child);
  const mo = mapOptionsFor(opts.decimals, opts.finiteDoublesOnly);
  try {
    return { key: documentKey(keyOf(schema.key, row), schema.key, ctm, mo), doc: mapRow(row, ctm, mo).doc };
  } catch (err) {
    if (err instanceof ConversionError || err instanceof FieldConversionError) return { rejected: err.message };
    throw err;
  }
}

/**
 * The parent key a child row points at, in keyString form (what the sink groups
 * staging by), or null when it points nowhere.
 */
export function childParentKey(spec: MappingSpec | null, parent: TableRef, child: TableRef, row: Row, opts: ConvertOptions): string | null {
  const rule = tableMapping(spec ?? undefined, child)?.embed;
  if (!rule) return null;
  const pk = parentKeyOf(row, rule, tableMapping(spec ?? undefined, parent), mapOptionsFor(opts.decimals, opts.finiteDoublesOnly));
  return pk === null ? null : keyString(pk);
}

/**
 * What the sink writes for a source row, through the sink's own code: without rules for
 * the table, every kept column and `_id` from the key (bson.ts); with rules, the mapping
 * functions of src/transform/mapping (field rules, type overrides, nulls, `_id`
 * strategy), and, for a parent, the fields `buildEmbedded` makes of its children's rows
 * (`children`, by child table: the rows pointing at this parent, mapped by expectedChild).
 */
export function expectedDocument(
  stream: VerifiedStream,
  table: TableRef,
  schema: TableSchema,
  row: Row,
  opts: ConvertOptions,
  children: ReadonlyMap<string, readonly ChildDoc[]> = new Map(),
  spec: MappingSpec | null = verifyMapping(stream),
): ExpectedDocument {
  const tm = tableMapping(spec ?? undefined, table);
  const collection = collectionFor(stream, table);
  let id: unknown;
  let fields: Document;
  if (!tm) {
    id = documentId(keyOf(schema.key, row), schema.key, opts);
    fields = convertRow(row, opts).doc;
    delete fields._id;
  } else {
    const mo = mapOptionsFor(opts.decimals, opts.finiteDoublesOnly);
    id = documentKey(keyOf(schema.key, row), schema.key, tm, mo);
    fields = mapRow(row, tm, mo).doc;
  }
  for (const [child, rule] of childrenOf(spec ?? undefined, tableName(table))) Object.assign(fields, buildEmbedded(rule, child, children.get(child) ?? []).set);
  const keyField = keyFieldOf(tm);
  const doc = documentFor(tm, id, fields);
  delete doc._id;
  return { collection, keyField, id, fields: doc };
}

/** The parent fields one embed rule writes: its field (array, document), or the merged fields (prefix + the child's field names). */
export function embeddedFieldsOf(rule: EmbedRule, childTable: string, childFields: readonly string[]): (field: string) => boolean {
  if (rule.kind !== 'merge') {
    const f = embedField(rule, childTable);
    return (x) => x === f;
  }
  const names = new Set(childFields.map((f) => (rule.field ?? '') + f));
  return (x) => names.has(x);
}

/** One value's canonical text: the BSON round trip the driver applies to what it reads, then canonical EJSON. */
export function canonical(v: unknown): string {
  if (v === undefined) return 'undefined';
  const back = BSON.deserialize(BSON.serialize({ v })).v as unknown;
  return BSON.EJSON.stringify({ v: back } as Document, { relaxed: false });
}

/** The fields whose values differ (a field on one side only differs too); `_id` is not compared, nor `ignore`. */
export function differingFields(expected: Document, actual: Document, ignore: readonly string[] = []): string[] {
  const names = new Set([...Object.keys(expected), ...Object.keys(actual)]);
  names.delete('_id');
  for (const f of ignore) names.delete(f);
  return [...names].filter((f) => !(f in expected) || !(f in actual) || canonical(expected[f]) !== canonical(actual[f]));
}

/** A BSON value as plain JSON for a difference's key (int64 and decimals as exact text, bytes base64). */
function plain(v: unknown): unknown {
  if (v instanceof Long) return v.toString();
  if (v instanceof Decimal128) return v.toString();
  if (v instanceof Binary) return Buffer.from(v.buffer).toString('base64');
  if (v && typeof v === 'object' && !(v instanceof Date) && !Array.isArray(v)) return Object.fromEntries(Object.entries(v as Document).map(([k, x]) => [k, plain(x)]));
  return jsonValue(v);
}

/** The key of a document the source does not have, as columns (a composite `_id` is its columns already). */
function keyOfId(id: unknown, key: readonly string[]): Record<string, unknown> {
  if (key.length > 1 && id && typeof id === 'object' && !(id instanceof Long) && !(id instanceof Binary) && !(id instanceof Decimal128)) return plain(id) as Record<string, unknown>;
  return { [key[0] ?? '_id']: plain(id) };
}

/** The running result of one child table compared inside its parents. */
interface ChildResult {
  child: VerifyChildTable;
  name: string;
  rule: EmbedRule;
  owns: (field: string) => boolean;
  result: TableVerification;
}

export async function verify(args: VerifyArgs): Promise<TableVerification[]> {
  const options = parseOptions(args.connection.options);
  const client = await guardedClient(args.connection.url, options);
  try {
    try {
      await client.connect();
    } catch (err) {
      throw new SluiceError('SINK_UNREACHABLE', `verification: cannot reach MongoDB: ${(err as Error).message}`, { stream: args.stream.id }, { cause: err });
    }
    const info = await detectServer(client);
    const opts: ConvertOptions = { decimals: effectiveDecimalMode(options, info), finiteDoublesOnly: !info.nonFiniteDoubles };
    const spec = verifyMapping(args.stream);
    const db = client.db(databaseFromUrl(args.connection.url));
    const out: TableVerification[] = [];
    for (const t of args.tables) {
      const name = tableName(t.table);
      const collection = collectionFor(args.stream, t.table);
      const keyField = keyFieldOf(tableMapping(spec ?? undefined, t.table));
      // Under the objectId strategy a document is the table's when it has the key field.
      const mine: Document = keyField === '_id' ? {} : { [keyField]: { $exists: true } };
      const coll = db.collection(collection);
      const result: TableVerification = {
        table: name,
        collection,
        mode: 'direct',
        sourceCount: 0,
        sinkCount: await coll.countDocuments(mine),
        missing: 0,
        extra: 0,
        different: 0,
        differences: [],
      };
      const note = (r: TableVerification, d: TableVerification['differences'][number]): void => {
        if (r.differences.length < args.maxDifferences) r.differences.push(d);
      };
      const rules = new Map(childrenOf(spec ?? undefined, name));
      const kids: ChildResult[] = (t.children ?? []).flatMap((child) => {
        const cname = tableName(child.table);
        const rule = rules.get(cname);
        if (!rule) return [];
        const fields = mappedFieldNames(tableMapping(spec ?? undefined, cname), child.schema);
        const result: TableVerification = { table: cname, collection, mode: 'embedded', embeddedIn: name, sourceCount: 0, sinkCount: 0, missing: 0, extra: 0, different: 0, differences: [] };
        return [{ child, name: cname, rule, owns: embeddedFieldsOf(rule, cname, fields), result }];
      });
      const seen = new Set<string>();
      for (let offset = 0; ; offset += args.chunkSize) {
        const rows = await t.read(offset, args.chunkSize);
        if (rows.length === 0) break;
        result.sourceCount += rows.length;
        // The children of this chunk's parents, grouped by the parent key they point at.
        const groups = new Map<string, Map<string, ChildDoc[]>>();
        for (const k of kids) {
          const byParent = new Map<string, ChildDoc[]>();
          for (const row of await k.child.readFor(rows)) {
            const pk = childParentKey(spec, t.table, k.child.table, row, opts);
            if (pk === null) continue;
            const c = expectedChild(spec, k.child.table, k.child.schema, row, opts);
            if ('rejected' in c) {
              // The sink rejected this child (dead-lettered): no parent holds it.
              k.result.missing++;
              note(k.result, { key: jsonRow(keyOf(k.child.schema.key, row)), kind: 'missing' });
              continue;
            }
            byParent.set(pk, [...(byParent.get(pk) ?? []), c]);
          }
          groups.set(k.name, byParent);
        }
        const expected: Array<{ row: Row; doc: ExpectedDocument | null; id: string }> = rows.map((row) => {
          try {
            const key = documentIdFor(spec, t, row, opts);
            const children = new Map(kids.map((k) => [k.name, groups.get(k.name)?.get(keyString(key)) ?? []]));
            const doc = expectedDocument(args.stream, t.table, t.schema, row, opts, children, spec);
            return { row, doc, id: canonical(doc.id) };
          } catch (err) {
            // A row the sink cannot convert was rejected (dead-lettered), never written.
            if (err instanceof ConversionError || err instanceof FieldConversionError) return { row, doc: null, id: `unconvertible:${JSON.stringify(jsonRow(keyOf(t.schema.key, row)))}` };
            throw err;
          }
        });
        const ids = expected.filter((e) => e.doc).map((e) => e.doc!.id);
        const found = new Map<string, Document>();
        for (const d of await coll.find({ [keyField]: { $in: ids } } as Document).toArray()) found.set(canonical(d[keyField]), d);
        for (const e of expected) {
          seen.add(e.id);
          const actual = found.get(e.id);
          const jsonKey = jsonRow(keyOf(t.schema.key, e.row));
          for (const k of kids) {
            const held = e.doc ? heldCount(k.rule, e.doc.fields, k.owns) : 0;
            k.result.sourceCount += held;
            k.result.sinkCount += actual ? heldCount(k.rule, actual, k.owns) : 0;
          }
          if (!e.doc || !actual) {
            result.missing++;
            note(result, { key: jsonKey, kind: 'missing' });
            continue;
          }
          const fields = differingFields(e.doc.fields, actual);
          if (fields.length > 0) {
            result.different++;
            note(result, { key: jsonKey, kind: 'different', fields });
            for (const k of kids) {
              const theirs = fields.filter(k.owns);
              if (theirs.length === 0) continue;
              k.result.different++;
              note(k.result, { key: jsonKey, kind: 'different', fields: theirs });
            }
          }
        }
        if (rows.length < args.chunkSize) break;
      }
      // Documents no source row accounts for.
      // Longs kept as Longs, so a key past 2^53 is reported exactly.
      const cursor = coll.find(mine, { projection: { [keyField]: 1 }, batchSize: args.chunkSize, promoteLongs: false });
      for await (const d of cursor) {
        if (seen.has(canonical(d[keyField]))) continue;
        result.extra++;
        note(result, { key: keyOfId(d[keyField], t.schema.key), kind: 'extra' });
      }
      out.push(result, ...kids.map((k) => k.result));
    }
    return out;
  } catch (err) {
    if (isSluiceError(err)) throw err;
    throw new SluiceError('SINK_UNREACHABLE', `verification: reading MongoDB failed: ${(err as Error).message}`, { stream: args.stream.id }, { cause: err });
  } finally {
    await client.close().catch(() => undefined);
  }
}

/** A row's document key (`_id` or keyField value), as expectedDocument computes it. */
function documentIdFor(spec: MappingSpec | null, t: VerifySourceTable, row: Row, opts: ConvertOptions): unknown {
  const tm = tableMapping(spec ?? undefined, t.table);
  if (!tm) return documentId(keyOf(t.schema.key, row), t.schema.key, opts);
  return documentKey(keyOf(t.schema.key, row), t.schema.key, tm, mapOptionsFor(opts.decimals, opts.finiteDoublesOnly));
}

/** How many child rows a parent document holds of one embed rule: an array's length; document and merge: 0 or 1. */
export function heldCount(rule: EmbedRule, doc: Document, owns: (field: string) => boolean): number {
  if (rule.kind === 'merge') return Object.keys(doc).some(owns) ? 1 : 0;
  const v = Object.entries(doc).find(([f]) => owns(f))?.[1] as unknown;
  if (rule.kind === 'array') return Array.isArray(v) ? v.length : 0;
  return v !== null && v !== undefined ? 1 : 0;
}
