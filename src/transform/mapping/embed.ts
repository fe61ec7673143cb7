/**
 * Embedding: which parent a child row belongs to, and what a parent document holds
 * of its children (an array, sorted; one embedded document; or merged fields). Pure:
 * the sink and the mapping preview both build embedded values with these functions.
 */
import { BSON } from 'mongodb';
import type { Row, MapOptions } from '../../core';
import type { EmbedRule, MappingSpec, TableMapping } from './spec';
import { mapValue } from './rows';

/** A child's mapped document with its own key, as staging holds it. */
export interface ChildDoc {
  /** The child's document key (its `_id` in staging). */
  key: unknown;
  doc: Record<string, unknown>;
}

/**
 * The parent key a child row points at (the parent's `_id` under the key strategy, its
 * keyField under objectId), or null when a foreign-key column is null or was not sent:
 * such a child is embedded nowhere. The parent's type overrides apply to the columns
 * `references` names.
 */
export function parentKeyOf(row: Row, rule: EmbedRule, parent: TableMapping | undefined, opts: MapOptions): unknown {
  const values = rule.foreignKey.map((c) => row[c]);
  if (values.some((v) => v === null || v === undefined)) return null;
  const refs = rule.references;
  const one = (i: number): unknown => (refs ? mapValue(values[i], refs[i]!, parent, opts) : opts.convert(values[i], rule.foreignKey[i]!));
  if (values.length === 1) return one(0);
  const id: Record<string, unknown> = {};
  // validateMapping requires references for a composite key.
  refs!.forEach((c, i) => {
    id[parent?.fields?.[c]?.name ?? c] = one(i);
  });
  return id;
}

function numeric(v: unknown): number | undefined {
  if (typeof v === 'number') return v;
  if (typeof v === 'bigint') return Number(v);
  const t = (v as { _bsontype?: string } | null)?._bsontype;
  if (t === 'Long' || t === 'Int32' || t === 'Double' || t === 'Decimal128') return Number(String(v));
  return undefined;
}

function rank(v: unknown): number {
  if (v === null || v === undefined) return 0;
  if (numeric(v) !== undefined) return 1;
  if (typeof v === 'string') return 2;
  if (v instanceof Date) return 4;
  return 3;
}

/** Orders BSON values the way MongoDB's sort does for the common types: null, numbers, strings, others, dates. */
export function compareValues(a: unknown, b: unknown): number {
  const ra = rank(a);
  const rb = rank(b);
  if (ra !== rb) return ra - rb;
  if (ra === 0) return 0;
  if (ra === 1) {
    // Exact for Long/bigint beyond 2^53 when both are integers.
    const ba = exactInt(a);
    const bb = exactInt(b);
    if (ba !== undefined && bb !== undefined) return ba < bb ? -1 : ba > bb ? 1 : 0;
    return numeric(a)! - numeric(b)!;
  }
  if (ra === 2) return (a as string) < (b as string) ? -1 : (a as string) > (b as string) ? 1 : 0;
  if (ra === 4) return (a as Date).getTime() - (b as Date).getTime();
  const sa = BSON.EJSON.stringify(a as BSON.Document, { relaxed: false });
  const sb = BSON.EJSON.stringify(b as BSON.Document, { relaxed: false });
  return sa < sb ? -1 : sa > sb ? 1 : 0;
}

function exactInt(v: unknown): bigint | undefined {
  if (typeof v === 'bigint') return v;
  if (typeof v === 'number') return Number.isInteger(v) ? BigInt(v) : undefined;
  const t = (v as { _bsontype?: string } | null)?._bsontype;
  if (t === 'Long' || t === 'Int32') return BigInt(String(v));
  return undefined;
}

/**
 * A text form of a key that is equal for equal MongoDB values: numbers compare by
 * value in queries (an int foreign key matches a bigint primary key), so every numeric
 * type is written as its exact value; other types keep their own form.
 */
export function keyString(v: unknown): string {
  if (v === null || v === undefined) return 'null';
  switch (typeof v) {
    case 'number':
      return Number.isInteger(v) ? `n${BigInt(v)}` : `n${v}`;
    case 'bigint':
      return `n${v}`;
    case 'string':
      return JSON.stringify(v);
    case 'boolean':
      return String(v);
    default:
      break;
  }
  const t = (v as { _bsontype?: string })._bsontype;
  if (t === 'Long' || t === 'Int32') return `n${BigInt(String(v))}`;
  if (t === 'Double') return keyString((v as { value: number }).value);
  if (v instanceof Date) return `d${v.getTime()}`;
  if (Array.isArray(v)) return `[${v.map(keyString).join(',')}]`;
  if (t === undefined && typeof v === 'object') {
    return `{${Object.entries(v as Record<string, unknown>)
      .map(([k, x]) => `${JSON.stringify(k)}:${keyString(x)}`)
      .join(',')}}`;
  }
  return BSON.EJSON.stringify({ k: v } as BSON.Document, { relaxed: false });
}

/** Children in the rule's order: its sort fields, then the child's key. */
export function sortChildren(rule: EmbedRule, children: readonly ChildDoc[]): ChildDoc[] {
  const sort = rule.sort ?? [];
  return [...children].sort((x, y) => {
    for (const s of sort) {
      const c = compareValues(x.doc[s.field], y.doc[s.field]);
      if (c !== 0) return s.desc ? -c : c;
    }
    return compareValues(x.key, y.key);
  });
}

/** The parent field an array or document embed writes (the child table's name when left out). */
export const embedField = (rule: EmbedRule, childTable: string): string => rule.field ?? childTable.slice(childTable.indexOf('.') + 1);

export interface Embedded {
  /** Fields to set on the parent. */
  set: Record<string, unknown>;
  /** Merged fields to remove (fields a merged child had or could have, that it has no more). */
  unset: string[];
}

/**
 * What a parent holds of one child table: `children` are every child row that points
 * at it. `mergeFields` (merge only) are the field names the child table may produce,
 * so that fields of a deleted or changed child are removed.
 */
export function buildEmbedded(rule: EmbedRule, childTable: string, children: readonly ChildDoc[], mergeFields: Iterable<string> = []): Embedded {
  const sorted = sortChildren(rule, children);
  if (rule.kind === 'array') return { set: { [embedField(rule, childTable)]: sorted.map((c) => c.doc) }, unset: [] };
  if (rule.kind === 'document') return { set: { [embedField(rule, childTable)]: sorted[0]?.doc ?? null }, unset: [] };
  const prefix = rule.field ?? '';
  const set: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(sorted[0]?.doc ?? {})) set[prefix + k] = v;
  const unset = [...new Set([...mergeFields].map((f) => prefix + f))].filter((f) => !(f in set)).sort();
  return { set, unset };
}

/** The embed rules whose parent is `parentTable`, as [childTable, rule]. */
export function childrenOf(spec: MappingSpec | undefined, parentTable: string): [string, EmbedRule][] {
  return Object.entries(spec?.tables ?? {})
    .filter(([, tm]) => tm.embed?.into === parentTable)
    .map(([t, tm]) => [t, tm.embed!] as [string, EmbedRule])
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
}
