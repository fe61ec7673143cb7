/**
 * Writing a batch of a stream whose mapping embeds child tables into their parents
 * (the plan is embedding.ts's): each child row is kept in a staging collection, a
 * parent's own write carries its embedded fields read back from staging, and every
 * parent a batch touched is refreshed with $set/$unset, so the order events arrive in
 * never matters. Only replaceOne/updateOne, deleteOne and find with $in: the same path
 * on FerretDB v1.24 and MongoDB.
 */
import type { Document, WriteConcernSettings } from 'mongodb';
import type { ConnectorContext, EventBatch, MapOptions, StreamSpec } from '../../src/core';
import type { SluiceError } from '../../src/errors';
import { buildEmbedded, childrenOf, keyFilter, keyString, tableName, type ChildDoc, type MappingSpec } from '../../src/transform/mapping';
import type { Connected } from './connection';
import { planChildChanges, planStaging, stagingCollection, type TouchedParent } from './embedding';
import { PlanError, type CollectionPlan, type PlannedWrite } from './plan';
import { ownCollection } from './targets';
import type { DocumentWriter } from './writes';

export class EmbeddingWriter {
  readonly #writer: DocumentWriter;
  readonly #stream: StreamSpec;
  /** The field names each child table can produce (the sink learns them as it sees the tables). */
  readonly #childFields: Map<string, Set<string>>;
  readonly #rejected: (err: PlanError) => SluiceError;

  constructor(writer: DocumentWriter, stream: StreamSpec, childFields: Map<string, Set<string>>, rejected: (err: PlanError) => SluiceError) {
    this.#writer = writer;
    this.#stream = stream;
    this.#childFields = childFields;
    this.#rejected = rejected;
  }

  /** The children of these parents, per child table, grouped by parent keyString. */
  async #readChildren(spec: MappingSpec, parentTable: string, keys: unknown[], ctx: ConnectorContext): Promise<Map<string, Map<string, ChildDoc[]>>> {
    const out = new Map<string, Map<string, ChildDoc[]>>();
    for (const [child] of childrenOf(spec, parentTable)) {
      const groups = new Map<string, ChildDoc[]>();
      const staging = stagingCollection(this.#stream.id, child);
      for (const doc of await this.#writer.findIn(staging, '_p', keys, ctx)) {
        if (doc._gone || doc._p === null || doc._p === undefined) continue;
        const k = keyString(doc._p);
        const list = groups.get(k) ?? [];
        list.push({ key: doc._id, doc: doc.d ?? {} });
        groups.set(k, list);
      }
      out.set(child, groups);
    }
    return out;
  }

  /** A parent's embedded fields, from its children in staging. */
  #embeddedFor(spec: MappingSpec, parentTable: string, key: unknown, children: Map<string, Map<string, ChildDoc[]>>): { set: Document; unset: string[] } {
    const set: Document = {};
    const unset: string[] = [];
    for (const [child, rule] of childrenOf(spec, parentTable)) {
      const built = buildEmbedded(rule, child, children.get(child)?.get(keyString(key)) ?? [], this.#childFields.get(child) ?? []);
      Object.assign(set, built.set);
      unset.push(...built.unset);
    }
    return { set, unset };
  }

  /**
   * A batch of a stream with embedding (see embedding.ts): children into staging, the
   * tables' own documents (parents with their embedded fields), the touched parents
   * refreshed, staging cleaned up. The caller holds the stream's lock.
   */
  async write(
    batch: EventBatch,
    plans: CollectionPlan[],
    spec: MappingSpec,
    connected: Connected,
    writeConcern: WriteConcernSettings,
    opts: MapOptions,
    ctx: ConnectorContext,
  ): Promise<void> {
    const tables = spec.tables!;
    const touched = new Map<string, Map<string, TouchedParent>>();
    const cleanups: [string, PlannedWrite[]][] = [];
    // 1. Children into staging.
    const byChild = new Map<string, { event: (typeof batch.events)[number]; eventIndex: number }[]>();
    batch.events.forEach((event, eventIndex) => {
      const name = tableName(event.table);
      if (!tables[name]?.embed) return;
      const list = byChild.get(name) ?? [];
      list.push({ event, eventIndex });
      byChild.set(name, list);
    });
    for (const [child, items] of byChild) {
      const rule = tables[child]!.embed!;
      const staging = stagingCollection(this.#stream.id, child);
      await this.#writer.ensureIndex(staging, '_p', false, ctx);
      let changes;
      try {
        changes = planChildChanges(items, rule, tables[child], tables[rule.into], opts);
      } catch (err) {
        if (err instanceof PlanError) throw this.#rejected(err);
        throw err;
      }
      const old = await this.#writer.findIn(staging, '_id', changes.map((c) => c.childKey), ctx);
      const plan = planStaging(changes, new Map(old.map((d) => [keyString(d._id), d])));
      const known = this.#childFields.get(child) ?? new Set<string>();
      for (const f of plan.oldFields) known.add(f);
      for (const c of changes) for (const f of Object.keys(c.doc)) known.add(f);
      this.#childFields.set(child, known);
      await this.#writer.bulk(staging, plan.writes, connected, writeConcern, batch, ctx);
      const into = touched.get(rule.into) ?? new Map<string, TouchedParent>();
      for (const [k, p] of plan.touched) if (!into.has(k)) into.set(k, p);
      touched.set(rule.into, into);
      if (plan.cleanup.length > 0) cleanups.push([staging, plan.cleanup]);
    }
    // 2. Own documents; a parent's carry its embedded fields.
    for (const plan of plans) {
      const parentWrites = plan.writes.filter((w) => w.kind !== 'delete' && childrenOf(spec, tableName(w.table)).length > 0);
      for (const w of plan.writes) touched.get(tableName(w.table))?.delete(keyString(w.id));
      const byParent = new Map<string, PlannedWrite[]>();
      for (const w of parentWrites) {
        const list = byParent.get(tableName(w.table)) ?? [];
        list.push(w);
        byParent.set(tableName(w.table), list);
      }
      for (const [parentTable, writes] of byParent) {
        const children = await this.#readChildren(spec, parentTable, writes.map((w) => w.id), ctx);
        for (const w of writes) {
          const { set, unset } = this.#embeddedFor(spec, parentTable, w.id, children);
          w.fields = { ...w.fields, ...set };
          if (w.kind === 'set' && unset.length > 0) w.unset = [...(w.unset ?? []), ...unset];
        }
      }
    }
    await this.#writer.writePlans(plans, batch, connected, writeConcern, ctx);
    // 3. Touched parents not written above: their embedded fields only, never creating them.
    for (const [parentTable, parents] of touched) {
      if (parents.size === 0) continue;
      const ptm = tables[parentTable];
      const [schema, table] = parentTable.split('.') as [string, string];
      const collection = ownCollection(this.#stream, spec, { schema, table })!;
      const list = [...parents.values()];
      const children = await this.#readChildren(spec, parentTable, list.map((p) => p.parentKey), ctx);
      const refresh: PlannedWrite[] = list.map((p) => {
        const { set, unset } = this.#embeddedFor(spec, parentTable, p.parentKey, children);
        return { kind: 'set', id: p.parentKey, fields: set, unset, filter: keyFilter(ptm, p.parentKey), noUpsert: true, eventIndex: p.eventIndex, table: p.table, key: p.key };
      });
      await this.#writer.bulk(collection, refresh, connected, writeConcern, batch, ctx);
    }
    // 4. Staging cleanup, once every old parent was refreshed.
    for (const [staging, writes] of cleanups) await this.#writer.bulk(staging, writes, connected, writeConcern, batch, ctx);
  }
}
