/**
 * Embedding end to end (PostgreSQL → daemon → MongoDB): orders and order_items (with
 * a foreign key, ON DELETE CASCADE) become orders documents with their items embedded
 * as an array sorted by line_no, a renamed field and type overrides. A snapshot, random
 * CDC on both tables (items inserted, updated, deleted and moved between orders by a
 * foreign-key change; orders inserted, updated and deleted with their items), then
 * SIGKILLs during CDC with writes continuing. After each phase MongoDB's orders must
 * equal a reference built here from PostgreSQL's two tables, field by field.
 * Once on the direct transport, once through Kafka.
 *
 * Knobs: SLUICE_E2E_EMBED_ORDERS (orders before the snapshot, 3 items each on average),
 * SLUICE_E2E_EMBED_KILLS (SIGKILLs during CDC), SLUICE_E2E_EMBED_CDC_MS (each CDC phase).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Client } from 'pg';
import type { Db } from 'mongodb';
import { createStream, knob, mongoDb, pgClient, streamStatus, transportEnv, uid } from '../helpers/pipeline';
import { startDaemon, tmpDataDir, type RunningDaemon } from '../helpers/daemon';
import { waitFor } from '../helpers/wait-for';
import { createOrdersItems, embedMapping, writeBoth } from '../helpers/orders-items';

const ORDERS = knob('SLUICE_E2E_EMBED_ORDERS', 300);
const KILLS = knob('SLUICE_E2E_EMBED_KILLS', 3);
const CDC_MS = knob('SLUICE_E2E_EMBED_CDC_MS', 4000);
const ADMIN = 'e2e-embed-admin-key-0123456789';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Comparable text of a value from either side: numbers by value, ObjectId as hex, dates as ISO. */
function plain(v: unknown): unknown {
  if (v === null || v === undefined) return null;
  if (typeof v === 'number' || typeof v === 'bigint') return String(v);
  if (v instanceof Date) return v.toISOString();
  if (Array.isArray(v)) return v.map(plain);
  if (typeof v === 'object') {
    const t = (v as { _bsontype?: string })._bsontype;
    if (t === 'ObjectId' || t === 'ObjectID') return (v as { toHexString(): string }).toHexString();
    if (t) return String(v);
    return Object.fromEntries(
      Object.entries(v as Record<string, unknown>)
        .sort(([a], [b]) => (a < b ? -1 : 1))
        .map(([k, x]) => [k, plain(x)]),
    );
  }
  return v;
}

/** The orders documents PostgreSQL implies, built from both tables with SQL text values (not the sink's code). */
async function reference(pg: Client, orders: string, items: string): Promise<Map<string, unknown>> {
  const o = await pg.query(
    `SELECT id::text AS id, code, note, total::text AS total, to_char(created AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"') AS created FROM ${orders}`,
  );
  const i = await pg.query(`SELECT id, id::text AS idt, order_id::text AS order_id, line_no, sku, qty::text AS qty, price::text AS price FROM ${items} ORDER BY order_id, line_no, id`);
  const byOrder = new Map<string, unknown[]>();
  for (const r of i.rows as Record<string, unknown>[]) {
    const list = byOrder.get(r.order_id as string) ?? [];
    list.push({ id: r.idt, order_id: r.order_id, line_no: String(r.line_no), product: r.sku, qty: r.qty, price: r.price });
    byOrder.set(r.order_id as string, list);
  }
  const out = new Map<string, unknown>();
  for (const r of o.rows as Record<string, string | null>[]) {
    out.set(r.id!, plain({ _id: r.id, id: r.id, code: r.code, memo: r.note, total: r.total, created: r.created, items: byOrder.get(r.id!) ?? [] }));
  }
  return out;
}

async function sinkDocs(db: Db): Promise<Map<string, unknown>> {
  const out = new Map<string, unknown>();
  for await (const d of db.collection('orders').find({})) out.set(String(d._id), plain(d));
  return out;
}

function differences(want: Map<string, unknown>, got: Map<string, unknown>): string[] {
  const diffs: string[] = [];
  for (const [k, v] of want) {
    const g = got.get(k);
    if (g === undefined) diffs.push(`missing order ${k}`);
    else if (JSON.stringify(g) !== JSON.stringify(v)) diffs.push(`order ${k}: want ${JSON.stringify(v)}, got ${JSON.stringify(g)}`);
  }
  for (const k of got.keys()) if (!want.has(k)) diffs.push(`extra order ${k}`);
  return diffs;
}

async function waitEqual(pg: Client, orders: string, items: string, db: Db, what: string, timeoutMs = 150_000): Promise<number> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const want = await reference(pg, orders, items);
    const diffs = differences(want, await sinkDocs(db));
    if (diffs.length === 0) return want.size;
    if (Date.now() > deadline) throw new Error(`${what}: MongoDB's orders differ from PostgreSQL in ${diffs.length} ways: ${diffs.slice(0, 4).join('; ')}`);
    await sleep(700);
  }
}

for (const transport of ['direct', 'kafka'] as const) {
  test(`orders with their items embedded stay equal to PostgreSQL through snapshot, CDC on both tables and ${KILLS} SIGKILLs (${transport})`, { timeout: 900_000 }, async () => {
    const id = uid();
    const name = `emb_${transport}_${id}`;
    const orders = `public.${name}_orders`;
    const items = `public.${name}_items`;
    const pg = await pgClient();
    const writerPg = await pgClient();
    const { client, db } = await mongoDb(name);
    const dataDir = tmpDataDir();
    const env = transportEnv(transport);
    let d: RunningDaemon | undefined;
    let streamId: string | undefined;
    let writer: ReturnType<typeof writeBoth> | undefined;
    try {
      const firstItem = await createOrdersItems(pg, orders, items, ORDERS);
      const mapping = embedMapping(orders, items);
      d = await startDaemon(dataDir, env, { adminKey: ADMIN });
      ({ streamId } = await createStream(d, { name, mongoDb: name, tables: [orders, items], transport, options: { heartbeatIntervalMs: 1000, snapshotChunkSize: 200 }, extra: { mapping } }));
      assert.equal((await d.api(`/api/v1/streams/${streamId}/start`, { method: 'POST' })).status, 202);
      const sid = streamId;
      const running = (daemon: RunningDaemon) =>
        waitFor(async () => (await streamStatus(daemon, sid)).cdcStatus === 'RUNNING', { timeoutMs: 300_000, intervalMs: 200, message: 'CDC running' });
      await running(d);

      // The snapshot: every order with its items, sorted, renamed, typed.
      const snap = await waitEqual(pg, orders, items, db, 'after the snapshot');
      assert.equal(snap, ORDERS);
      const sample = await db.collection('orders').findOne({ _id: 7 as never });
      assert.equal(sample?.code?._bsontype, 'ObjectId', 'the type override made an ObjectId');
      assert.ok(Array.isArray(sample?.items) && sample.items.length === 1 && 'product' in sample.items[0] && !('sku' in sample.items[0]));
      assert.equal(await db.collection(name + '_items').countDocuments({}), 0, 'items write no collection of their own');

      // CDC on both tables.
      writer = writeBoth(writerPg, orders, items, ORDERS + 1, firstItem);
      await sleep(CDC_MS);
      const counts = await writer.stop();
      writer = undefined;
      for (const k of ['item insert', 'item update', 'item move', 'item delete', 'order insert', 'order delete']) assert.ok((counts[k] ?? 0) > 0, `no ${k} in ${JSON.stringify(counts)}`);
      await waitEqual(pg, orders, items, db, 'after CDC');

      // SIGKILLs while the writes go on.
      const maxOrder = Number((await pg.query(`SELECT max(id) AS n FROM ${orders}`)).rows[0].n);
      const maxItem = Number((await pg.query(`SELECT max(id) AS n FROM ${items}`)).rows[0].n);
      writer = writeBoth(writerPg, orders, items, maxOrder + 1000, maxItem + 100000);
      for (let k = 0; k < KILLS; k++) {
        await running(d);
        await sleep(500 + Math.floor(Math.random() * 1500));
        d.proc.kill('SIGKILL');
        await d.exited;
        d = await startDaemon(dataDir, env, { adminKey: ADMIN });
      }
      await running(d);
      await sleep(CDC_MS / 2);
      await writer.stop();
      writer = undefined;
      const final = await waitEqual(pg, orders, items, db, `after ${KILLS} SIGKILLs`, 240_000);
      assert.ok(final > 0);
      const status = await streamStatus(d, streamId);
      assert.equal(status.cdcStatus, 'RUNNING', JSON.stringify(status.failureError));
    } finally {
      await writer?.stop().catch(() => undefined);
      if (d && streamId) {
        await d.api(`/api/v1/streams/${streamId}/stop`, { method: 'POST' }).catch(() => undefined);
        await d.api(`/api/v1/streams/${streamId}`, { method: 'DELETE' }).catch(() => undefined);
      }
      await d?.stop('SIGTERM');
      await db.dropDatabase().catch(() => undefined);
      await client.close();
      await pg.query(`DROP TABLE IF EXISTS ${items}`).catch(() => undefined);
      await pg.query(`DROP TABLE IF EXISTS ${orders}`).catch(() => undefined);
      await pg.end();
      await writerPg.end();
    }
  });
}
