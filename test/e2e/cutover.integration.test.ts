/**
 * Cutover end to end (Atlas Live Migration semantics): a CDC stream under writes is
 * cut over right after the writes stop, without waiting for MongoDB to catch up. When
 * the stream reports COMPLETED, every write made before the request must be in MongoDB
 * already (checked at once, no polling), the run is closed as COMPLETED and later
 * writes no longer move MongoDB.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { cdcRunning, compareOrders, start, streamStatus, withStream } from '../helpers/pipeline';
import { describe as describeDiff, isEqual } from '../helpers/compare';
import { waitFor } from '../helpers/wait-for';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

const cases = [
  { source: 'postgresql', transport: 'direct' },
  { source: 'postgresql', transport: 'kafka' },
  { source: 'mysql', transport: 'direct' },
] as const;

for (const { source, transport } of cases) {
  test(`cutover drains every write made before it into MongoDB, then the stream is COMPLETED (${source}, ${transport})`, async () => {
    await withStream({ source, transport, rows: 200 }, async ({ d, streamId, table, collection, src, db }) => {
      // Cutover is refused before the stream streams.
      const early = await d.api(`/api/v1/streams/${streamId}/cutover`, { method: 'POST' });
      assert.equal(early.status, 409);
      assert.equal(early.body.error.code, 'STREAM_INVALID_TRANSITION');

      await start(d, streamId);
      await cdcRunning(d, streamId);
      const writer = src.writeContinuously(table, 10000);
      await sleep(3000);
      const writes = await writer.stop();
      assert.ok(writes > 20, `only ${writes} writes`);
      // And a burst of 3000 rows in one transaction just before the request: MongoDB is behind.
      const now = source === 'mysql' ? 'UTC_TIMESTAMP(3)' : "date_trunc('milliseconds', now())";
      const burst = Array.from({ length: 3000 }, (_, i) => `(${20000 + i}, ${i % 7}, 'burst ${i}', ${(i / 4).toFixed(2)}, ${now})`);
      await src.exec(`INSERT INTO ${table} VALUES ${burst.join(',')}`);

      // At once: MongoDB is (very likely) still behind, the cutover must close the gap.
      const cut = await d.api(`/api/v1/streams/${streamId}/cutover`, { method: 'POST' });
      assert.equal(cut.status, 202, JSON.stringify(cut.body));
      assert.ok(['COMPLETING', 'COMPLETED'].includes(cut.body.cdcStatus), `cdcStatus ${cut.body.cdcStatus}`);
      const again = await d.api(`/api/v1/streams/${streamId}/cutover`, { method: 'POST' });
      assert.equal(again.status, 409, 'a second cutover is refused');

      await waitFor(async () => (await streamStatus(d, streamId)).state === 'COMPLETED', { timeoutMs: 120000, intervalMs: 100, message: 'stream COMPLETED' });
      const done = await streamStatus(d, streamId);
      assert.equal(done.status, 'COMPLETED');
      assert.equal(done.cdcStatus, 'COMPLETED');
      const diff = await compareOrders(src, table, db, collection);
      assert.ok(isEqual(diff), `right after COMPLETED: ${describeDiff(diff)}`);

      const runs = await d.api(`/api/v1/streams/${streamId}/runs`);
      assert.equal(runs.body.items[0].status, 'COMPLETED');
      const logs = await d.api(`/api/v1/streams/${streamId}/logs?limit=100`);
      const messages = (logs.body.items as Array<{ message: string }>).map((u) => u.message).join('\n');
      assert.match(messages, /cutover requested/);
      assert.match(messages, /cutover: draining every change up to source position/);
      assert.match(messages, /cutover: every change up to .* is in MongoDB/);

      // Stopped: a later write stays out of MongoDB.
      await src.exec(`INSERT INTO ${table} VALUES (99999, 1, 'after cutover', 1.00, ${source === 'mysql' ? 'UTC_TIMESTAMP(3)' : 'now()'})`);
      await sleep(1500);
      assert.equal(await db.collection(collection).countDocuments({ _id: 99999 as never }), 0);
      assert.equal((await d.api(`/api/v1/streams/${streamId}/cutover`, { method: 'POST' })).status, 409, 'a COMPLETED stream cannot cut over');
    });
  });
}

test('cutover of a SNAPSHOT stream is refused with STREAM_INVALID_TRANSITION', async () => {
  await withStream({ rows: 5, mode: 'SNAPSHOT' }, async ({ d, streamId }) => {
    await start(d, streamId);
    const r = await d.api(`/api/v1/streams/${streamId}/cutover`, { method: 'POST' });
    assert.equal(r.status, 409);
    assert.equal(r.body.error.code, 'STREAM_INVALID_TRANSITION');
  });
});
