/**
 * PostgreSQL → MongoDB at size: a 100k-row snapshot while writes continue, and,
 * through Kafka, proof that the slot's confirmed_flush_lsn never passes what Kafka
 * acknowledged. Each ends with MongoDB equal to the source. (The one-million-row
 * transaction is in pg-bigtxn, a file of its own for the runner's per-file timeout.)
 *
 * Knob: SLUICE_E2E_SNAPSHOT_ROWS (100000).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { cdcRunning, knob, pgClient, stackServer, start, waitConverged, withStream, writeContinuously } from '../helpers/pipeline';

const SNAPSHOT_ROWS = knob('SLUICE_E2E_SNAPSHOT_ROWS', 100000);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

test(`a snapshot of ${SNAPSHOT_ROWS} rows with writes running meanwhile ends equal`, { timeout: 900000 }, async () => {
  await withStream({ rows: SNAPSHOT_ROWS }, async ({ d, streamId, table, collection, pg, db }) => {
    const writer = await pgClient();
    try {
      await start(d, streamId);
      const writes = writeContinuously(writer, table, SNAPSHOT_ROWS + 1);
      await cdcRunning(d, streamId);
      await sleep(1000);
      assert.ok((await writes.stop()) > 0);
      const diff = await waitConverged(pg, table, db, collection, 300000);
      assert.ok(diff.sourceCount >= SNAPSHOT_ROWS * 0.8);
    } finally {
      await writer.end();
    }
  });
});

test("through Kafka, the slot's confirmed_flush_lsn never passes what Kafka acknowledged", { timeout: 600000 }, async () => {
  await withStream({ transport: 'kafka', rows: 10 }, async ({ d, streamId, table, collection, pg, db }) => {
    await start(d, streamId);
    await cdcRunning(d, streamId);
    await waitConverged(pg, table, db, collection);
    const slot = async () =>
      (await pg.query(`SELECT confirmed_flush_lsn::text AS lsn, pg_wal_lsn_diff(confirmed_flush_lsn, '0/0')::text AS n FROM pg_replication_slots WHERE slot_name LIKE $1`, [`%${streamId.replace(/-/g, '').toLowerCase()}%`])).rows[0] as { lsn: string; n: string };
    stackServer('down', 'kafka');
    try {
      const before = await slot();
      assert.ok(before, 'the stream has a slot');
      await pg.query(`INSERT INTO ${table} SELECT g, 0, 'kafka down', 0, date_trunc('milliseconds', now()) FROM generate_series(5000, 5999) g`);
      const written = (await pg.query(`SELECT pg_wal_lsn_diff(pg_current_wal_lsn(), '0/0')::text AS n`)).rows[0].n as string;
      await sleep(5000);
      const during = await slot();
      assert.ok(BigInt(during.n) < BigInt(written), `the slot confirmed ${during.lsn} although Kafka was down`);
    } finally {
      stackServer('up', 'kafka');
    }
    await waitConverged(pg, table, db, collection, 240000);
  });
});
