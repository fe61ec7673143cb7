/**
 * POST /streams/{id}/verify with mapping rules, through the real daemon, PostgreSQL →
 * FerretDB. The stream names a mapping resource (resolved as a run resolves it):
 * orders with a rename and an objectId type override; order_items embedded only
 * (newDocuments false) as an array sorted by line_no, with a rename and a whereClause
 * of its own; shipments with documents of their own AND embedded as a document in
 * orders (verified both ways); customers with the objectId `_id` strategy (matched by
 * keyField). Verify passes after the snapshot, again after CDC changes on every table
 * once converged, then fails after tampering, naming exactly the tampered keys (and
 * the field for the embedded array).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createStream, mongoDb, pgClient, streamStatus, uid } from '../helpers/pipeline';
import { startDaemon, tmpDataDir, type RunningDaemon } from '../helpers/daemon';
import { waitFor } from '../helpers/wait-for';

const ADMIN = 'e2e-verify-mapping-admin-key-0123';
const ORDERS = 40;
const CUSTOMERS = 20;

type Table = { table: string; mode?: string; embeddedIn?: string; collection: string; sourceCount: number; sinkCount: number; missing: number; extra: number; different: number; differences: unknown[]; skipped?: string };

test('verify applies mapping rules and embedding: passes after snapshot and CDC, fails naming exactly the tampered keys', { timeout: 300_000 }, async () => {
  const id = uid();
  const name = `vmap_${id}`;
  const orders = `public.${name}_orders`;
  const items = `public.${name}_items`;
  const ship = `public.${name}_ship`;
  const customers = `public.${name}_cust`;
  const pg = await pgClient();
  const { client, db } = await mongoDb(name);
  let d: RunningDaemon | undefined;
  let streamId: string | undefined;
  try {
    await pg.query(`CREATE TABLE ${orders} (id bigint PRIMARY KEY, code text NOT NULL, note text, total numeric(12,2))`);
    await pg.query(`CREATE TABLE ${items} (id bigint PRIMARY KEY, order_id bigint REFERENCES ${orders}(id) ON DELETE CASCADE, line_no int NOT NULL, sku text, qty int NOT NULL)`);
    await pg.query(`CREATE TABLE ${ship} (id bigint PRIMARY KEY, order_id bigint REFERENCES ${orders}(id) ON DELETE CASCADE, carrier text)`);
    await pg.query(`CREATE TABLE ${customers} (id bigint PRIMARY KEY, name text)`);
    await pg.query(`INSERT INTO ${orders} SELECT g, lpad(to_hex(g), 24, '0'), 'order ' || g, (g * 1.25)::numeric(12,2) FROM generate_series(1, $1) g`, [ORDERS]);
    // 0..4 items per order, line numbers not in key order; qty 1..4, and the filter keeps qty < 4 (k < 3).
    await pg.query(
      `INSERT INTO ${items} SELECT row_number() OVER (), o, (o * 7 + k * 3) % 5, 'sku-' || o || '-' || k, k + 1 FROM generate_series(1, $1) o, generate_series(0, 4) k WHERE k < o % 5`,
      [ORDERS],
    );
    await pg.query(`INSERT INTO ${ship} SELECT g, g * 3, 'carrier ' || g FROM generate_series(1, $1) g`, [Math.floor(ORDERS / 3)]);
    await pg.query(`INSERT INTO ${customers} SELECT g, 'customer ' || g FROM generate_series(1, $1) g`, [CUSTOMERS]);

    d = await startDaemon(tmpDataDir(), {}, { adminKey: ADMIN });
    const daemon = d;
    const rules = {
      [orders]: { collection: 'orders', fields: { note: { name: 'memo' }, code: { type: 'objectId' } } },
      [items]: { newDocuments: false, fields: { sku: { name: 'product' } }, embed: { into: orders, kind: 'array', field: 'items', foreignKey: ['order_id'], sort: [{ field: 'line_no' }] } },
      [ship]: { collection: 'shipments', embed: { into: orders, kind: 'document', field: 'shipment', foreignKey: ['order_id'] } },
      [customers]: { collection: 'customers', id: { strategy: 'objectId', keyField: 'custId' }, fields: { name: { name: 'fullName' } } },
    };
    const m = await d.api('/api/v1/mappings', { method: 'POST', body: { name: `${name}-rules`, tables: rules } });
    assert.equal(m.status, 201, JSON.stringify(m.body));
    const itemsTable = items.slice('public.'.length);
    ({ streamId } = await createStream(d, {
      name,
      mongoDb: name,
      tables: [orders, items, ship, customers],
      options: { heartbeatIntervalMs: 1000 },
      extra: { mapping: { mappingId: m.body.id }, relationalTableFilters: { public: { [itemsTable]: { whereClause: 'qty < 4' } } } },
    }));
    const sid = streamId;
    assert.equal((await d.api(`/api/v1/streams/${sid}/start`, { method: 'POST' })).status, 202);
    await waitFor(async () => (await streamStatus(daemon, sid)).cdcStatus === 'RUNNING', { timeoutMs: 120_000, intervalMs: 200, message: 'CDC running' });

    const verify = async (): Promise<{ status: string; verificationStatus: string; tables: Table[] }> => {
      const r = await daemon.api(`/api/v1/streams/${sid}/verify`, { method: 'POST', body: { chunkSize: 7 } });
      assert.equal(r.status, 200, JSON.stringify(r.body));
      return r.body;
    };
    const entry = (r: { tables: Table[] }, table: string, mode: string): Table => {
      const t = r.tables.find((x) => x.table === table && x.mode === mode);
      assert.ok(t, `${table} (${mode}) in ${JSON.stringify(r.tables)}`);
      return t;
    };
    const count = async (sql: string): Promise<number> => Number((await pg.query(sql)).rows[0].n);

    // After the snapshot.
    const ok = await verify();
    assert.equal(ok.status, 'PASSED', JSON.stringify(ok));
    assert.equal(ok.verificationStatus, 'VERIFIED');
    assert.deepEqual(
      ok.tables.map((t) => [t.table, t.mode, t.embeddedIn ?? null, t.collection]),
      [
        [orders, 'direct', null, 'orders'],
        [items, 'embedded', orders, 'orders'],
        [ship, 'direct', null, 'shipments'],
        [ship, 'embedded', orders, 'orders'],
        [customers, 'direct', null, 'customers'],
      ],
    );
    const kept = await count(`SELECT count(*) AS n FROM ${items} WHERE qty < 4`);
    assert.ok(kept < (await count(`SELECT count(*) AS n FROM ${items}`)), 'the items filter leaves some rows out');
    assert.deepEqual([entry(ok, orders, 'direct').sourceCount, entry(ok, orders, 'direct').sinkCount], [ORDERS, ORDERS]);
    assert.deepEqual([entry(ok, items, 'embedded').sourceCount, entry(ok, items, 'embedded').sinkCount], [kept, kept]);
    assert.deepEqual([entry(ok, ship, 'embedded').sourceCount, entry(ok, ship, 'direct').sinkCount], [Math.floor(ORDERS / 3), Math.floor(ORDERS / 3)]);
    assert.deepEqual([entry(ok, customers, 'direct').sourceCount, entry(ok, customers, 'direct').sinkCount], [CUSTOMERS, CUSTOMERS]);
    // The documents really carry the rules (so the pass above compared them).
    const o4 = await db.collection('orders').findOne({ _id: 4 as never });
    assert.equal(o4?.code?._bsontype, 'ObjectId');
    assert.equal(o4?.memo, 'order 4');
    // Order 4's items: k 0..2 kept (qty < 4), at line_no (28 + 3k) % 5 = 3, 1, 4, embedded sorted by line_no.
    assert.deepEqual((o4?.items as { line_no: number }[]).map((i) => i.line_no), [1, 3, 4]);
    assert.ok((o4?.items as Record<string, unknown>[]).every((i) => typeof i.product === 'string' && !('sku' in i)));
    const c1 = await db.collection('customers').findOne({ custId: 1 as never });
    assert.equal(c1?._id?._bsontype, 'ObjectId', 'objectId strategy: a generated _id');
    assert.equal(c1?.fullName, 'customer 1');

    // CDC on every table, then verify again once it converged.
    await pg.query(`INSERT INTO ${items} VALUES (1001, 1, 9, 'late', 1), (1002, 2, 0, 'filtered out', 7)`);
    await pg.query(`UPDATE ${items} SET line_no = line_no + 10, sku = 'changed' WHERE id = (SELECT min(id) FROM ${items} WHERE order_id = 4)`);
    await pg.query(`UPDATE ${items} SET order_id = 6 WHERE id = (SELECT max(id) FROM ${items} WHERE order_id = 9)`);
    await pg.query(`DELETE FROM ${items} WHERE id = (SELECT max(id) FROM ${items} WHERE order_id = 13)`);
    await pg.query(`INSERT INTO ${orders} VALUES (500, lpad(to_hex(500), 24, '0'), 'new', 1.00)`);
    await pg.query(`INSERT INTO ${items} VALUES (1003, 500, 2, 'b', 1), (1004, 500, 1, 'a', 2)`);
    await pg.query(`INSERT INTO ${ship} VALUES (900, 500, 'fast')`);
    await pg.query(`UPDATE ${ship} SET carrier = 'slow' WHERE id = 1`);
    await pg.query(`DELETE FROM ${orders} WHERE id = 12`);
    await pg.query(`UPDATE ${orders} SET note = 'renamed later' WHERE id = 5`);
    await pg.query(`UPDATE ${customers} SET name = 'changed' WHERE id = 3`);
    await pg.query(`INSERT INTO ${customers} VALUES (100, 'new customer')`);
    let last: unknown;
    await waitFor(
      async () => {
        const r = await verify();
        last = r;
        return r.status === 'PASSED';
      },
      { timeoutMs: 90_000, intervalMs: 1000, message: 'verify PASSED after CDC' },
    ).catch((err: Error) => {
      throw new Error(`${err.message}: ${JSON.stringify(last)}`);
    });
    const cdc = last as { tables: Table[] };
    assert.equal(entry(cdc, orders, 'direct').sourceCount, ORDERS);
    assert.equal(entry(cdc, customers, 'direct').sinkCount, CUSTOMERS + 1);
    assert.equal(entry(cdc, items, 'embedded').sourceCount, await count(`SELECT count(*) AS n FROM ${items} WHERE qty < 4`));
    const o500 = await db.collection('orders').findOne({ _id: 500 as never });
    assert.deepEqual((o500?.items as { product: string }[]).map((i) => i.product), ['a', 'b']);
    assert.equal((o500?.shipment as { carrier: string }).carrier, 'fast');

    // Tamper: one embedded item removed from a parent's array, a renamed field changed, a document deleted.
    const withItems = (await db.collection('orders').find({}).toArray()).filter((o) => Array.isArray(o.items) && o.items.length >= 2).map((o) => Number(o._id)).sort((a, b) => a - b);
    const a = withItems[0]!;
    const b = [7, 8, 10, 11].find((x) => x !== a)!;
    const orderA = await db.collection('orders').findOne({ _id: a as never });
    assert.equal((await db.collection('orders').updateOne({ _id: a as never }, { $set: { items: (orderA!.items as unknown[]).slice(1) } })).modifiedCount, 1);
    assert.equal((await db.collection('orders').updateOne({ _id: b as never }, { $set: { memo: 'tampered' } })).modifiedCount, 1);
    assert.equal((await db.collection('customers').deleteOne({ custId: 7 as never })).deletedCount, 1);
    const bad = await verify();
    assert.equal(bad.status, 'FAILED');
    assert.equal(bad.verificationStatus, 'FAILED');
    const [lo, hi] = a < b ? [a, b] : [b, a];
    const diff = (k: number) => (k === a ? { key: { id: String(a) }, kind: 'different', fields: ['items'] } : { key: { id: String(b) }, kind: 'different', fields: ['memo'] });
    const ob = entry(bad, orders, 'direct');
    assert.deepEqual([ob.missing, ob.extra, ob.different, ob.sourceCount === ob.sinkCount], [0, 0, 2, true]);
    assert.deepEqual(ob.differences, [diff(lo), diff(hi)]);
    const ib = entry(bad, items, 'embedded');
    assert.deepEqual([ib.missing, ib.extra, ib.different, ib.sourceCount - ib.sinkCount], [0, 0, 1, 1]);
    assert.deepEqual(ib.differences, [{ key: { id: String(a) }, kind: 'different', fields: ['items'] }]);
    const cb = entry(bad, customers, 'direct');
    assert.deepEqual([cb.missing, cb.extra, cb.different, cb.sourceCount - cb.sinkCount], [1, 0, 0, 1]);
    assert.deepEqual(cb.differences, [{ key: { id: '7' }, kind: 'missing' }]);
    for (const t of [entry(bad, ship, 'direct'), entry(bad, ship, 'embedded')]) assert.deepEqual([t.missing, t.extra, t.different, t.differences], [0, 0, 0, []]);
    const shown = (await streamStatus(d, sid)) as unknown as { metadata: { verificationStatus: string } };
    assert.equal(shown.metadata.verificationStatus, 'FAILED');

    // Asking for the embedded table alone compares it inside its parent.
    const alone = await d.api(`/api/v1/streams/${sid}/verify`, { method: 'POST', body: { tables: [items] } });
    assert.equal(alone.status, 200, JSON.stringify(alone.body));
    assert.deepEqual(
      (alone.body.tables as Table[]).map((t) => [t.table, t.mode]),
      [
        [orders, 'direct'],
        [items, 'embedded'],
      ],
    );
  } finally {
    if (d && streamId) {
      await d.api(`/api/v1/streams/${streamId}/stop`, { method: 'POST' }).catch(() => undefined);
      await d.api(`/api/v1/streams/${streamId}`, { method: 'DELETE' }).catch(() => undefined);
    }
    await d?.stop('SIGTERM');
    for (const t of [items, ship, orders, customers]) await pg.query(`DROP TABLE IF EXISTS ${t}`).catch(() => undefined);
    await db.dropDatabase().catch(() => undefined);
    await client.close();
    await pg.end();
  }
});

test('verify reads the children of text keys holding backslashes (one at the end included) and passes', { timeout: 180_000 }, async () => {
  // The children of each chunk of parents are read with a whereClause on the foreign key.
  // The where parser reads a backslash before a quote as an escape (PostgreSQL does not), so a
  // key like `ends\` must never be spelled in a clause: those children are read whole and matched.
  const id = uid();
  const name = `vbs_${id}`;
  const parents = `public.${name}_p`;
  const children = `public.${name}_c`;
  const codes = ['plain', 'ends\\', 'mid\\dle', "quote'\\", '\\', 'two\\\\'];
  const pg = await pgClient();
  const { client, db } = await mongoDb(name);
  let d: RunningDaemon | undefined;
  let streamId: string | undefined;
  try {
    await pg.query(`CREATE TABLE ${parents} (code text PRIMARY KEY, note text)`);
    await pg.query(`CREATE TABLE ${children} (id bigint PRIMARY KEY, parent text NOT NULL REFERENCES ${parents}(code), qty int NOT NULL)`);
    for (const [i, code] of codes.entries()) {
      await pg.query(`INSERT INTO ${parents} VALUES ($1, $2)`, [code, `parent ${i}`]);
      for (let k = 0; k <= i % 3; k++) await pg.query(`INSERT INTO ${children} VALUES ($1, $2, $3)`, [i * 10 + k, code, k + 1]);
    }
    const childRows = Number((await pg.query(`SELECT count(*) AS n FROM ${children}`)).rows[0].n);

    d = await startDaemon(tmpDataDir(), {}, { adminKey: ADMIN });
    const daemon = d;
    ({ streamId } = await createStream(d, {
      name,
      mongoDb: name,
      mode: 'SNAPSHOT',
      tables: [parents, children],
      extra: {
        mapping: {
          tables: {
            [parents]: { collection: 'parents' },
            [children]: { newDocuments: false, embed: { into: parents, kind: 'array', field: 'children', foreignKey: ['parent'], sort: [{ field: 'id' }] } },
          },
        },
      },
    }));
    const sid = streamId;
    assert.equal((await d.api(`/api/v1/streams/${sid}/start`, { method: 'POST' })).status, 202);
    await waitFor(async () => (await streamStatus(daemon, sid)).status === 'COMPLETED', { timeoutMs: 120_000, intervalMs: 200, message: 'snapshot COMPLETED' });
    const ends = await db.collection('parents').findOne({ _id: 'ends\\' as never });
    assert.equal((ends?.children as unknown[] | undefined)?.length, 2, 'the snapshot embedded the children of `ends\\`');

    const r = await d.api(`/api/v1/streams/${sid}/verify`, { method: 'POST', body: { chunkSize: 4 } });
    assert.equal(r.status, 200, JSON.stringify(r.body));
    assert.equal(r.body.status, 'PASSED', JSON.stringify(r.body));
    const embedded = (r.body.tables as Table[]).find((t) => t.table === children && t.mode === 'embedded');
    assert.deepEqual([embedded?.sourceCount, embedded?.sinkCount], [childRows, childRows]);
  } finally {
    if (d && streamId) await d.api(`/api/v1/streams/${streamId}`, { method: 'DELETE' }).catch(() => undefined);
    await d?.stop('SIGTERM');
    for (const t of [children, parents]) await pg.query(`DROP TABLE IF EXISTS ${t}`).catch(() => undefined);
    await db.dropDatabase().catch(() => undefined);
    await client.close();
    await pg.end();
  }
});
