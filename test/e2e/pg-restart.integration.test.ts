/**
 * Self-healing (issue 16): the stack's PostgreSQL stopped and started again under a
 * running stream. The stream must heal by itself (its run restarts from the last saved
 * position with backoff, the stream staying RUNNING) and MongoDB must end equal to
 * PostgreSQL row by row:
 *   - under CDC with writes running, on the direct transport and on Kafka;
 *   - in the middle of the snapshot;
 *   - with the daemon SIGKILLed while the stream waits in its retry back-off.
 *
 * These stop the stack's PostgreSQL: run them on a stack of your own
 * (SLUICE_STACK_PORT_OFFSET / SLUICE_STACK_DIR, test/stack/README.md).
 * Knobs: SLUICE_E2E_HEAL_ROWS (rows before a CDC test, 2000), SLUICE_E2E_HEAL_SNAPSHOT_ROWS
 * (rows of the snapshot test, 30000), SLUICE_E2E_PG_DOWN_MS (how long PostgreSQL is down, 15000).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Client } from 'pg';
import { cdcRunning, createOrders, createStream, E2E_ADMIN_KEY, knob, mongoDb, pgClient, stackServer, start, streamStatus, transportEnv, uid, waitConverged, withStream, writeContinuously, type StreamFixture } from '../helpers/pipeline';
import { startDaemon, tmpDataDir, type RunningDaemon } from '../helpers/daemon';
import { waitFor } from '../helpers/wait-for';

const ROWS = knob('SLUICE_E2E_HEAL_ROWS', 2000);
const SNAPSHOT_ROWS = knob('SLUICE_E2E_HEAL_SNAPSHOT_ROWS', 30000);
const DOWN_MS = knob('SLUICE_E2E_PG_DOWN_MS', 15000);
/** A short cap keeps the test's wait after PostgreSQL is back short; the policy is the default otherwise (retry for ever). */
const RETRY = { retry: { maxBackoffMs: 4000 } };
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

interface Seen {
  retrying: boolean;
  failed: unknown;
}

/** Polls the stream while PostgreSQL is down: it must never be FAILED, and it must say it is retrying. */
async function watchWhile(d: RunningDaemon, streamId: string, ms: number, seen: Seen): Promise<void> {
  const until = Date.now() + ms;
  while (Date.now() < until) {
    const r = await d.api(`/api/v1/streams/${streamId}`);
    if (r.status === 200) {
      if (r.body.state === 'FAILED') seen.failed ??= r.body.failureError;
      if (r.body.retrying) {
        seen.retrying = true;
        assert.equal(r.body.status, 'RUNNING');
        assert.ok(['SOURCE_UNREACHABLE', 'SOURCE_READ_FAILED', 'STREAM_RUN_FAILED'].includes(r.body.retrying.lastError.code), JSON.stringify(r.body.retrying));
        assert.ok(r.body.retrying.attempt >= 1 && Date.parse(r.body.retrying.nextAttemptAt) > 0);
      }
    }
    await sleep(250);
  }
}

/** The test's own connections die with the server: an 'error' event unheard would end the test process. */
const survive = (pg: Client | undefined): void => void pg?.on('error', () => undefined);

/** PostgreSQL down for `ms` (the stream watched meanwhile), then up again. */
async function postgresDown(d: RunningDaemon, streamId: string, ms: number): Promise<Seen> {
  const seen: Seen = { retrying: false, failed: undefined };
  stackServer('down', 'postgres');
  try {
    await watchWhile(d, streamId, ms, seen);
  } finally {
    stackServer('up', 'postgres');
  }
  return seen;
}

/** Writes for `ms` on a connection of its own, from the next free id. */
async function writeFor(table: string, ms: number): Promise<number> {
  const pg = await pgClient();
  survive(pg);
  try {
    const { rows } = await pg.query(`SELECT coalesce(max(id), 0) + 1 AS next FROM ${table}`);
    const writes = writeContinuously(pg, table, Number(rows[0].next));
    await sleep(ms);
    return await writes.stop();
  } finally {
    await pg.end().catch(() => undefined);
  }
}

/** Ends equal to PostgreSQL (compared on a fresh connection: the old ones died with the server), still streaming, no retry pending. */
async function healed(d: RunningDaemon, streamId: string, table: string, collection: string, db: Parameters<typeof waitConverged>[2]): Promise<void> {
  const pg: Client = await pgClient();
  survive(pg);
  try {
    const diff = await waitConverged(pg, table, db, collection, 240000);
    assert.equal(diff.sinkCount, diff.sourceCount);
  } finally {
    await pg.end().catch(() => undefined);
  }
  const s = (await d.api(`/api/v1/streams/${streamId}`)).body;
  assert.equal(s.cdcStatus, 'RUNNING', JSON.stringify(s.failureError));
  assert.equal(s.state, 'STREAMING');
  assert.equal(s.retrying, null, 'the retry status is cleared once the run gets going again');
  assert.equal(s.failureError, null);
  const warnings = (s.jobUpdates as Array<{ level: string; errorCode?: string }>).filter((u) => u.level === 'WARNING');
  // One per restart, with the failure's code (a dropped connection node-postgres reports without a code is STREAM_RUN_FAILED).
  assert.ok(warnings.length >= 1 && warnings.every((u) => ['SOURCE_UNREACHABLE', 'SOURCE_READ_FAILED', 'STREAM_RUN_FAILED'].includes(u.errorCode ?? '')), JSON.stringify(warnings));
  const metrics = await (await fetch(`${d.base}/metrics`)).text();
  const restarts = new RegExp(`sluice_stream_restarts_total\\{stream="${streamId}"\\} (\\d+)`).exec(metrics);
  assert.ok(restarts && Number(restarts[1]) >= 1, `sluice_stream_restarts_total counts the restarts (${restarts?.[0] ?? 'absent'})`);
}

async function underCdc(transport: 'direct' | 'kafka'): Promise<void> {
  await withStream({ transport, rows: ROWS, options: RETRY }, async (f: StreamFixture) => {
    survive(f.pg);
    await start(f.d, f.streamId);
    await cdcRunning(f.d, f.streamId);
    // Writes running when the server stops (the writer dies with it), and again after it is back.
    const writes = writeContinuously(f.pg, f.table, ROWS + 1);
    await sleep(1500);
    const seen = await postgresDown(f.d, f.streamId, DOWN_MS);
    const before = await writes.stop().catch(() => -1);
    assert.notEqual(before, 0);
    // The stack's FerretDB keeps its data in this PostgreSQL: a write in flight waits
    // (retried by the sink) and the source's dead connection may show only once it is
    // through, so the run's restart can come after the server is back. Watch on.
    let watching = true;
    const watcher = (async () => {
      while (watching) await watchWhile(f.d, f.streamId, 500, seen);
    })();
    try {
      assert.ok((await writeFor(f.table, 3000)) > 0, 'writes after the restart');
      await healed(f.d, f.streamId, f.table, f.collection, f.db);
    } finally {
      watching = false;
      await watcher;
    }
    assert.equal(seen.failed, undefined, `the stream failed: ${JSON.stringify(seen.failed)}`);
    assert.ok(seen.retrying, 'the stream said it was retrying');
  });
}

test(`PostgreSQL down ${DOWN_MS / 1000} s under CDC with writes running (direct): the stream heals by itself, nothing lost`, { timeout: 600000 }, async () => {
  await underCdc('direct');
});

test(`PostgreSQL down ${DOWN_MS / 1000} s under CDC with writes running (Kafka): the stream heals by itself, nothing lost`, { timeout: 600000 }, async () => {
  await underCdc('kafka');
});

test('PostgreSQL restarted in the middle of the snapshot: the snapshot resumes by itself and MongoDB ends equal', { timeout: 600000 }, async () => {
  await withStream({ transport: 'direct', rows: SNAPSHOT_ROWS, options: { ...RETRY, snapshotChunkSize: 500 } }, async (f: StreamFixture) => {
    survive(f.pg);
    await start(f.d, f.streamId);
    await waitFor(async () => (await streamStatus(f.d, f.streamId)).state === 'SNAPSHOTTING', { timeoutMs: 60000, intervalMs: 50, message: 'snapshotting' });
    await sleep(500);
    const mid = await streamStatus(f.d, f.streamId);
    assert.equal(mid.state, 'SNAPSHOTTING', `the snapshot ended before PostgreSQL stopped; raise SLUICE_E2E_HEAL_SNAPSHOT_ROWS (${mid.statistics.snapshotRows} rows)`);
    const seen = await postgresDown(f.d, f.streamId, Math.min(DOWN_MS, 5000));
    // The stack's FerretDB keeps its data in this PostgreSQL: while it is down the sink's
    // writes wait (retried), and the source's dead connection shows once they succeed.
    // So the restart may come after the server is back: watch until the snapshot is done.
    const deadline = Date.now() + 240000;
    while ((await streamStatus(f.d, f.streamId)).cdcStatus !== 'RUNNING') {
      assert.ok(Date.now() < deadline, 'CDC running within 240 s of PostgreSQL coming back');
      await watchWhile(f.d, f.streamId, 1000, seen);
    }
    assert.equal(seen.failed, undefined, `the stream failed: ${JSON.stringify(seen.failed)}`);
    assert.ok(seen.retrying, 'the stream said it was retrying');
    assert.ok((await writeFor(f.table, 2000)) > 0);
    await healed(f.d, f.streamId, f.table, f.collection, f.db);
  });
});

test('the daemon SIGKILLed while the stream waits in its retry back-off: restarted, it resumes, heals and ends equal', { timeout: 600000 }, async () => {
  const name = `heal_kill_${uid()}`;
  const table = `public.${name}`;
  const setup = await pgClient();
  await createOrders(setup, table, ROWS);
  await setup.end();
  const { client, db } = await mongoDb(name);
  const dataDir = tmpDataDir();
  let d = await startDaemon(dataDir, transportEnv('direct'), { adminKey: E2E_ADMIN_KEY });
  let streamId: string | undefined;
  try {
    ({ streamId } = await createStream(d, { name, mongoDb: name, tables: [table], options: { heartbeatIntervalMs: 1000, ...RETRY } }));
    await start(d, streamId);
    await cdcRunning(d, streamId);
    stackServer('down', 'postgres');
    try {
      const first = d;
      const id = streamId;
      await waitFor(async () => (await first.api(`/api/v1/streams/${id}`)).body.retrying, { timeoutMs: 60000, intervalMs: 100, message: 'in retry back-off' });
      first.proc.kill('SIGKILL');
      await first.exited;
      d = await startDaemon(dataDir, transportEnv('direct'), { adminKey: E2E_ADMIN_KEY });
      // The new daemon resumes the stream (persisted as running) and, PostgreSQL still down, retries.
      const second = d;
      const r = await waitFor(async () => (await second.api(`/api/v1/streams/${id}`)).body.retrying, { timeoutMs: 60000, intervalMs: 100, message: 'retrying after the daemon restart' });
      assert.ok(r.attempt >= 1);
      assert.equal((await streamStatus(second, id)).status, 'RUNNING');
      await sleep(2000);
    } finally {
      stackServer('up', 'postgres');
    }
    await cdcRunning(d, streamId);
    assert.ok((await writeFor(table, 3000)) > 0);
    await healed(d, streamId, table, name, db);
  } finally {
    if (streamId) {
      await d.api(`/api/v1/streams/${streamId}/stop`, { method: 'POST' }).catch(() => undefined);
      await d.api(`/api/v1/streams/${streamId}`, { method: 'DELETE' }).catch(() => undefined);
    }
    await d.stop('SIGTERM');
    await db.dropDatabase().catch(() => undefined);
    await client.close();
    const pg = await pgClient();
    await pg.query(`DROP TABLE IF EXISTS ${table}`).catch(() => undefined);
    await pg.end();
  }
});
