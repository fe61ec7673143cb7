/**
 * The guarantee users trust us for: kill the daemon with SIGKILL at random
 * moments, during the snapshot and during CDC, with writes continuing; after a
 * restart MongoDB equals PostgreSQL exactly — nothing missing, nothing extra,
 * every value the same. Once through the direct transport, once through Kafka.
 *
 * Knobs: SLUICE_E2E_ROWS (rows before the snapshot), SLUICE_E2E_KILLS (kills per phase).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { startDaemon, tmpDataDir, type RunningDaemon } from '../helpers/daemon';
import {
  createOrders,
  createStream,
  knob,
  mongoDb,
  pgClient,
  streamStatus,
  uid,
  waitConverged,
  writeContinuously,
} from '../helpers/pipeline';
import { stackUrls } from '../helpers/stack';
import { waitFor } from '../../src/runtime/testing/wait-for';

const ROWS = knob('SLUICE_E2E_ROWS', 30000);
const KILLS = knob('SLUICE_E2E_KILLS', 5);
const ADMIN = 'e2e-kill-admin-key-0123456789';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const jitter = (lo: number, hi: number) => lo + Math.floor(Math.random() * (hi - lo));

async function killCycles(transport: 'direct' | 'kafka'): Promise<void> {
  const id = uid();
  const table = `public.kill_${transport}_${id}`;
  const dbName = `kill_${transport}_${id}`;
  const pg = await pgClient();
  const writer = await pgClient();
  const { client, db } = await mongoDb(dbName);
  const dataDir = tmpDataDir();
  const env = transport === 'kafka' ? { SLUICE_KAFKA_BROKERS: stackUrls().kafka } : {};
  let d: RunningDaemon | undefined;
  let streamId: string | undefined;
  let writes: ReturnType<typeof writeContinuously> | undefined;
  try {
    await createOrders(pg, table, ROWS);
    d = await startDaemon(dataDir, env, { adminKey: ADMIN });
    const ids = await createStream(d, {
      name: `kill-${transport}-${id}`,
      mongoDb: dbName,
      tables: [table],
      transport,
      // Small chunks keep the snapshot long enough to be killed inside it.
      options: { snapshotChunkSize: 500, heartbeatIntervalMs: 1000 },
    });
    streamId = ids.streamId;
    assert.equal((await d.api(`/api/v1/streams/${ids.streamId}/start`, { method: 'POST' })).status, 202);
    writes = writeContinuously(writer, table, ROWS + 1);

    // Kills during the snapshot: each restart must make progress, then dies again.
    let snapshotKills = 0;
    for (let i = 0; i < KILLS; i++) {
      const running: RunningDaemon = d;
      // Past STARTING (the Kafka transport's producer and consumer group take a moment).
      const state = await waitFor(
        async () => {
          const s = (await streamStatus(running, ids.streamId)).state;
          return s === 'STARTING' ? false : s;
        },
        { timeoutMs: 60000, intervalMs: 50 },
      );
      if (state !== 'SNAPSHOTTING') break;
      await sleep(jitter(200, 900));
      if ((await streamStatus(running, ids.streamId)).state !== 'SNAPSHOTTING') break;
      running.proc.kill('SIGKILL');
      await running.exited;
      snapshotKills++;
      d = await startDaemon(dataDir, env, { adminKey: ADMIN });
    }
    assert.equal(snapshotKills, KILLS, `the snapshot ended after ${snapshotKills} kills; raise SLUICE_E2E_ROWS`);

    // Kills during CDC.
    const cdc: RunningDaemon = d;
    await waitFor(async () => (await streamStatus(cdc, ids.streamId)).cdcStatus === 'RUNNING', { timeoutMs: 300000, intervalMs: 200, message: 'CDC running' });
    for (let i = 0; i < KILLS; i++) {
      const running: RunningDaemon = d;
      await waitFor(async () => (await streamStatus(running, ids.streamId)).cdcStatus === 'RUNNING', { timeoutMs: 60000, intervalMs: 100 });
      await sleep(jitter(300, 1500));
      running.proc.kill('SIGKILL');
      await running.exited;
      d = await startDaemon(dataDir, env, { adminKey: ADMIN });
    }

    const written = await writes.stop();
    assert.ok(written > 0);
    const diff = await waitConverged(pg, table, db, table.split('.')[1] as string, 180000);
    assert.equal(diff.sinkCount, diff.sourceCount);
    const final = await streamStatus(d, ids.streamId);
    assert.equal(final.cdcStatus, 'RUNNING', JSON.stringify(final.failureError));
  } finally {
    await writes?.stop().catch(() => undefined);
    if (d && streamId) {
      // Deleting the stream drops its replication slot, so the stack's slots don't run out.
      await d.api(`/api/v1/streams/${streamId}/stop`, { method: 'POST' }).catch(() => undefined);
      await d.api(`/api/v1/streams/${streamId}`, { method: 'DELETE' }).catch(() => undefined);
    }
    await d?.stop('SIGTERM');
    await db.dropDatabase().catch(() => undefined);
    await client.close();
    await pg.query(`DROP TABLE IF EXISTS ${table}`).catch(() => undefined);
    await pg.end();
    await writer.end();
  }
}

test('no row lost or doubled when the daemon is killed mid-snapshot and mid-CDC (direct transport)', { timeout: 900000 }, async () => {
  await killCycles('direct');
});

test('no row lost or doubled when the daemon is killed mid-snapshot and mid-CDC (Kafka transport)', { timeout: 900000 }, async () => {
  await killCycles('kafka');
});
