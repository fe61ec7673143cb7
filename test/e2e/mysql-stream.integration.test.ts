/**
 * MariaDB → MongoDB through the real daemon and its API: inserts, updates and
 * deletes; a snapshot taken while writes go on; a MariaDB restart mid-stream.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { startDaemon, tmpDataDir } from '../helpers/daemon';
import { cdcRunning, createStream, E2E_ADMIN_KEY, knob, mongoDb, stackServer, start, streamStatus, uid } from '../helpers/pipeline';
import { createMyOrders, myClient, myDatabase, waitMyConverged, writeMyContinuously } from '../helpers/mysql-pipeline';

const ROWS = knob('SLUICE_E2E_MYSQL_ROWS', 5000);

async function withMyStream(
  rows: number,
  body: (f: { d: Awaited<ReturnType<typeof startDaemon>>; streamId: string; table: string; collection: string; my: Awaited<ReturnType<typeof myClient>>; db: Awaited<ReturnType<typeof mongoDb>>['db'] }) => Promise<void>,
): Promise<void> {
  const collection = `my_${uid()}`;
  const table = `${myDatabase()}.${collection}`;
  const my = await myClient();
  const mongo = await mongoDb(collection);
  await createMyOrders(my, table, rows);
  const d = await startDaemon(tmpDataDir(), {}, { adminKey: E2E_ADMIN_KEY });
  let streamId: string | undefined;
  try {
    const ids = await createStream(d, {
      name: collection,
      mongoDb: collection,
      tables: [table],
      sourceKind: 'mysql',
      options: { heartbeatIntervalMs: 1000, snapshotChunkSize: 500 },
    });
    streamId = ids.streamId;
    await body({ d, streamId, table, collection, my, db: mongo.db });
  } finally {
    if (streamId) {
      await d.api(`/api/v1/streams/${streamId}/stop`, { method: 'POST' }).catch(() => undefined);
      await d.api(`/api/v1/streams/${streamId}`, { method: 'DELETE' }).catch(() => undefined);
    }
    await d.stop('SIGTERM');
    const cleanup = await myClient().catch(() => null);
    await cleanup?.query(`DROP TABLE IF EXISTS ${table}`).catch(() => undefined);
    await cleanup?.end();
    await my.end().catch(() => undefined);
    await mongo.client.close();
  }
}

test('MariaDB: a snapshot taken under concurrent writes, then inserts, updates and deletes, converge exactly in MongoDB', { timeout: 300000 }, async () => {
  await withMyStream(ROWS, async ({ d, streamId, table, collection, my, db }) => {
    const writer = await myClient();
    try {
      await start(d, streamId);
      const writes = writeMyContinuously(writer, table, ROWS + 1);
      await cdcRunning(d, streamId);
      await new Promise((r) => setTimeout(r, 1000));
      assert.ok((await writes.stop()) > 0);
      // A row of its own: the writer above deletes random rows, id 1 included.
      await my.query(`INSERT INTO ${table} VALUES (999999, 1, 'plain', 1.00, UTC_TIMESTAMP(3))`);
      await my.query(`UPDATE ${table} SET note = 'héllo 😀', amount = 123456789012.34 WHERE id = 999999`);
      await my.query(`DELETE FROM ${table} WHERE id = 2`);
      const diff = await waitMyConverged(my, table, db, collection);
      assert.equal(diff.sinkCount, diff.sourceCount);
      const doc = await db.collection(collection).findOne({ _id: 999999 } as never);
      assert.equal(doc?.note, 'héllo 😀');
      assert.equal(String(doc?.amount), '123456789012.34');
      assert.equal((await streamStatus(d, streamId)).cdcStatus, 'RUNNING');
    } finally {
      await writer.end();
    }
  });
});

test('MariaDB restarted mid-stream: the binlog reader reconnects and resumes, nothing lost', { timeout: 300000 }, async () => {
  await withMyStream(100, async ({ d, streamId, table, collection, db }) => {
    await start(d, streamId);
    await cdcRunning(d, streamId);
    let my = await myClient();
    await my.query(`INSERT INTO ${table} VALUES (1001, 1, 'before', 1.00, UTC_TIMESTAMP(3))`);
    await my.end();
    stackServer('down', 'mariadb');
    stackServer('up', 'mariadb');
    my = await myClient();
    try {
      await my.query(`INSERT INTO ${table} VALUES (1002, 2, 'after', 2.00, UTC_TIMESTAMP(3))`);
      await my.query(`UPDATE ${table} SET note = 'after restart' WHERE id = 5`);
      await waitMyConverged(my, table, db, collection);
      const status = await streamStatus(d, streamId);
      assert.equal(status.cdcStatus, 'RUNNING', JSON.stringify(status.failureError));
    } finally {
      await my.end();
    }
  });
});
