/**
 * The SIGKILL scenario shared by the PostgreSQL and MariaDB e2e tests: kill the
 * daemon at random moments during the snapshot and during CDC, with writes
 * continuing; after the last restart MongoDB must equal the source exactly.
 */
import assert from 'node:assert/strict';
import { startDaemon, tmpDataDir, type RunningDaemon } from './daemon';
import { createStream, mongoDb, openOrders, streamStatus, transportEnv, uid, waitConverged, type SourceKind } from './pipeline';
import { waitFor } from './wait-for';

const ADMIN = 'e2e-kill-admin-key-0123456789';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const jitter = (lo: number, hi: number) => lo + Math.floor(Math.random() * (hi - lo));

export interface KillCycleResult {
  snapshotKills: number;
  cdcKills: number;
  writes: number;
  rows: number;
}

/**
 * `rows` rows before the snapshot, `kills` SIGKILLs landing in SNAPSHOTTING (each
 * checked just before the kill), `kills` more while CDC runs, then an exact comparison.
 */
export async function killCycles(source: SourceKind, transport: 'direct' | 'kafka', rows: number, kills: number): Promise<KillCycleResult> {
  const id = uid();
  const name = `kill_${transport}_${id}`;
  const src = await openOrders(source);
  const writer = await openOrders(source);
  const table = src.table(name);
  const { client, db } = await mongoDb(name);
  const dataDir = tmpDataDir();
  const env = transportEnv(transport);
  let d: RunningDaemon | undefined;
  let streamId: string | undefined;
  let writes: ReturnType<typeof writer.writeContinuously> | undefined;
  try {
    await src.create(table, rows);
    d = await startDaemon(dataDir, env, { adminKey: ADMIN });
    const ids = await createStream(d, {
      name: `kill-${transport}-${id}`,
      mongoDb: name,
      tables: [table],
      transport,
      sourceKind: source,
      // Small chunks keep the snapshot long enough to be killed inside it.
      options: { snapshotChunkSize: 500, heartbeatIntervalMs: 1000 },
    });
    streamId = ids.streamId;
    assert.equal((await d.api(`/api/v1/streams/${ids.streamId}/start`, { method: 'POST' })).status, 202);
    writes = writer.writeContinuously(table, rows + 1);

    // Kills during the snapshot: each restart must make progress, then dies again.
    let snapshotKills = 0;
    for (let i = 0; i < kills; i++) {
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
    assert.equal(snapshotKills, kills, `the snapshot ended after ${snapshotKills} kills; raise SLUICE_E2E_ROWS`);

    // Kills during CDC.
    const cdc: RunningDaemon = d;
    await waitFor(async () => (await streamStatus(cdc, ids.streamId)).cdcStatus === 'RUNNING', { timeoutMs: 300000, intervalMs: 200, message: 'CDC running' });
    let cdcKills = 0;
    for (let i = 0; i < kills; i++) {
      const running: RunningDaemon = d;
      await waitFor(async () => (await streamStatus(running, ids.streamId)).cdcStatus === 'RUNNING', { timeoutMs: 60000, intervalMs: 100 });
      await sleep(jitter(300, 1500));
      running.proc.kill('SIGKILL');
      await running.exited;
      cdcKills++;
      d = await startDaemon(dataDir, env, { adminKey: ADMIN });
    }

    const written = await writes.stop();
    assert.ok(written > 0);
    const diff = await waitConverged(src, table, db, name, 180000);
    assert.equal(diff.sinkCount, diff.sourceCount);
    const final = await streamStatus(d, ids.streamId);
    assert.equal(final.cdcStatus, 'RUNNING', JSON.stringify(final.failureError));
    return { snapshotKills, cdcKills, writes: written, rows: diff.sourceCount };
  } finally {
    await writes?.stop().catch(() => undefined);
    if (d && streamId) {
      // Deleting the stream drops a PostgreSQL replication slot, so the stack's slots don't run out.
      await d.api(`/api/v1/streams/${streamId}/stop`, { method: 'POST' }).catch(() => undefined);
      await d.api(`/api/v1/streams/${streamId}`, { method: 'DELETE' }).catch(() => undefined);
    }
    await d?.stop('SIGTERM');
    await db.dropDatabase().catch(() => undefined);
    await client.close();
    await src.exec(`DROP TABLE IF EXISTS ${table}`).catch(() => undefined);
    await src.end();
    await writer.end();
  }
}
