/**
 * PostgreSQL → MongoDB through the daemon, direct transport: operations and
 * pause/resume, each ending with MongoDB equal to the source row by row.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { cdcRunning, start, waitConverged, withStream } from '../helpers/pipeline';
import { waitFor } from '../helpers/wait-for';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

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
    // How far behind, in the status: the change events seen, and the slot's lag in bytes from the lag probe.
    const progressed = async () => {
      const s = (await d.api(`/api/v1/streams/${streamId}`)).body;
      return s.cdcStatistics.totalEventsSeen >= 5 && s.cdcStatistics.lastEventTime !== null && typeof s.lag?.sourceBytes === 'number' && typeof s.lag?.sourceSeconds === 'number' ? s : null;
    };
    await waitFor(progressed, { timeoutMs: 60000, message: 'cdcStatistics and lag in the stream status' });
  });
});

for (const [transport, mode] of [['direct', 'CDC'], ['kafka', 'CDC_ONLY']] as const) {
  test(`pause keeps the slot where it was; resume delivers everything written meanwhile (${transport}, ${mode})`, async () => {
    await withStream({ rows: mode === 'CDC' ? 100 : 0, transport, mode }, async ({ d, streamId, table, collection, pg, db }) => {
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
}

/** Samples of a metric for one stream and phase, from the daemon's /metrics: `le` → value (and `count`). */
async function batchSizes(base: string, streamId: string, phase: string): Promise<Map<string, number>> {
  const text = await (await fetch(`${base}/metrics`)).text();
  const out = new Map<string, number>();
  for (const line of text.split('\n')) {
    const m = /^sluice_batch_size_events_(bucket|count)\{([^}]*)\} (\S+)$/.exec(line);
    if (!m || !m[2]!.includes(`stream="${streamId}"`) || !m[2]!.includes(`phase="${phase}"`)) continue;
    out.set(m[1] === 'count' ? 'count' : /le="([^"]+)"/.exec(m[2]!)![1]!, Number(m[3]));
  }
  return out;
}

test('a stream option reaches the source: maxBatchSize 7 cuts a 100-row transaction into batches of at most 7 (sluice_batch_size_events)', async () => {
  await withStream({ rows: 0, options: { maxBatchSize: 7 } }, async ({ d, streamId, table, collection, pg, db }) => {
    await start(d, streamId);
    await cdcRunning(d, streamId);
    // One statement, one transaction: with the default (1000) it is one batch of 100.
    await pg.query(`INSERT INTO ${table} SELECT g, 0, 'batch', 0, date_trunc('milliseconds', now()) FROM generate_series(1, 100) g`);
    await waitConverged(pg, table, db, collection);
    const sizes = await batchSizes(d.base, streamId, 'cdc');
    const count = sizes.get('count') ?? 0;
    assert.ok(count >= Math.ceil(100 / 7), `at least 15 CDC batches for 100 rows: ${JSON.stringify([...sizes])}`);
    // Buckets are 1, 10, 50, …: every batch fell in le="10" (none of 11 or more).
    assert.equal(sizes.get('10'), count, `every CDC batch holds at most 10 events: ${JSON.stringify([...sizes])}`);
  });
});
