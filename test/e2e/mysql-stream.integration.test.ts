/**
 * MariaDB → MongoDB through the real daemon and its API: inserts, updates and
 * deletes; a snapshot taken while writes go on.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { cdcRunning, knob, openOrders, start, streamStatus, waitConverged, withStream } from '../helpers/pipeline';

const ROWS = knob('SLUICE_E2E_MYSQL_ROWS', 5000);

test('MariaDB: a snapshot taken under concurrent writes, then inserts, updates and deletes, converge exactly in MongoDB', { timeout: 300000 }, async () => {
  await withStream({ source: 'mysql', rows: ROWS, options: { snapshotChunkSize: 500 } }, async ({ d, streamId, table, collection, src, db }) => {
    const writer = await openOrders('mysql');
    try {
      await start(d, streamId);
      const writes = writer.writeContinuously(table, ROWS + 1);
      await cdcRunning(d, streamId);
      await new Promise((r) => setTimeout(r, 1000));
      assert.ok((await writes.stop()) > 0);
      // A row of its own: the writer above deletes random rows, id 1 included.
      await src.exec(`INSERT INTO ${table} VALUES (999999, 1, 'plain', 1.00, UTC_TIMESTAMP(3))`);
      await src.exec(`UPDATE ${table} SET note = 'héllo 😀', amount = 123456789012.34 WHERE id = 999999`);
      await src.exec(`DELETE FROM ${table} WHERE id = 2`);
      const diff = await waitConverged(src, table, db, collection);
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

test('MariaDB CDC_ONLY on Kafka: "now" is fixed when CDC reports running — a pause right then, writes meanwhile, and resume delivers them all', { timeout: 300000 }, async () => {
  await withStream({ source: 'mysql', transport: 'kafka', mode: 'CDC_ONLY' }, async ({ d, streamId, table, collection, src, db }) => {
    await start(d, streamId);
    await cdcRunning(d, streamId);
    // Paused before the first batch could be saved: the position begin() recorded holds.
    assert.equal((await d.api(`/api/v1/streams/${streamId}/pause`, { method: 'POST' })).body.cdcStatus, 'PAUSED');
    await src.exec(`INSERT INTO ${table} VALUES (1, 1, 'while paused', 1.00, UTC_TIMESTAMP(3))`);
    const values = Array.from({ length: 1000 }, (_, i) => `(${1000 + i}, 0, 'while paused', 0, UTC_TIMESTAMP(3))`).join(',');
    await src.exec(`INSERT INTO ${table} VALUES ${values}`);
    await new Promise((r) => setTimeout(r, 1500));
    assert.equal(await db.collection(collection).countDocuments({}), 0, 'nothing is written while paused');
    assert.equal((await d.api(`/api/v1/streams/${streamId}/resume`, { method: 'POST' })).status, 202);
    const diff = await waitConverged(src, table, db, collection);
    assert.equal(diff.sinkCount, 1001);
  });
});
