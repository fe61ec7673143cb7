/**
 * Row filters end to end on MariaDB: a filtered snapshot, then CDC that moves rows
 * into and out of the filter, compared with MariaDB read with the same WHERE. The
 * binlog carries full old images, so every move is known exactly.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { startDaemon, tmpDataDir } from '../helpers/daemon';
import { cdcRunning, createStream, E2E_ADMIN_KEY, mongoDb, start, uid, waitConverged } from '../helpers/pipeline';
import { createMyOrders, myClient, myDatabase, myOrders, writeMyContinuously } from '../helpers/mysql-pipeline';

const CLAUSE = "n % 3 = 0 AND amount < 200 OR note LIKE '%7'";
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

test('MariaDB: a filtered snapshot, then CDC moving rows into and out of the filter, equals the source read with the same WHERE', { timeout: 300000 }, async () => {
  const collection = `myf_${uid()}`;
  const db = myDatabase();
  const table = `${db}.${collection}`;
  const my = await myClient();
  const orders = await myOrders();
  const mongo = await mongoDb(collection);
  await createMyOrders(my, table, 300);
  const d = await startDaemon(tmpDataDir(), {}, { adminKey: E2E_ADMIN_KEY });
  let streamId: string | undefined;
  try {
    ({ streamId } = await createStream(d, {
      name: collection,
      mongoDb: collection,
      tables: [table],
      sourceKind: 'mysql',
      options: { heartbeatIntervalMs: 1000, snapshotChunkSize: 50 },
      extra: { relationalTableFilters: { [db]: { [collection]: { whereClause: CLAUSE } } } },
    }));
    const filtered = `(SELECT * FROM ${table} WHERE ${CLAUSE}) AS f`;
    await start(d, streamId);
    await cdcRunning(d, streamId);
    const snap = await waitConverged(orders, filtered, mongo.db, collection);
    assert.ok(snap.sourceCount > 50 && snap.sourceCount < 200, `kept ${snap.sourceCount}`);

    await my.query(`UPDATE ${table} SET n = 4 WHERE id = 3`); // in → out
    await my.query(`UPDATE ${table} SET n = 6 WHERE id = 4`); // out → in
    await my.query(`UPDATE ${table} SET n = 5 WHERE id = 5`); // out, stays out
    await my.query(`INSERT INTO ${table} VALUES (1000, 9, 'in', 1.00, UTC_TIMESTAMP(3)), (1001, 10, 'out', 1.00, UTC_TIMESTAMP(3))`);
    await my.query(`DELETE FROM ${table} WHERE id IN (6, 8)`);
    await my.query(`UPDATE ${table} SET id = 2000, n = 1 WHERE id = 9`); // key change moving out
    await waitConverged(orders, filtered, mongo.db, collection);
    assert.equal(await mongo.db.collection(collection).countDocuments({ _id: 3 as never }), 0);
    assert.equal((await mongo.db.collection(collection).findOne({ _id: 4 as never }))?.note, 'row 4');

    const writer = await myClient();
    const w = writeMyContinuously(writer, table, 3000);
    await sleep(4000);
    assert.ok((await w.stop()) > 20);
    await writer.end();
    await waitConverged(orders, filtered, mongo.db, collection);
  } finally {
    if (streamId) {
      await d.api(`/api/v1/streams/${streamId}/stop`, { method: 'POST' }).catch(() => undefined);
      await d.api(`/api/v1/streams/${streamId}`, { method: 'DELETE' }).catch(() => undefined);
    }
    await d.stop('SIGTERM');
    await my.query(`DROP TABLE IF EXISTS ${table}`).catch(() => undefined);
    await my.end().catch(() => undefined);
    await orders.end().catch(() => undefined);
    await mongo.db.dropDatabase().catch(() => undefined);
    await mongo.client.close();
  }
});
