/**
 * Mapping rules through the real sink against the test stack's MongoDB-wire server
 * (FerretDB v1 by default): type overrides, the objectId `_id` strategy under replays,
 * and embedding kept current whatever order the events arrive in. The expected
 * documents are built in the test from a model of the source tables, independently of
 * the sink's code.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import pino from 'pino';
import { Binary, Decimal128, MongoClient, ObjectId, type Document } from 'mongodb';
import { stackUrls } from '../../test/helpers/stack';
import { Decimal, type ChangeEvent, type ConnectorContext, type Op, type Row, type StreamSpec } from '../../src/core';
import { isSluiceError } from '../../src/errors';
import type { MappingSpec } from '../../src/transform/mapping';
import { MongoSink } from './sink';
import { stagingCollection } from './embedding';

const base = stackUrls().mongodb.replace(/\/+$/, '');
const run = `${process.pid.toString(36)}${Date.now().toString(36)}`;
let dbCounter = 0;
let reader: MongoClient;
let isFerret = false;
const usedDbs: string[] = [];

before(async () => {
  reader = new MongoClient(base, { useBigInt64: true, serverSelectionTimeoutMS: 10_000 });
  await reader.connect();
  const build = await reader.db('admin').command({ buildInfo: 1 });
  isFerret = typeof build.ferretdbVersion === 'string';
});

after(async () => {
  for (const db of usedDbs) await reader.db(db).dropDatabase().catch(() => undefined);
  await reader.close();
});

const streamSpec = (mapping: MappingSpec, id = 'mapst'): StreamSpec => ({
  id,
  name: id,
  source: { connectionId: 'src' },
  sink: { connectionId: 'dst' },
  transport: { kind: 'direct' },
  mode: 'CDC',
  tables: [],
  options: {},
  mapping: mapping as Record<string, unknown>,
});

function setup(mapping: MappingSpec) {
  const db = `map_${run}_${++dbCounter}`;
  usedDbs.push(db);
  const logger = pino({ level: 'silent' });
  const sink = new MongoSink({ connection: { id: 'dst', name: 'dst', kind: 'mongodb', url: `${base}/${db}`, options: {} }, stream: streamSpec(mapping), logger });
  const ctx: ConnectorContext = { streamId: 'mapst', runId: 'r1', logger, signal: new AbortController().signal };
  const coll = (name: string) => reader.db(db).collection(name);
  return { db, sink, ctx, coll };
}

function ev(op: Op, table: string, key: Row, after: Row | null, before: Row | null = null): ChangeEvent {
  return { table: { schema: 'public', table }, op, key, before, after, source: { connector: 'test', name: 't', db: 'd', schema: 'public', table, ts_ms: 0, snapshot: op === 'r' }, ts_ms: 0 };
}
const batch = (events: ChangeEvent[]) => ({ events, position: { seq: events.length } });

/** Values as comparable text: numbers of any BSON type by value. */
function plain(v: unknown): unknown {
  if (v === null || v === undefined) return v;
  if (typeof v === 'number' || typeof v === 'bigint') return String(v);
  if (v instanceof Date) return v.toISOString();
  if (Array.isArray(v)) return v.map(plain);
  if (typeof v === 'object') {
    const t = (v as { _bsontype?: string })._bsontype;
    if (t) return String(v);
    return Object.fromEntries(Object.entries(v as Record<string, unknown>).map(([k, x]) => [k, plain(x)]));
  }
  return v;
}

test('type overrides land as the BSON types asked for; decimal128 is the exact text on FerretDB v1', async (t) => {
  const { sink, ctx, coll } = setup({
    tables: {
      'public.typed': {
        fields: {
          oid: { type: 'objectId' },
          u: { type: 'uuid' },
          day: { type: 'date' },
          amount: { type: 'decimal128', name: 'amt' },
          n: { type: 'long' },
          small: { type: 'int' },
          ratio: { type: 'double' },
          code: { type: 'string' },
          flag: { type: 'boolean' },
          hidden: { include: false },
        },
        nulls: 'omit',
      },
    },
  });
  t.after(() => sink.close());
  const hex = '65a1b2c3d4e5f60718293a4b';
  await sink.write(
    batch([
      ev('c', 'typed', { id: 1 }, { id: 1, oid: hex, u: '3f2504e0-4f89-11d3-9a0c-0305e82c3301', day: '2024-05-06T07:08:09.010Z', amount: new Decimal('12345.67'), n: '9007199254740993', small: 7n, ratio: '0.25', code: 42, flag: 't', hidden: 'x', gone: null }),
    ]),
    ctx,
  );
  const doc = (await coll('typed').findOne({ _id: 1 as never }))!;
  assert.ok(doc.oid instanceof ObjectId && doc.oid.toHexString() === hex);
  assert.ok(doc.u instanceof Binary && doc.u.sub_type === 4);
  assert.equal((doc.day as Date).toISOString(), '2024-05-06T07:08:09.010Z');
  if (isFerret) assert.equal(doc.amt, '12345.67');
  else assert.ok(doc.amt instanceof Decimal128 && doc.amt.toString() === '12345.67');
  assert.equal(doc.n, 9007199254740993n, 'a long past 2^53, exact');
  assert.equal(doc.small, 7);
  assert.equal(doc.ratio, 0.25);
  assert.equal(doc.code, '42');
  assert.equal(doc.flag, true);
  assert.ok(!('hidden' in doc) && !('gone' in doc) && !('amount' in doc));

  // A value that cannot be converted is a rejected record naming table, key and field.
  await assert.rejects(
    sink.write(batch([ev('c', 'typed', { id: 2 }, { id: 2, oid: hex }), ev('c', 'typed', { id: 3 }, { id: 3, oid: 'xyz' })]), ctx),
    (e: unknown) => {
      assert.ok(isSluiceError(e) && e.code === 'SINK_RECORD_REJECTED', String(e));
      assert.equal(e.detail.table, 'public.typed');
      assert.deepEqual(e.detail.key, { id: 3 });
      assert.equal(e.detail.field, 'oid');
      assert.equal(e.detail.eventIndex, 1);
      return true;
    },
  );
  assert.equal(await coll('typed').countDocuments({ _id: 2 as never }), 0, 'nothing of the rejected batch was written');
});

test('objectId strategy: the server generates _id once, the key lives in keyField; replays replace, never duplicate; key changes and deletes match on it', async (t) => {
  const { sink, ctx, coll } = setup({ tables: { 'public.people': { id: { strategy: 'objectId', keyField: 'pk' }, fields: { name: { name: 'fullName' } } } } });
  t.after(() => sink.close());
  const batches = [
    batch([ev('r', 'people', { id: 1 }, { id: 1, name: 'ann' }), ev('r', 'people', { id: 2 }, { id: 2, name: 'bob' }), ev('c', 'people', { id: 3 }, { id: 3, name: 'cy' })]),
    batch([ev('u', 'people', { id: 1 }, { id: 1, name: 'ann2' }), ev('d', 'people', { id: 2 }, null), ev('u', 'people', { id: 4 }, { id: 4, name: 'cy' }, { id: 3, name: 'cy' })]),
  ];
  await sink.write(batches[0]!, ctx);
  const firstIds = new Map((await coll('people').find({}).toArray()).map((d) => [String(d.pk), d._id as ObjectId]));
  assert.equal(firstIds.size, 3);
  for (const id of firstIds.values()) assert.ok(id instanceof ObjectId);
  for (const b of batches) await sink.write(b, ctx);
  for (const b of batches) await sink.write(b, ctx);
  const docs = await coll('people').find({}).sort({ pk: 1 }).toArray();
  assert.deepEqual(docs.map((d) => [d.pk, d.fullName, 'id' in d]), [[1, 'ann2', true], [4, 'cy', true]]);
  assert.ok((docs[0]!._id as ObjectId).equals(firstIds.get('1')!), 'the same document, replaced in place');
  const indexes = await coll('people').indexes();
  assert.ok(indexes.some((i) => i.key.pk === 1), `an index on the key field: ${JSON.stringify(indexes)}`);
});

// ---------------------------------------------------------------------------
// Embedding: a model of three source tables, random changes, events in many orders.

const ORDERS = 'public.orders';
const MAPPING: MappingSpec = {
  tables: {
    [ORDERS]: { collection: 'orders', fields: { note: { name: 'memo' } } },
    'public.items': {
      newDocuments: false,
      fields: { qty: { type: 'long' }, secret: { include: false } },
      embed: { into: ORDERS, kind: 'array', field: 'items', foreignKey: ['order_id'], sort: [{ field: 'line_no' }] },
    },
    'public.ship': { newDocuments: false, nulls: 'omit', embed: { into: ORDERS, kind: 'merge', field: 'ship_', foreignKey: ['order_id'] } },
  },
};

interface Model {
  orders: Map<number, Row>;
  items: Map<number, Row>;
  ship: Map<number, Row>;
}

/** What the orders collection must hold for the model, built here, not by the sink's code. */
function expected(m: Model): unknown[] {
  return [...m.orders.values()]
    .sort((a, b) => (a.id as number) - (b.id as number))
    .map((o) => {
      const items = [...m.items.values()]
        .filter((i) => i.order_id === o.id)
        .sort((a, b) => (a.line_no as number) - (b.line_no as number) || (a.id as number) - (b.id as number))
        .map((i) => ({ id: i.id, order_id: i.order_id, line_no: i.line_no, qty: i.qty }));
      const ship = m.ship.get(o.id as number);
      const merged: Record<string, unknown> = {};
      if (ship) for (const [k, v] of Object.entries(ship)) if (v !== null) merged[`ship_${k}`] = v;
      return plain({ _id: o.id, id: o.id, memo: o.note, ...merged, items });
    });
}

/** Random source changes, as per-table event sequences (each table's own order is the one the source gives). */
function scenario(seed: number, steps: number): { model: Model; streams: Record<'orders' | 'items' | 'ship', ChangeEvent[]> } {
  let s = seed;
  const rnd = () => ((s = (s * 1103515245 + 12345) % 2 ** 31) / 2 ** 31);
  const pick = <T>(xs: T[]): T | undefined => (xs.length ? xs[Math.floor(rnd() * xs.length)] : undefined);
  const m: Model = { orders: new Map(), items: new Map(), ship: new Map() };
  const streams = { orders: [] as ChangeEvent[], items: [] as ChangeEvent[], ship: [] as ChangeEvent[] };
  let nextOrder = 1;
  let nextItem = 1;
  for (let i = 0; i < 8; i++) {
    const o = { id: nextOrder++, note: `o${i}` };
    m.orders.set(o.id, o);
    streams.orders.push(ev('r', 'orders', { id: o.id }, { ...o }));
  }
  const orderIds = () => [...m.orders.keys()];
  // Some children point at orders that never exist or are gone (a late child).
  const anyOrder = () => (rnd() < 0.1 ? nextOrder + 5 : (pick(orderIds()) ?? 1));
  for (let step = 0; step < steps; step++) {
    const r = rnd();
    if (r < 0.3) {
      const it = { id: nextItem++, order_id: anyOrder(), line_no: Math.floor(rnd() * 5), qty: Math.floor(rnd() * 100), secret: 's' };
      m.items.set(it.id, it);
      streams.items.push(ev('c', 'items', { id: it.id }, { ...it }));
    } else if (r < 0.45) {
      const it = pick([...m.items.values()]);
      if (!it) continue;
      const next = { ...it, qty: (it.qty as number) + 1, line_no: Math.floor(rnd() * 5) };
      m.items.set(it.id as number, next);
      streams.items.push(ev('u', 'items', { id: it.id }, { ...next }, { id: it.id }));
    } else if (r < 0.55) {
      // A foreign-key change: the item moves to another order.
      const it = pick([...m.items.values()]);
      if (!it) continue;
      const next = { ...it, order_id: anyOrder() };
      m.items.set(it.id as number, next);
      streams.items.push(ev('u', 'items', { id: it.id }, { ...next }, { id: it.id }));
    } else if (r < 0.62) {
      const it = pick([...m.items.values()]);
      if (!it) continue;
      m.items.delete(it.id as number);
      streams.items.push(ev('d', 'items', { id: it.id }, null, { id: it.id }));
    } else if (r < 0.66) {
      // A primary-key change of an item.
      const it = pick([...m.items.values()]);
      if (!it) continue;
      const next = { ...it, id: nextItem++ };
      m.items.delete(it.id as number);
      m.items.set(next.id, next);
      streams.items.push(ev('u', 'items', { id: next.id }, { ...next }, { id: it.id }));
    } else if (r < 0.74) {
      const o = { id: nextOrder++, note: `n${step}` };
      m.orders.set(o.id, o);
      streams.orders.push(ev('c', 'orders', { id: o.id }, { ...o }));
    } else if (r < 0.82) {
      const id = pick(orderIds());
      if (id === undefined) continue;
      const o = { id, note: `u${step}` };
      m.orders.set(id, o);
      streams.orders.push(ev('u', 'orders', { id }, { ...o }, { id }));
    } else if (r < 0.87) {
      // An order deleted with its items (as ON DELETE CASCADE does), or alone (its items wait for it).
      const id = pick(orderIds());
      if (id === undefined) continue;
      m.orders.delete(id);
      streams.orders.push(ev('d', 'orders', { id }, null, { id }));
      if (rnd() < 0.7) {
        for (const it of [...m.items.values()].filter((x) => x.order_id === id)) {
          m.items.delete(it.id as number);
          streams.items.push(ev('d', 'items', { id: it.id }, null, { id: it.id }));
        }
      }
    } else {
      // The one-to-one shipping row, keyed by its order: upsert with a nullable zip, or delete.
      const id = pick(orderIds());
      if (id === undefined) continue;
      if (m.ship.has(id) && rnd() < 0.3) {
        m.ship.delete(id);
        streams.ship.push(ev('d', 'ship', { order_id: id }, null, { order_id: id }));
      } else {
        const row = { order_id: id, city: `c${step}`, zip: rnd() < 0.5 ? null : `z${step}` };
        const op = m.ship.has(id) ? 'u' : 'c';
        m.ship.set(id, row);
        streams.ship.push(ev(op, 'ship', { order_id: id }, { ...row }, { order_id: id }));
      }
    }
  }
  return { model: m, streams };
}

/** Batches from the per-table sequences: a random interleaving (each table's order kept), cut at random. */
function arrange(streams: ChangeEvent[][], seed: number, maxBatch: number): ChangeEvent[][] {
  let s = seed;
  const rnd = () => ((s = (s * 1103515245 + 12345) % 2 ** 31) / 2 ** 31);
  const queues = streams.map((q) => [...q]);
  const merged: ChangeEvent[] = [];
  while (queues.some((q) => q.length > 0)) {
    const live = queues.filter((q) => q.length > 0);
    merged.push(live[Math.floor(rnd() * live.length)]!.shift()!);
  }
  const out: ChangeEvent[][] = [];
  for (let i = 0; i < merged.length; ) {
    const n = 1 + Math.floor(rnd() * maxBatch);
    out.push(merged.slice(i, i + n));
    i += n;
  }
  return out;
}

async function ordersDocs(coll: (n: string) => ReturnType<ReturnType<MongoClient['db']>['collection']>): Promise<unknown[]> {
  const docs = (await coll('orders').find({}).sort({ _id: 1 }).toArray()) as Document[];
  // Field order inside a document is not part of the contract here; compare as sorted entries.
  return docs.map((d) => plain(Object.fromEntries(Object.entries(d).sort(([a], [b]) => (a < b ? -1 : 1)))));
}
const sortedKeys = (xs: unknown[]) => xs.map((d) => Object.fromEntries(Object.entries(d as Record<string, unknown>).sort(([a], [b]) => (a < b ? -1 : 1))));

test('embedding converges to the documents the source implies, whatever order the events arrive in: children first, parents first, interleaved, replayed', { timeout: 300_000 }, async (t) => {
  const { model, streams } = scenario(7, 160);
  const want = sortedKeys(expected(model));
  assert.ok(want.length > 5 && want.some((d) => (d as { items: unknown[] }).items.length > 1), 'the scenario embeds several items somewhere');
  assert.ok(want.some((d) => 'ship_city' in (d as object)), 'and merges a shipping row somewhere');
  const orders = [
    { name: 'children first, one batch per table', batches: [streams.items, streams.ship, streams.orders] },
    { name: 'parents first', batches: [streams.orders, streams.ship, streams.items] },
    { name: 'single events, interleaved', batches: arrange([streams.orders, streams.items, streams.ship], 11, 1) },
    { name: 'random batches, interleaved', batches: arrange([streams.orders, streams.items, streams.ship], 23, 9) },
    { name: 'one batch of everything', batches: [[...streams.items, ...streams.orders, ...streams.ship]] },
  ];
  for (const o of orders) {
    const { sink, ctx, coll } = setup(MAPPING);
    t.after(() => sink.close());
    for (const b of o.batches) await sink.write(batch(b), ctx);
    assert.deepEqual(await ordersDocs(coll), want, o.name);
    // A replay of every batch (after a crash, nothing acknowledged) changes nothing, as does a replay of the second half.
    for (const b of o.batches) await sink.write(batch(b), ctx);
    for (const b of o.batches.slice(Math.floor(o.batches.length / 2))) await sink.write(batch(b), ctx);
    assert.deepEqual(await ordersDocs(coll), want, `${o.name}, replayed`);
    // Embedded-only tables write no collection of their own; staging has no leftovers.
    assert.equal(await coll('items').countDocuments({}), 0);
    const staging = coll(stagingCollection('mapst', 'public.items'));
    assert.equal(await staging.countDocuments({ $or: [{ _gone: true }, { _stale: { $exists: true } }] }), 0, 'no tombstone or stale marker left');
    assert.equal(await staging.countDocuments({}), model.items.size);
  }
});

test('embedding: a crash after staging was written but before the old parent was refreshed still moves the child on replay', async (t) => {
  const { sink, ctx, coll } = setup(MAPPING);
  t.after(() => sink.close());
  await sink.write(batch([ev('r', 'orders', { id: 1 }, { id: 1, note: 'a' }), ev('r', 'orders', { id: 2 }, { id: 2, note: 'b' }), ev('c', 'items', { id: 10 }, { id: 10, order_id: 1, line_no: 1, qty: 5 })]), ctx);
  const moved = ev('u', 'items', { id: 10 }, { id: 10, order_id: 2, line_no: 1, qty: 5 }, { id: 10 });
  // What the first attempt left behind when it died after its staging write: the new parent
  // in _p, the old one still to refresh in _stale; neither order document touched.
  await coll(stagingCollection('mapst', 'public.items')).replaceOne({ _id: 10 as never }, { _p: 2, _stale: [1], d: { id: 10, order_id: 2, line_no: 1, qty: 5 } });
  await sink.write(batch([moved]), ctx);
  const docs = await ordersDocs(coll);
  assert.deepEqual(docs, sortedKeys([plain({ _id: 1, id: 1, memo: 'a', items: [] }), plain({ _id: 2, id: 2, memo: 'b', items: [{ id: 10, order_id: 2, line_no: 1, qty: 5 }] })]));
  // The same for a delete that died before refreshing: a tombstone names the parent to refresh.
  await coll(stagingCollection('mapst', 'public.items')).replaceOne({ _id: 10 as never }, { _p: null, _stale: [2], _gone: true });
  await sink.write(batch([ev('d', 'items', { id: 10 }, null, { id: 10 })]), ctx);
  assert.deepEqual(((await ordersDocs(coll))[1] as { items: unknown[] }).items, []);
  assert.equal(await coll(stagingCollection('mapst', 'public.items')).countDocuments({}), 0);
});

test('embedding: an unchanged TOASTed child column stays in the embedded copy; a late child of a deleted parent creates no parent', async (t) => {
  const { sink, ctx, coll } = setup(MAPPING);
  t.after(() => sink.close());
  await sink.write(batch([ev('r', 'orders', { id: 1 }, { id: 1, note: 'a' }), ev('c', 'items', { id: 10 }, { id: 10, order_id: 1, line_no: 1, qty: 5, secret: 'x' })]), ctx);
  await sink.write(batch([ev('u', 'items', { id: 10 }, { id: 10, order_id: 1, line_no: undefined, qty: 6 }, { id: 10 })]), ctx);
  assert.deepEqual((await ordersDocs(coll))[0], plain({ _id: 1, id: 1, items: [{ id: 10, line_no: 1, order_id: 1, qty: 6 }], memo: 'a' }));
  await sink.write(batch([ev('d', 'orders', { id: 1 }, null, { id: 1 })]), ctx);
  await sink.write(batch([ev('c', 'items', { id: 11 }, { id: 11, order_id: 1, line_no: 2, qty: 1 })]), ctx);
  assert.equal(await coll('orders').countDocuments({}), 0);
  // The parent coming back gets both children.
  await sink.write(batch([ev('c', 'orders', { id: 1 }, { id: 1, note: 'again' })]), ctx);
  assert.deepEqual(((await ordersDocs(coll))[0] as { items: { id: string }[] }).items.map((i) => i.id), ['10', '11']);
});

test('embedding into a parent under the objectId strategy, as a one-to-one document: child first, parent, move, delete; replayed; dropCollections empties staging too', async (t) => {
  const spec: MappingSpec = {
    tables: {
      'public.accounts': { id: { strategy: 'objectId' } },
      'public.profiles': { newDocuments: false, fields: { account_id: { include: false } }, embed: { into: 'public.accounts', kind: 'document', field: 'profile', foreignKey: ['account_id'] } },
    },
  };
  const { sink, ctx, coll, db } = setup(spec);
  t.after(() => sink.close());
  const batches = [
    batch([ev('c', 'profiles', { id: 100 }, { id: 100, account_id: 1, bio: 'first' })]),
    batch([ev('r', 'accounts', { id: 1 }, { id: 1, name: 'a' }), ev('r', 'accounts', { id: 2 }, { id: 2, name: 'b' })]),
    batch([ev('u', 'profiles', { id: 100 }, { id: 100, account_id: 2, bio: 'moved' }), ev('u', 'accounts', { id: 2 }, { id: 2, name: 'b2' })]),
  ];
  for (const b of batches) await sink.write(b, ctx);
  for (const b of batches) await sink.write(b, ctx);
  const docs = async (): Promise<Record<string, unknown>[]> => (await coll('accounts').find({}).sort({ _sourceKey: 1 }).toArray()).map((d) => ({ ...(plain({ ...d, _id: undefined }) as object), oid: d._id instanceof ObjectId }));
  assert.deepEqual(await docs(), [
    { _id: undefined, _sourceKey: '1', id: '1', name: 'a', profile: null, oid: true },
    { _id: undefined, _sourceKey: '2', id: '2', name: 'b2', profile: { id: '100', bio: 'moved' }, oid: true },
  ]);
  await sink.write(batch([ev('d', 'profiles', { id: 100 }, null, { id: 100 })]), ctx);
  assert.equal((await docs())[1]!.profile, null);
  assert.equal(await coll('accounts').countDocuments({}), 2, 'never a duplicate parent');

  await sink.write(batch([ev('c', 'profiles', { id: 101 }, { id: 101, account_id: 1, bio: 'x' })]), ctx);
  const dropping = new MongoSink({ connection: { id: 'dst', name: 'dst', kind: 'mongodb', url: `${base}/${db}`, options: {} }, stream: { ...streamSpec(spec), options: { dropCollections: true } }, logger: pino({ level: 'silent' }) });
  t.after(() => dropping.close());
  await dropping.prepare([{ schema: 'public', table: 'accounts' }, { schema: 'public', table: 'profiles' }], ctx);
  assert.equal(await coll(stagingCollection('mapst', 'public.profiles')).countDocuments({}), 0);
  assert.equal(await coll('accounts').countDocuments({}), 0);
});
