/**
 * A one-million-row transaction through the daemon: PostgreSQL decodes it only at
 * COMMIT and sends it in one go, and sluice must stream it to MongoDB without holding
 * it whole. The daemon's RSS is sampled throughout against a generous bound; the count
 * must match and a sample of rows must match field by field.
 *
 * Knobs: SLUICE_E2E_BIG_TXN_ROWS (1000000), SLUICE_E2E_BIG_TXN_RSS_MB (500).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { cdcRunning, compareOrdersSample, knob, rssBytes, start, withStream } from '../helpers/pipeline';
import { describe, isEqual } from '../helpers/compare';
import { waitFor } from '../helpers/wait-for';

const BIG_TXN_ROWS = knob('SLUICE_E2E_BIG_TXN_ROWS', 1000000);
const BIG_TXN_RSS = knob('SLUICE_E2E_BIG_TXN_RSS_MB', 500) * 1024 * 1024;

test(`a ${BIG_TXN_ROWS}-row transaction streams through with memory bounded`, { timeout: 1800000 }, async () => {
  await withStream({ rows: 0 }, async ({ d, streamId, table, collection, pg, db }) => {
    await start(d, streamId);
    await cdcRunning(d, streamId);
    await pg.query(`INSERT INTO ${table} SELECT g, g % 10, 'big', 1.00, date_trunc('milliseconds', now()) FROM generate_series(1, $1) g`, [BIG_TXN_ROWS]);
    let peak = 0;
    await waitFor(
      async () => {
        peak = Math.max(peak, rssBytes(d.proc.pid as number));
        return (await db.collection(collection).estimatedDocumentCount()) >= BIG_TXN_ROWS;
      },
      { timeoutMs: 1500000, intervalMs: 1000, message: 'all rows of the big transaction in MongoDB' },
    );
    assert.ok(peak < BIG_TXN_RSS, `RSS peaked at ${Math.round(peak / 1048576)} MB (limit ${BIG_TXN_RSS / 1048576} MB)`);
    console.log(`# ${BIG_TXN_ROWS}-row transaction: RSS peak ${Math.round(peak / 1048576)} MB`);
    assert.equal(await db.collection(collection).countDocuments(), BIG_TXN_ROWS);
    // Reading a million documents back whole costs minutes on FerretDB: every 997th row
    // (and both ends) is compared field by field instead; the count above covers the rest.
    const sample = [1, BIG_TXN_ROWS];
    for (let id = 997; id < BIG_TXN_ROWS; id += 997) sample.push(id);
    const diff = await compareOrdersSample(pg, table, db, collection, sample);
    assert.ok(isEqual(diff), describe(diff));
  });
});
