/**
 * Deleting a stream drops what it keeps in the sink (PostgreSQL → daemon → FerretDB):
 * two streams over the same orders/items tables, items embedded into orders, each with
 * its own sink connection to one database, so each has its staging collection
 * `_sluice_embed.<streamId>.public.<items>`. With stream A's sink pointed at a dead port,
 * DELETE answers 502 SINK_UNREACHABLE and keeps the stream and its slot (nothing was
 * dropped); with the sink back, DELETE drops A's slot and A's staging collection and
 * nothing else in the database (B's staging, the orders documents, a collection of the
 * user's, a name that only starts like A's). B is deleted with keepSinkResources=true:
 * its slot goes, its staging stays.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createStream, E2E_ADMIN_KEY, mongoDb, pgClient, streamStatus, uid } from '../helpers/pipeline';
import { stackUrls } from '../helpers/stack';
import { startDaemon, tmpDataDir, type RunningDaemon } from '../helpers/daemon';
import { waitFor } from '../helpers/wait-for';

test('DELETE /streams/{id} drops the stream\'s embedding staging collections and nothing else; an unreachable sink keeps the stream and its slot', { timeout: 300_000 }, async () => {
  const id = uid();
  const name = `sdel_${id}`;
  const orders = `public.${name}_orders`;
  const items = `public.${name}_items`;
  const pg = await pgClient();
  const { client, db } = await mongoDb(name);
  let d: RunningDaemon | undefined;
  const streams: string[] = [];
  const slotOf = async (streamId: string): Promise<number> =>
    (await pg.query('SELECT 1 FROM pg_replication_slots WHERE slot_name LIKE $1', [`%${streamId.replace(/-/g, '').toLowerCase()}%`])).rowCount ?? 0;
  const collections = async (): Promise<string[]> => (await db.listCollections({}, { nameOnly: true }).toArray()).map((c) => c.name).sort();
  try {
    await pg.query(`CREATE TABLE ${orders} (id bigint PRIMARY KEY, note text)`);
    await pg.query(`CREATE TABLE ${items} (id bigint PRIMARY KEY, order_id bigint NOT NULL REFERENCES ${orders}(id), qty int)`);
    await pg.query(`INSERT INTO ${orders} SELECT g, 'o' || g FROM generate_series(1, 5) g`);
    await pg.query(`INSERT INTO ${items} SELECT g, 1 + g % 5, g FROM generate_series(1, 12) g`);
    const mapping = {
      tables: {
        [orders]: { collection: 'orders' },
        [items]: { newDocuments: false, embed: { into: orders, kind: 'array', field: 'items', foreignKey: ['order_id'] } },
      },
    };
    d = await startDaemon(tmpDataDir(), {}, { adminKey: E2E_ADMIN_KEY });
    const a = await createStream(d, { name: `${name}_a`, mongoDb: name, tables: [orders, items], options: { heartbeatIntervalMs: 1000 }, extra: { mapping } });
    streams.push(a.streamId);
    const b = await createStream(d, { name: `${name}_b`, mongoDb: name, tables: [orders, items], options: { heartbeatIntervalMs: 1000 }, extra: { mapping } });
    streams.push(b.streamId);
    const stagingA = `_sluice_embed.${a.streamId}.${items}`;
    const stagingB = `_sluice_embed.${b.streamId}.${items}`;
    const daemon = d;
    for (const s of [a, b]) {
      assert.equal((await daemon.api(`/api/v1/streams/${s.streamId}/start`, { method: 'POST' })).status, 202);
      await waitFor(async () => (await streamStatus(daemon, s.streamId)).cdcStatus === 'RUNNING', { timeoutMs: 120_000, intervalMs: 200, message: 'CDC running' });
    }
    // A change under CDC too, so staging is written by both phases.
    await pg.query(`INSERT INTO ${items} VALUES (100, 2, 7)`);
    await waitFor(async () => (await db.collection(stagingA).countDocuments({})) === 13 && (await db.collection(stagingB).countDocuments({})) === 13, {
      timeoutMs: 60_000,
      intervalMs: 300,
      message: 'both staging collections hold every item',
    });
    await waitFor(async () => ((await db.collection('orders').findOne({ _id: 2 as never }))?.items?.length ?? 0) === 4, { timeoutMs: 60_000, intervalMs: 300, message: 'order 2 embeds its 4 items' });
    // Things that are not A's: the user's collection, a name A's prefix does not cover.
    await db.collection('users_own').insertOne({ _id: 1 as never, keep: true });
    await db.collection(`_sluice_embed.${a.streamId}0.${items}`).insertOne({ _id: 1 as never });
    for (const s of [a, b]) assert.equal((await daemon.api(`/api/v1/streams/${s.streamId}/stop`, { method: 'POST' })).status, 202);
    await waitFor(async () => (await streamStatus(daemon, a.streamId)).state === 'STOPPED' && (await streamStatus(daemon, b.streamId)).state === 'STOPPED', {
      timeoutMs: 60_000,
      intervalMs: 200,
      message: 'both stopped',
    });
    const before = await collections();
    assert.ok(before.includes(stagingA) && before.includes(stagingB), JSON.stringify(before));
    assert.equal(await slotOf(a.streamId), 1);

    // The sink down (its connection pointed at a port nobody listens on): 502, the stream and its slot kept.
    const sinkUrl = new URL(stackUrls().mongodb);
    sinkUrl.pathname = `/${name}`;
    const dead = new URL(sinkUrl.toString());
    dead.host = '127.0.0.1:1';
    const patch = await daemon.api(`/api/v1/connections/${a.sinkId}`, { method: 'PATCH', body: { url: dead.toString(), options: { serverSelectionTimeoutMS: 500 } } });
    assert.equal(patch.status, 200, JSON.stringify(patch.body));
    const refused = await daemon.api(`/api/v1/streams/${a.streamId}`, { method: 'DELETE' });
    assert.equal(refused.status, 502, JSON.stringify(refused.body));
    assert.equal(refused.body.error.code, 'SINK_UNREACHABLE');
    assert.equal((await daemon.api(`/api/v1/streams/${a.streamId}`)).status, 200, 'the stream is kept');
    assert.equal(await slotOf(a.streamId), 1, 'the slot is kept: nothing was dropped');
    assert.deepEqual(await collections(), before);

    // The sink back: A's slot and A's staging go, nothing else.
    assert.equal((await daemon.api(`/api/v1/connections/${a.sinkId}`, { method: 'PATCH', body: { url: sinkUrl.toString() } })).status, 200);
    const deleted = await daemon.api(`/api/v1/streams/${a.streamId}`, { method: 'DELETE' });
    assert.equal(deleted.status, 204, JSON.stringify(deleted.body));
    streams.shift();
    assert.equal((await daemon.api(`/api/v1/streams/${a.streamId}`)).status, 404);
    assert.equal(await slotOf(a.streamId), 0, 'the slot is dropped');
    assert.deepEqual(await collections(), before.filter((c) => c !== stagingA));
    assert.equal(await db.collection(stagingB).countDocuments({}), 13, "B's staging is untouched");
    assert.equal(await db.collection('orders').countDocuments({}), 5, 'the documents stay');
    assert.equal(await db.collection('users_own').countDocuments({}), 1);

    // keepSinkResources=true: B's slot goes, its staging stays.
    const kept = await daemon.api(`/api/v1/streams/${b.streamId}?keepSinkResources=true`, { method: 'DELETE' });
    assert.equal(kept.status, 204, JSON.stringify(kept.body));
    streams.shift();
    assert.equal(await slotOf(b.streamId), 0);
    assert.ok((await collections()).includes(stagingB));
  } finally {
    for (const s of streams) {
      await d?.api(`/api/v1/streams/${s}/stop`, { method: 'POST' }).catch(() => undefined);
      await d?.api(`/api/v1/streams/${s}`, { method: 'DELETE' }).catch(() => undefined);
    }
    await d?.stop('SIGTERM');
    await db.dropDatabase().catch(() => undefined);
    await client.close();
    await pg.query(`DROP TABLE IF EXISTS ${items}`).catch(() => undefined);
    await pg.query(`DROP TABLE IF EXISTS ${orders}`).catch(() => undefined);
    await pg.end();
  }
});
