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
import type { Row, StreamSpec, TableRef, TableSchema, TableVerification, VerifyArgs } from '../../src/runtime/connector';
import { SluiceError, isSluiceError } from '../../src/errors';
import { keyOf } from '../../src/runtime/values';
import { jsonRow, jsonValue } from '../../src/runtime/browse';
import { ConversionError, convertRow, documentId, type ConvertOptions } from './bson';
import { createClient, databaseFromUrl, detectServer, effectiveDecimalMode, parseOptions } from './client';
import { collectionFor } from './sink';

export interface ExpectedDocument {
  collection: string;
  id: unknown;
  fields: Document;
}

/**
 * What the sink writes for a source row (identity mapping: every kept column, `_id`
 * from the key). Mapping rules (src/transform/mapping) replace this function's body.
 */
export function expectedDocument(stream: Pick<StreamSpec, 'mapping'>, table: TableRef, schema: TableSchema, row: Row, opts: ConvertOptions): ExpectedDocument {
  const id = documentId(keyOf(schema.key, row), schema.key, opts);
  const { doc } = convertRow(row, opts);
  delete doc._id;
  return { collection: collectionFor(stream, table), id, fields: doc };
}

/** One value's canonical text: the BSON round trip the driver applies to what it reads, then canonical EJSON. */
export function canonical(v: unknown): string {
  if (v === undefined) return 'undefined';
  const back = BSON.deserialize(BSON.serialize({ v })).v as unknown;
  return BSON.EJSON.stringify({ v: back } as Document, { relaxed: false });
}

/** The fields whose values differ (a field on one side only differs too); `_id` is not compared. */
export function differingFields(expected: Document, actual: Document): string[] {
  const names = new Set([...Object.keys(expected), ...Object.keys(actual)]);
  names.delete('_id');
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

export async function verify(args: VerifyArgs): Promise<TableVerification[]> {
  const options = parseOptions(args.connection.options);
  const client = createClient(args.connection.url, options);
  try {
    try {
      await client.connect();
    } catch (err) {
      throw new SluiceError('SINK_UNREACHABLE', `verification: cannot reach MongoDB: ${(err as Error).message}`, { stream: args.stream.id }, { cause: err });
    }
    const info = await detectServer(client);
    const opts: ConvertOptions = { decimals: effectiveDecimalMode(options, info), finiteDoublesOnly: !info.nonFiniteDoubles };
    const db = client.db(databaseFromUrl(args.connection.url));
    const out: TableVerification[] = [];
    for (const t of args.tables) {
      const collection = collectionFor(args.stream, t.table);
      const coll = db.collection(collection);
      const result: TableVerification = {
        table: `${t.table.schema}.${t.table.table}`,
        collection,
        sourceCount: 0,
        sinkCount: await coll.countDocuments({}),
        missing: 0,
        extra: 0,
        different: 0,
        differences: [],
      };
      const note = (d: TableVerification['differences'][number]): void => {
        if (result.differences.length < args.maxDifferences) result.differences.push(d);
      };
      const seen = new Set<string>();
      for (let offset = 0; ; offset += args.chunkSize) {
        const rows = await t.read(offset, args.chunkSize);
        if (rows.length === 0) break;
        result.sourceCount += rows.length;
        const expected: Array<{ row: Row; doc: ExpectedDocument | null; id: string }> = rows.map((row) => {
          try {
            const doc = expectedDocument(args.stream, t.table, t.schema, row, opts);
            return { row, doc, id: canonical(doc.id) };
          } catch (err) {
            // A row the sink cannot convert was rejected (dead-lettered), never written.
            if (err instanceof ConversionError) return { row, doc: null, id: `unconvertible:${JSON.stringify(jsonRow(keyOf(t.schema.key, row)))}` };
            throw err;
          }
        });
        const ids = expected.filter((e) => e.doc).map((e) => e.doc!.id);
        const found = new Map<string, Document>();
        for (const d of await coll.find({ _id: { $in: ids } } as Document).toArray()) found.set(canonical(d._id), d);
        for (const e of expected) {
          seen.add(e.id);
          const actual = found.get(e.id);
          const jsonKey = jsonRow(keyOf(t.schema.key, e.row));
          if (!e.doc || !actual) {
            result.missing++;
            note({ key: jsonKey, kind: 'missing' });
            continue;
          }
          const fields = differingFields(e.doc.fields, actual);
          if (fields.length > 0) {
            result.different++;
            note({ key: jsonKey, kind: 'different', fields });
          }
        }
        if (rows.length < args.chunkSize) break;
      }
      // Documents no source row accounts for.
      // Longs kept as Longs, so a key past 2^53 is reported exactly.
      const cursor = coll.find({}, { projection: { _id: 1 }, batchSize: args.chunkSize, promoteLongs: false });
      for await (const d of cursor) {
        if (seen.has(canonical(d._id))) continue;
        result.extra++;
        note({ key: keyOfId(d._id, t.schema.key), kind: 'extra' });
      }
      out.push(result);
    }
    return out;
  } catch (err) {
    if (isSluiceError(err)) throw err;
    throw new SluiceError('SINK_UNREACHABLE', `verification: reading MongoDB failed: ${(err as Error).message}`, { stream: args.stream.id }, { cause: err });
  } finally {
    await client.close().catch(() => undefined);
  }
}
