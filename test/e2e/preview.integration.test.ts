/**
 * POST /streams/{id}/mapping/preview end to end (PostgreSQL → daemon): orders with
 * their items embedded (array sorted by line_no, a rename, objectId / date / long
 * overrides, a whereClause on both tables). The preview's documents must equal, field
 * by field and BSON type by BSON type (canonical Extended JSON), what the stream then
 * writes to MongoDB for the same orders. A row with a bad objectId value is an entry of
 * `errors` while the other documents still come back; limit, tables, 400/404/403 and
 * the source/table/mapping errors.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { BSON } from 'mongodb';
import { createStream, mongoDb, pgClient, streamStatus, transportEnv, uid } from '../helpers/pipeline';
import { startDaemon, tmpDataDir, type RunningDaemon } from '../helpers/daemon';
import { myClient, myDatabase } from '../helpers/mysql-pipeline';
import { waitFor } from '../helpers/wait-for';

const ADMIN = 'e2e-preview-admin-key-0123456789';
const ORDERS = 40;
const hex24 = (n: number) => n.toString(16).padStart(24, '0');

test('the mapping preview shows exactly the documents the stream then writes, with conversion errors per row', { timeout: 300_000 }, async () => {
  const id = uid();
  const name = `prv_${id}`;
  const orders = `public.${name}_orders`;
  const items = `public.${name}_items`;
  const pg = await pgClient();
  const { client, db } = await mongoDb(name);
  let d: RunningDaemon | undefined;
  const streams: string[] = [];
  try {
    await pg.query(`CREATE TABLE ${orders} (id bigint PRIMARY KEY, code text NOT NULL, note text, total numeric(12,2), status text NOT NULL, shipped text, created timestamptz NOT NULL)`);
    await pg.query(`CREATE TABLE ${items} (id bigint PRIMARY KEY, order_id bigint NOT NULL REFERENCES ${orders}(id) ON DELETE CASCADE, line_no int NOT NULL, sku text, qty int NOT NULL, price numeric(10,2))`);
    // Every 4th order is cancelled (filtered out); order 2's code is no ObjectId.
    await pg.query(
      `INSERT INTO ${orders} SELECT g, CASE WHEN g = 2 THEN 'xyz' ELSE lpad(to_hex(g), 24, '0') END, CASE WHEN g % 5 = 0 THEN NULL ELSE 'order ' || g END,
              (g * 1.25)::numeric(12,2), CASE WHEN g % 4 = 0 THEN 'cancelled' ELSE 'open' END, '2024-03-' || lpad((g % 28 + 1)::text, 2, '0') || 'T10:00:00Z',
              timestamptz '2024-01-01 00:00:00+00' + g * interval '1 hour 1.5 second' FROM generate_series(1, $1) g`,
      [ORDERS],
    );
    // 0..5 items per order, line numbers not in key order; items with qty >= 5 are filtered out.
    await pg.query(
      `INSERT INTO ${items} SELECT row_number() OVER (), o, (o * 7 + k * 5) % 6, 'sku-' || o || '-' || k, k + 1, (k * 1.5)::numeric(10,2)
         FROM generate_series(1, $1) o, generate_series(0, 5) k WHERE k < o % 6 ORDER BY o, k`,
      [ORDERS],
    );
    const mapping = {
      tables: {
        [orders]: { collection: `${name}_docs`, fields: { note: { name: 'memo' }, code: { type: 'objectId' }, shipped: { type: 'date' } } },
        [items]: {
          newDocuments: false,
          fields: { sku: { name: 'product' }, qty: { type: 'long' } },
          embed: { into: orders, kind: 'array', field: 'items', foreignKey: ['order_id'], sort: [{ field: 'line_no' }] },
        },
      },
    };
    const relationalTableFilters = { public: { [`${name}_orders`]: { whereClause: "status <> 'cancelled'" }, [`${name}_items`]: { whereClause: 'qty < 5' } } };
    d = await startDaemon(tmpDataDir(), transportEnv('direct'), { adminKey: ADMIN });
    const ids = await createStream(d, { name, mongoDb: name, tables: [orders, items], transport: 'direct', options: { heartbeatIntervalMs: 1000 }, extra: { mapping, relationalTableFilters } });
    const { streamId } = ids;
    streams.push(streamId);
    const preview = (body: unknown, key?: string, sid = streamId) => d!.api(`/api/v1/streams/${sid}/mapping/preview`, { method: 'POST', body, ...(key ? { key } : {}) });

    // limit 5: the first five passing orders (1 2 3 5 6); 2 cannot be converted.
    const five = await preview({ limit: 5 });
    assert.equal(five.status, 200, JSON.stringify(five.body));
    assert.equal(five.body.collections.length, 1, 'items are only embedded: no collection of their own');
    assert.equal(five.body.collections[0].table, orders);
    assert.equal(five.body.collections[0].collection, `${name}_docs`);
    assert.deepEqual(five.body.collections[0].documents.map((doc: any) => doc._id), [1, 3, 5, 6].map((n) => ({ $numberLong: String(n) })));
    assert.equal(five.body.errors?.length, 1, JSON.stringify(five.body.errors));
    const bad = five.body.errors[0];
    assert.equal(bad.table, orders);
    assert.equal(String(bad.key.id), '2');
    assert.equal(bad.field, 'code');
    assert.match(bad.message, new RegExp(`^Cannot convert the record for collection ${name}\\.${name}_docs, key .*2.* \\(table ${orders.replace('.', '\\.')}\\): `));
    assert.match(bad.message, /xyz/);
    const doc3 = five.body.collections[0].documents[1];
    assert.deepEqual(doc3.code, { $oid: hex24(3) }, 'objectId override');
    assert.deepEqual(doc3.shipped, { $date: { $numberLong: String(Date.parse('2024-03-04T10:00:00Z')) } }, 'date override');
    assert.equal(doc3.memo, 'order 3', 'rename');
    assert.ok(!('note' in doc3));
    assert.deepEqual(doc3.items.map((i: any) => i.line_no), [1, 2, 3].map((n) => ({ $numberInt: String(n) })), 'array sorted by line_no (rows 1 2 3 have line_no 3 2 1)');
    assert.ok(doc3.items.every((i: any) => 'product' in i && !('sku' in i) && '$numberLong' in i.qty), JSON.stringify(doc3.items));
    const doc5 = five.body.collections[0].documents[2];
    assert.ok(doc5.items.length === 4 && doc5.items.every((i: any) => Number(i.qty.$numberLong) < 5), 'the items whereClause applies: order 5 has 5 items, one with qty 5');
    assert.equal(doc5.memo, null, 'nulls kept');

    // Only named tables; tables that are only embedded are refused with the parent to ask for.
    assert.equal((await preview({ tables: [orders], limit: 1 })).body.collections[0].documents.length, 1);
    const embedded = await preview({ tables: [items] });
    assert.equal(embedded.status, 400);
    assert.equal(embedded.body.error.code, 'VALIDATION_FAILED');
    assert.match(embedded.body.error.message, new RegExp(orders.replace('.', '\\.')));
    assert.equal((await preview({ tables: ['public.elsewhere'] })).status, 400);

    // Bad bodies, unknown stream, roles.
    for (const body of [{ limit: 0 }, { limit: 101 }, { limit: 'x' }, { nope: 1 }, { tables: [] }]) {
      const r = await preview(body);
      assert.equal(r.status, 400, JSON.stringify(body));
      assert.equal(r.body.error.code, 'VALIDATION_FAILED');
    }
    const missing = await preview({}, undefined, 'no-such-stream');
    assert.equal(missing.status, 404);
    assert.equal(missing.body.error.code, 'STREAM_NOT_FOUND');
    const viewer = (await d.api('/api/v1/api-keys', { method: 'POST', body: { name: `v-${id}`, role: 'viewer' } })).body.key as string;
    const operator = (await d.api('/api/v1/api-keys', { method: 'POST', body: { name: `o-${id}`, role: 'operator' } })).body.key as string;
    assert.equal((await preview({}, viewer)).status, 403);
    assert.equal((await preview({ limit: 1 }, operator)).status, 200);

    // Nothing was written anywhere.
    assert.deepEqual(await db.listCollections().toArray(), []);

    // The default limit (10): orders 1 3 5 6 7 9 10 11 13 (2 in errors).
    const sample = await preview({});
    assert.equal(sample.status, 200);
    const docs = sample.body.collections[0].documents as Record<string, unknown>[];
    assert.deepEqual(docs.map((doc: any) => Number(doc._id.$numberLong)), [1, 3, 5, 6, 7, 9, 10, 11, 13]);

    // Run the stream (order 2 fixed first, or the sink would reject it) and compare.
    await pg.query(`UPDATE ${orders} SET code = $1 WHERE id = 2`, [hex24(2)]);
    assert.equal((await d.api(`/api/v1/streams/${streamId}/start`, { method: 'POST' })).status, 202);
    await waitFor(async () => (await streamStatus(d!, streamId)).cdcStatus === 'RUNNING', { timeoutMs: 120_000, intervalMs: 200, message: 'CDC running' });
    const written = db.collection(`${name}_docs`);
    const expectedCount = Number((await pg.query(`SELECT count(*) AS n FROM ${orders} WHERE status <> 'cancelled'`)).rows[0].n);
    await waitFor(async () => (await written.countDocuments({})) === expectedCount, { timeoutMs: 60_000, intervalMs: 300, message: 'snapshot written' });
    for (const want of docs) {
      const got = await written.findOne({ _id: BSON.EJSON.deserialize({ v: want._id }, { relaxed: false }).v as never }, { promoteValues: false, promoteLongs: false });
      assert.ok(got, `order ${JSON.stringify(want._id)} in MongoDB`);
      assert.deepEqual(BSON.EJSON.serialize(got, { relaxed: false }), want, `order ${JSON.stringify(want._id)}: MongoDB's document equals the preview's`);
    }
    // While the stream runs, the preview is the same (and now order 2 converts).
    const again = await preview({});
    assert.equal(again.status, 200);
    assert.equal(again.body.errors, undefined);
    const byId = new Map((again.body.collections[0].documents as any[]).map((doc) => [doc._id.$numberLong, doc]));
    for (const want of docs) assert.deepEqual(byId.get((want._id as any).$numberLong), want);
    const got2 = await written.findOne({ _id: 2n as never }, { promoteValues: false, promoteLongs: false });
    assert.deepEqual(BSON.EJSON.serialize(got2, { relaxed: false }), byId.get('2'));

    // A table that does not exist, a mapping naming a column the table lacks, an unreachable source.
    const other = async (extra: Record<string, unknown>, sourceId = ids.sourceId): Promise<string> => {
      const r = await d!.api('/api/v1/streams', {
        method: 'POST',
        body: { name: `${name}-${streams.length}`, source: { connectionId: sourceId }, sink: { connectionId: ids.sinkId }, transport: { kind: 'direct' }, mode: 'CDC', tables: [orders], ...extra },
      });
      assert.equal(r.status, 201, JSON.stringify(r.body));
      streams.push(r.body.id);
      return r.body.id as string;
    };
    const noTable = await preview({}, undefined, await other({ tables: [`public.${name}_absent`] }));
    assert.equal(noTable.status, 400, JSON.stringify(noTable.body));
    assert.equal(noTable.body.error.code, 'SOURCE_TABLE_NOT_FOUND');
    const badMapping = await preview({}, undefined, await other({ mapping: { tables: { [orders]: { fields: { nosuchcolumn: { name: 'x' } } } } } }));
    assert.equal(badMapping.status, 400, JSON.stringify(badMapping.body));
    assert.equal(badMapping.body.error.code, 'MAPPING_INVALID');
    const down = await d.api('/api/v1/connections', { method: 'POST', body: { name: `${name}-down`, kind: 'postgresql', url: 'postgresql://u:p@127.0.0.1:1/db' } });
    assert.equal(down.status, 201);
    const unreachable = await preview({}, undefined, await other({}, down.body.id));
    assert.equal(unreachable.status, 502, JSON.stringify(unreachable.body));
    assert.equal(unreachable.body.error.code, 'SOURCE_UNREACHABLE');

    // The objectId _id strategy: the server generates _id, so a preview document has the key field only.
    const oidStream = await other({ mapping: { tables: { [orders]: { collection: `${name}_oid`, id: { strategy: 'objectId', keyField: 'srcId' } } } } });
    const oid = await preview({ limit: 3 }, undefined, oidStream);
    assert.equal(oid.status, 200, JSON.stringify(oid.body));
    const oidDocs = oid.body.collections[0].documents as any[];
    assert.deepEqual(oidDocs.map((doc) => [doc.srcId, '_id' in doc]), [1, 2, 3].map((n) => [{ $numberLong: String(n) }, false]), 'no whereClause on this stream: orders 1 2 3');
    assert.equal((await d.api(`/api/v1/streams/${oidStream}/start`, { method: 'POST' })).status, 202);
    const oidColl = db.collection(`${name}_oid`);
    await waitFor(async () => (await oidColl.countDocuments({})) === ORDERS, { timeoutMs: 60_000, intervalMs: 300, message: 'objectId snapshot written' });
    for (const want of oidDocs) {
      const got = await oidColl.findOne({ srcId: BSON.EJSON.deserialize({ v: want.srcId }, { relaxed: false }).v as never }, { promoteValues: false, promoteLongs: false });
      assert.equal(got?._id?._bsontype, 'ObjectId');
      const { _id, ...rest } = got!;
      assert.deepEqual(BSON.EJSON.serialize(rest, { relaxed: false }), want);
    }
  } finally {
    if (d) {
      for (const s of streams) {
        await d.api(`/api/v1/streams/${s}/stop`, { method: 'POST' }).catch(() => undefined);
        await d.api(`/api/v1/streams/${s}`, { method: 'DELETE' }).catch(() => undefined);
      }
    }
    await d?.stop('SIGTERM');
    await db.dropDatabase().catch(() => undefined);
    await client.close();
    await pg.query(`DROP TABLE IF EXISTS ${items}`).catch(() => undefined);
    await pg.query(`DROP TABLE IF EXISTS ${orders}`).catch(() => undefined);
    await pg.end();
  }
});

test('MariaDB: string parent keys with quotes and backslashes, a uuid override and a merge embed: the preview equals what the stream writes', { timeout: 300_000 }, async () => {
  const id = uid();
  const name = `prvm_${id}`;
  const dbName = myDatabase();
  const tags = `${dbName}.${name}_tags`;
  const uses = `${dbName}.${name}_uses`;
  const owners = `${dbName}.${name}_owners`;
  const my = await myClient();
  const { client, db } = await mongoDb(name);
  let d: RunningDaemon | undefined;
  let streamId: string | undefined;
  try {
    await my.query(`CREATE TABLE ${tags} (code varchar(20) PRIMARY KEY, label varchar(50), ref char(36), weight decimal(10,3))`);
    await my.query(`CREATE TABLE ${uses} (id int PRIMARY KEY, tag_code varchar(20) NOT NULL, at_ms bigint, note varchar(50))`);
    await my.query(`CREATE TABLE ${owners} (tag varchar(20) PRIMARY KEY, owner varchar(50))`);
    const codes = ["it's", 'a\\b', "\\'", 'plain', 'zz'];
    for (const [i, c] of codes.entries()) {
      await my.query(`INSERT INTO ${tags} VALUES (?, ?, ?, ?)`, [c, `label ${i}`, `0000000${i}-0000-4000-8000-00000000000${i}`, `${i}.125`]);
      await my.query(`INSERT INTO ${owners} VALUES (?, ?)`, [c, `owner ${i}`]);
      for (let k = 0; k < i + 1; k++) await my.query(`INSERT INTO ${uses} VALUES (?, ?, ?, ?)`, [i * 10 + k, c, 1_700_000_000_000 + k, k % 2 ? null : `use ${k}`]);
    }
    const mapping = {
      tables: {
        [tags]: { fields: { ref: { type: 'uuid' } } },
        [uses]: { newDocuments: false, fields: { at_ms: { name: 'at', type: 'date' } }, embed: { into: tags, kind: 'array', field: 'uses', foreignKey: ['tag_code'], sort: [{ field: 'at', desc: true }] } },
        [owners]: { newDocuments: false, embed: { into: tags, kind: 'merge', field: 'o_', foreignKey: ['tag'] } },
      },
    };
    d = await startDaemon(tmpDataDir(), transportEnv('direct'), { adminKey: ADMIN });
    ({ streamId } = await createStream(d, { name, mongoDb: name, tables: [tags, uses, owners], sourceKind: 'mysql', transport: 'direct', options: { heartbeatIntervalMs: 1000 }, extra: { mapping } }));
    const sid = streamId;
    const preview = await d.api(`/api/v1/streams/${sid}/mapping/preview`, { method: 'POST', body: { limit: 4 } });
    assert.equal(preview.status, 200, JSON.stringify(preview.body));
    assert.equal(preview.body.errors, undefined, JSON.stringify(preview.body.errors));
    assert.equal(preview.body.collections.length, 1);
    const docs = preview.body.collections[0].documents as any[];
    // Key order is the database's (collation): whatever it is, 4 of the 5 tags, each with its own uses.
    assert.equal(docs.length, 4);
    for (const doc of docs) {
      const i = codes.indexOf(doc._id);
      assert.ok(i >= 0, `tag ${JSON.stringify(doc._id)}`);
      assert.equal(doc.uses.length, i + 1, `tag ${JSON.stringify(doc._id)} has its own uses only`);
      assert.equal(doc.o_owner, `owner ${i}`, 'merged');
      assert.equal(doc.ref.$binary.subType, '04', 'uuid override');
      assert.ok('$date' in doc.uses[0].at);
      assert.ok(doc.uses.every((u: any, n: number) => n === 0 || Number(doc.uses[n - 1].at.$date.$numberLong) >= Number(u.at.$date.$numberLong)), 'sorted by at, descending');
    }

    assert.equal((await d.api(`/api/v1/streams/${sid}/start`, { method: 'POST' })).status, 202);
    await waitFor(async () => (await streamStatus(d!, sid)).cdcStatus === 'RUNNING', { timeoutMs: 120_000, intervalMs: 200, message: 'CDC running' });
    const written = db.collection(`${name}_tags`);
    await waitFor(async () => (await written.countDocuments({ 'uses.0': { $exists: true }, o_owner: { $exists: true } })) === codes.length, { timeoutMs: 60_000, intervalMs: 300, message: 'snapshot written' });
    for (const want of docs) {
      const got = await written.findOne({ _id: want._id }, { promoteValues: false, promoteLongs: false });
      assert.deepEqual(BSON.EJSON.serialize(got, { relaxed: false }), want, `tag ${JSON.stringify(want._id)}: MongoDB's document equals the preview's`);
    }
  } finally {
    if (d && streamId) {
      await d.api(`/api/v1/streams/${streamId}/stop`, { method: 'POST' }).catch(() => undefined);
      await d.api(`/api/v1/streams/${streamId}`, { method: 'DELETE' }).catch(() => undefined);
    }
    await d?.stop('SIGTERM');
    await db.dropDatabase().catch(() => undefined);
    await client.close();
    for (const t of [uses, owners, tags]) await my.query(`DROP TABLE IF EXISTS ${t}`).catch(() => undefined);
    await my.end();
  }
});
