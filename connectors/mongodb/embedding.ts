/**
 * Embedding under CDC, the sink's side (the rules themselves are pure, in
 * src/transform/mapping). Order-independent by design, because the Kafka transport
 * consumes topics concurrently: a child may arrive before its parent, after its
 * parent's delete, or be replayed.
 *
 * - Every embedded child row is also kept, keyed by its own `_id`, in a sink-private
 *   staging collection `_sluice_embed.<streamId>.<schema>.<table>`:
 *   `{_id: childKey, _p: parentKey | null, d: mappedFields, _stale?: [parentKey…], _gone?: true}`.
 * - A batch reads the staging documents of the children it touches first (to learn the
 *   OLD parent: a foreign-key change or a delete must refresh the old parent too), writes
 *   the new staging state, recording the old parents still to refresh in `_stale` (a
 *   deleted child stays as a `_gone` tombstone), refreshes every touched parent
 *   (`$set`/`$unset` of its embedded fields, from staging, no upsert), and only then
 *   clears `_stale` and drops tombstones. A crash anywhere in between replays into the
 *   same refreshes, so no old parent keeps a child that left it.
 * - A parent's own write carries its embedded fields, recomputed from staging, so a
 *   parent replace never wipes its children and a parent written after its children
 *   gets them.
 * - All of it runs under one lock per stream (in this process): a parent's read of
 *   staging and its write are never interleaved with another batch's.
 *
 * Only operators FerretDB v1.24 has: replaceOne/updateOne with $set/$unset, deleteOne,
 * find with $in.
 */
import type { Document } from 'mongodb';
import type { ChangeEvent, Row, TableRef, MapOptions } from '../../src/core';
import {
  documentKey,
  keyString,
  mapRow,
  parentKeyOf,
  tableName,
  type EmbedRule,
  type TableMapping,
} from '../../src/transform/mapping';
import { FieldConversionError } from '../../src/transform/mapping';
import { ConversionError } from './bson';
import { keyColumns, PlanError, type PlannedWrite } from './plan';

/** The staging collection of an embedded child table. */
export const stagingCollection = (streamId: string, childTable: string): string => `_sluice_embed.${streamId}.${childTable}`;

/** A staging document as read back. */
export interface StagingDoc {
  _id: unknown;
  _p?: unknown;
  d?: Document;
  _stale?: unknown[];
  _gone?: boolean;
}

/** One child's coalesced change in a batch. */
export interface ChildChange {
  childKey: unknown;
  kind: 'replace' | 'set' | 'delete';
  /** The mapped fields (replace: all of them; set: those that were sent). */
  doc: Document;
  /** set: mapped fields to remove (nulls omitted). */
  unset: string[];
  /** The parent it points at now; undefined when the change did not say (a partial update without the foreign key). */
  parentKey: unknown;
  eventIndex: number;
  table: TableRef;
  key: Row;
}

/**
 * Coalesces a child table's events of one batch per child key, in event order: the
 * last full image wins, a partial image merges onto it, a delete ends it; a key change
 * deletes the old child and writes the new one.
 */
export function planChildChanges(
  items: readonly { event: ChangeEvent; eventIndex: number }[],
  rule: EmbedRule,
  child: TableMapping | undefined,
  parent: TableMapping | undefined,
  opts: MapOptions,
): ChildChange[] {
  const byKey = new Map<string, ChildChange>();
  const put = (c: ChildChange): void => {
    const k = keyString(c.childKey);
    const prev = byKey.get(k);
    if (prev && c.kind === 'set') {
      const base = prev.kind === 'delete' ? {} : prev.doc;
      const doc = { ...base, ...c.doc };
      for (const f of c.unset) delete doc[f];
      const parentKey = c.parentKey === undefined ? prev.parentKey : c.parentKey;
      if (prev.kind === 'set') {
        const unset = [...new Set([...prev.unset.filter((f) => !(f in c.doc)), ...c.unset])];
        c = { ...c, doc, unset, parentKey };
      } else c = { ...c, kind: 'replace', doc, unset: [], parentKey: prev.kind === 'delete' && c.parentKey === undefined ? null : parentKey };
    }
    byKey.delete(k);
    byKey.set(k, c);
  };
  for (const { event, eventIndex } of items) {
    try {
      childEvent(event, eventIndex);
    } catch (err) {
      if (err instanceof ConversionError) throw new PlanError(err, eventIndex, event);
      if (err instanceof FieldConversionError) throw new PlanError(new ConversionError(err.field, err.message), eventIndex, event);
      throw err;
    }
  }
  return [...byKey.values()];

  function childEvent(event: ChangeEvent, eventIndex: number): void {
    const columns = keyColumns(event);
    const childKey = documentKey(event.key, columns, child, opts);
    const base = { childKey, eventIndex, table: event.table, key: event.key };
    if (event.op === 'd' || !event.after) {
      put({ ...base, kind: 'delete', doc: {}, unset: [], parentKey: null });
      return;
    }
    if (event.op === 'u' && event.before && columns.every((c) => event.before![c] !== undefined)) {
      const oldKeyRow = Object.fromEntries(columns.map((c) => [c, event.before![c]]));
      const oldKey = documentKey(oldKeyRow, columns, child, opts);
      if (keyString(oldKey) !== keyString(childKey)) put({ ...base, childKey: oldKey, key: oldKeyRow, kind: 'delete', doc: {}, unset: [], parentKey: null });
    }
    const { doc, undefinedFields, omittedNulls } = mapRow(event.after, child, opts);
    const fkSent = rule.foreignKey.every((c) => event.after![c] !== undefined);
    const parentKey = fkSent ? parentKeyOf(event.after, rule, parent, opts) : undefined;
    if (event.op === 'u' && undefinedFields.length > 0) put({ ...base, kind: 'set', doc, unset: omittedNulls, parentKey });
    else put({ ...base, kind: 'replace', doc, unset: [], parentKey: parentKey === undefined ? null : parentKey });
  }
}

/** A parent that must be refreshed, with the child change that touched it (for error reports). */
export interface TouchedParent {
  parentKey: unknown;
  eventIndex: number;
  table: TableRef;
  key: Row;
}

export interface StagingPlan {
  /** The staging writes, in the form the sink's bulk writer takes. */
  writes: PlannedWrite[];
  /** Parents to refresh, by keyString. */
  touched: Map<string, TouchedParent>;
  /** After the refreshes: tombstones to drop and `_stale` lists to clear. */
  cleanup: PlannedWrite[];
  /** Field names the old staging documents had (a merge must remove those a child lost). */
  oldFields: Set<string>;
}

const uniqueKeys = (keys: unknown[]): unknown[] => {
  const seen = new Map<string, unknown>();
  for (const k of keys) if (k !== null && k !== undefined && !seen.has(keyString(k))) seen.set(keyString(k), k);
  return [...seen.values()];
};

/** Decides the staging writes from the coalesced changes and what staging held before. Pure. */
export function planStaging(changes: readonly ChildChange[], old: ReadonlyMap<string, StagingDoc>): StagingPlan {
  const writes: PlannedWrite[] = [];
  const cleanup: PlannedWrite[] = [];
  const touched = new Map<string, TouchedParent>();
  const oldFields = new Set<string>();
  for (const c of changes) {
    const prev = old.get(keyString(c.childKey));
    for (const f of Object.keys(prev?.d ?? {})) oldFields.add(f);
    const newParent = c.kind === 'delete' ? null : c.parentKey === undefined ? (prev?._p ?? null) : c.parentKey;
    const newString = newParent === null ? undefined : keyString(newParent);
    const stale = uniqueKeys([prev?._p, ...(prev?._stale ?? [])]).filter((p) => keyString(p) !== newString);
    const meta = { eventIndex: c.eventIndex, table: c.table, key: c.key };
    for (const p of newParent === null ? stale : [newParent, ...stale]) {
      const k = keyString(p);
      if (!touched.has(k)) touched.set(k, { parentKey: p, ...meta });
    }
    const base = { id: c.childKey, ...meta };
    const staleField = stale.length > 0 ? { _stale: stale } : {};
    if (c.kind === 'delete') {
      if (stale.length > 0) {
        writes.push({ ...base, kind: 'replace', fields: { _p: null, _stale: stale, _gone: true } });
        cleanup.push({ ...base, kind: 'delete', fields: {}, filter: { _id: c.childKey, _gone: true } });
      } else if (prev) writes.push({ ...base, kind: 'delete', fields: {} });
      continue;
    }
    if (c.kind === 'replace') {
      writes.push({ ...base, kind: 'replace', fields: { _p: newParent, ...staleField, d: c.doc } });
    } else {
      const set: Document = { _p: newParent, ...staleField };
      for (const [f, v] of Object.entries(c.doc)) set[`d.${f}`] = v;
      const unset = c.unset.map((f) => `d.${f}`);
      if (stale.length === 0 && prev?._stale !== undefined) unset.push('_stale');
      // A partial image of a child staging never saw; it can hold only what was sent.
      writes.push({ ...base, kind: 'set', fields: set, ...(unset.length > 0 ? { unset } : {}) });
    }
    if (stale.length > 0) cleanup.push({ ...base, kind: 'set', fields: {}, unset: ['_stale'], filter: { _id: c.childKey }, noUpsert: true });
  }
  return { writes, touched, cleanup, oldFields };
}

/** Per stream, one batch at a time through the embedding path (see the file comment). */
const locks = new Map<string, Promise<void>>();

export async function withStreamLock<T>(streamId: string, fn: () => Promise<T>): Promise<T> {
  const prev = locks.get(streamId) ?? Promise.resolve();
  let release!: () => void;
  const mine = new Promise<void>((r) => (release = r));
  const chained = prev.then(() => mine);
  locks.set(streamId, chained);
  await prev;
  try {
    return await fn();
  } finally {
    release();
    if (locks.get(streamId) === chained) locks.delete(streamId);
  }
}

export { tableName };
