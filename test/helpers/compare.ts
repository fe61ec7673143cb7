/**
 * Compares a source table with its MongoDB collection row by row: every key
 * present on both sides with the same normalised values, nothing missing, nothing
 * extra. Values are normalised to text so a numeric, its Decimal128 (or the exact
 * string FerretDB keeps) and a bigint/Long compare equal only when exact.
 */
import crypto from 'node:crypto';
import type { Db } from 'mongodb';

export type Normalised = Record<string, string | null>;

export interface Difference {
  missing: string[];
  extra: string[];
  different: Array<{ key: string; source: Normalised; sink: Normalised }>;
  sourceCount: number;
  sinkCount: number;
}

/** Text form of a value from pg (raw text parsers off) or from the MongoDB driver. */
export function norm(v: unknown): string | null {
  if (v === null || v === undefined) return null;
  if (v instanceof Date) return v.toISOString();
  if (typeof v === 'bigint') return v.toString();
  if (Buffer.isBuffer(v)) return v.toString('hex');
  if (typeof v === 'object') {
    const bsonType = (v as { _bsontype?: string })._bsontype;
    if (bsonType === 'Decimal128' || bsonType === 'Long' || bsonType === 'Int32' || bsonType === 'Double') return String(v);
    if (bsonType === 'Binary') return Buffer.from((v as { buffer: Uint8Array }).buffer).toString('hex');
    return JSON.stringify(v);
  }
  return String(v);
}

export function normaliseRow(row: Record<string, unknown>, columns: string[]): Normalised {
  return Object.fromEntries(columns.map((c) => [c, norm(row[c])]));
}

export function diffRows(source: Map<string, Normalised>, sink: Map<string, Normalised>): Difference {
  const d: Difference = { missing: [], extra: [], different: [], sourceCount: source.size, sinkCount: sink.size };
  for (const [k, row] of source) {
    const doc = sink.get(k);
    if (!doc) d.missing.push(k);
    else if (JSON.stringify(row) !== JSON.stringify(doc)) d.different.push({ key: k, source: row, sink: doc });
  }
  for (const k of sink.keys()) if (!source.has(k)) d.extra.push(k);
  return d;
}

export const isEqual = (d: Difference): boolean => d.missing.length === 0 && d.extra.length === 0 && d.different.length === 0;

export function describe(d: Difference): string {
  return `source ${d.sourceCount} rows, sink ${d.sinkCount} docs; missing ${d.missing.length} ${JSON.stringify(d.missing.slice(0, 5))}, extra ${d.extra.length} ${JSON.stringify(d.extra.slice(0, 5))}, different ${d.different.length} ${JSON.stringify(d.different.slice(0, 3))}`;
}

/** A hash over the whole normalised table, for a one-line "equal" assertion message. */
export function tableHash(rows: Map<string, Normalised>): string {
  const h = crypto.createHash('sha256');
  for (const k of [...rows.keys()].sort()) h.update(k + '\u0000' + JSON.stringify(rows.get(k)) + '\n');
  return h.digest('hex').slice(0, 16);
}

/** The collection's documents keyed by `_id`, normalised over `columns` (the key column read from _id). */
export async function sinkRows(db: Db, collection: string, keyColumn: string, columns: string[]): Promise<Map<string, Normalised>> {
  const out = new Map<string, Normalised>();
  for await (const doc of db.collection(collection).find({})) {
    const row = { ...doc, [keyColumn]: doc._id } as Record<string, unknown>;
    out.set(norm(doc._id) as string, normaliseRow(row, columns));
  }
  return out;
}
