/**
 * PostgreSQL → MongoDB through the daemon, direct transport: operations and
 * pause/resume, each ending with MongoDB equal to the source row by row.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { startDaemon, tmpDataDir, type RunningDaemon } from '../helpers/daemon';
import {
  createOrders,
  createStream,
  mongoDb,
  pgClient,
  streamStatus,
  uid,
  waitConverged,
} from '../helpers/pipeline';
import { stackUrls } from '../helpers/stack';
import { waitFor } from '../../src/runtime/testing/wait-for';

const ADMIN = 'e2e-stream-admin-key-0123456789';
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function withStream(
  opts: { transport?: 'direct' | 'kafka'; rows?: number; mode?: string; options?: Record<string, unknown> },
  body: (f: { d: RunningDaemon; streamId: string; table: string; collection: string; pg: Awaited<ReturnType<typeof pgClient>>; db: Awaited<ReturnType<typeof mongoDb>>['db'] }) => Promise<void>,
): Promise<void> {
  const id = uid();
  const collection = `stream_${id}`;
  const table = `public.${collection}`;
  const pg = await pgClient();
  const mongo = await mongoDb(collection);
  await createOrders(pg, table, opts.rows ?? 0);
  const env = opts.transport === 'kafka' ? { SLUICE_KAFKA_BROKERS: stackUrls().kafka } : {};
  const d = await startDaemon(tmpDataDir(), env, { adminKey: ADMIN });
  let streamId: string | undefined;
  try {
    const ids = await createStream(d, {
      name: collection,
      mongoDb: collection,
      tables: [table],
      transport: opts.transport ?? 'direct',
      mode: opts.mode ?? 'CDC',
      options: { heartbeatIntervalMs: 1000, ...opts.options },
    });
    streamId = ids.streamId;
    await body({ d, streamId, table, collection, pg, db: mongo.db });
  } finally {
    if (streamId) {
      await d.api(`/api/v1/streams/${streamId}/stop`, { method: 'POST' }).catch(() => undefined);
      await d.api(`/api/v1/streams/${streamId}`, { method: 'DELETE' }).catch(() => undefined);
    }
    await d.stop('SIGTERM');
    await pg.query(`DROP TABLE IF EXISTS ${table}`).catch(() => undefined);
    await mongo.client.close();
    await pg.end();
  }
}

const start = async (d: RunningDaemon, id: string) => assert.equal((await d.api(`/api/v1/streams/${id}/start`, { method: 'POST' })).status, 202);
const cdcRunning = (d: RunningDaemon, id: string) =>
  waitFor(async () => (await streamStatus(d, id)).cdcStatus === 'RUNNING', { timeoutMs: 300000, intervalMs: 200, message: 'CDC running' });

test('INSERT, UPDATE, DELETE and a primary-key change arrive in MongoDB; TRUNCATE is reported, not applied', async () => {
  await withStream({ rows: 10 }, async ({ d, streamId, table, collection, pg, db }) => {
    await start(d, streamId);
    await cdcRunning(d, streamId);
    await pg.query(`INSERT INTO ${table} VALUES (100, 1, 'inserted', 1.10, date_trunc('milliseconds', now()))`);
    await pg.query(`UPDATE ${table} SET note = 'updated', amount = 2.20 WHERE id = 1`);
    await pg.query(`DELETE FROM ${table} WHERE id = 2`);
    await pg.query(`UPDATE ${table} SET id = 200 WHERE id = 3`);
    await waitConverged(pg, table, db, collection);
    assert.equal(await db.collection(collection).countDocuments({ _id: 3 as never }), 0, 'the old key of a PK change is gone');
    assert.equal((await db.collection(collection).findOne({ _id: 200 as never }))?.note, 'row 3');

    await pg.query(`TRUNCATE ${table}`);
    await pg.query(`INSERT INTO ${table} VALUES (300, 1, 'after truncate', 3.30, date_trunc('milliseconds', now()))`);
    await waitFor(async () => (await db.collection(collection).findOne({ _id: 300 as never })) !== null, { timeoutMs: 60000, message: 'row after TRUNCATE' });
    // Documented behaviour: TRUNCATE is not turned into deletes; the job log says so.
    assert.ok((await db.collection(collection).countDocuments()) > 1);
    const logs = await d.api(`/api/v1/streams/${streamId}/logs?level=WARNING`);
    assert.ok(logs.body.items.some((u: { message: string }) => /truncate/i.test(u.message)), JSON.stringify(logs.body.items));
  });
});

test('pause keeps the slot where it was; resume delivers everything written meanwhile', async () => {
  await withStream({ rows: 100 }, async ({ d, streamId, table, collection, pg, db }) => {
    await start(d, streamId);
    await cdcRunning(d, streamId);
    await waitConverged(pg, table, db, collection);
    assert.equal((await d.api(`/api/v1/streams/${streamId}/pause`, { method: 'POST' })).body.cdcStatus, 'PAUSED');
    await pg.query(`INSERT INTO ${table} SELECT g, 0, 'while paused', 0, date_trunc('milliseconds', now()) FROM generate_series(1000, 1999) g`);
    await sleep(1500);
    assert.equal(await db.collection(collection).countDocuments({ note: 'while paused' }), 0, 'nothing is written while paused');
    assert.equal((await d.api(`/api/v1/streams/${streamId}/resume`, { method: 'POST' })).status, 202);
    await waitConverged(pg, table, db, collection);
  });
});
