/**
 * Self-healing (issue 16): the data dir's filesystem fills up under a running
 * PostgreSQL CDC stream with writes going on. SQLite cannot write the state store: the
 * stream must stop at its last saved position with STATE_STORE_WRITE_FAILED (retriable:
 * it stays RUNNING, retrying), /readyz must be unready naming the reason, and nothing
 * unsaved may be acknowledged to PostgreSQL. Once space is freed it heals by itself and
 * MongoDB ends equal to PostgreSQL row by row.
 *
 * The filesystem is a real one: a small tmpfs mounted for the test (test/helpers/small-fs.ts),
 * filled to the last byte. Needs root and permission to mount; skipped, saying why, otherwise.
 * Knob: SLUICE_E2E_DISK_FULL_MS (how long the disk stays full, 8000).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import type { Client } from 'pg';
import { cdcRunning, knob, pgClient, start, streamStatus, waitConverged, withStream, writeContinuously, type StreamFixture } from '../helpers/pipeline';
import type { RunningDaemon } from '../helpers/daemon';
import Database from 'better-sqlite3';
import { mountSmallFs, type SmallFs } from '../helpers/small-fs';
import { STORE_FILE } from '../../src/store/db';
import { slotName } from '../../connectors/postgres/naming';
import { waitFor } from '../helpers/wait-for';

const FULL_MS = knob('SLUICE_E2E_DISK_FULL_MS', 8000);
const ROWS = 1000;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function readyz(d: RunningDaemon): Promise<{ status: number; body: any }> {
  const r = await fetch(`${d.base}/readyz`);
  return { status: r.status, body: await r.json() };
}

const lsn = (text: string): bigint => {
  const [hi, lo] = text.split('/');
  return (BigInt(`0x${hi}`) << 32n) + BigInt(`0x${lo}`);
};

/** The confirmed position of the stream's slot, as PostgreSQL holds it. */
async function slotConfirmed(streamId: string): Promise<bigint> {
  const pg = await pgClient();
  try {
    const { rows } = await pg.query('SELECT confirmed_flush_lsn::text AS lsn FROM pg_replication_slots WHERE slot_name = $1', [slotName(streamId)]);
    assert.equal(rows.length, 1, `one slot for ${streamId}`);
    return lsn(String(rows[0].lsn));
  } finally {
    await pg.end();
  }
}

/** The CDC position the daemon's store holds (read beside the daemon, read-only). */
function savedPosition(dataDir: string, streamId: string): bigint {
  const db = new Database(path.join(dataDir, STORE_FILE), { readonly: true, fileMustExist: true });
  try {
    const row = db.prepare("SELECT position FROM positions WHERE stream_id = ? AND phase = 'cdc'").get(streamId) as { position: string } | undefined;
    assert.ok(row, 'a CDC position is saved');
    return lsn((JSON.parse(row.position) as { lsn: string }).lsn);
  } finally {
    db.close();
  }
}

/**
 * Fills the disk with writes running and checks the stream while it is full: retrying with
 * STATE_STORE_WRITE_FAILED, /readyz unready with the reason, the slot never confirmed past
 * the saved position. Then frees the space and writes on until /readyz is ready again.
 */
async function fullAndFreed(f: StreamFixture, small: SmallFs, writer: Client, dataDir: string): Promise<void> {
  const writes = writeContinuously(writer, f.table, ROWS + 1);
  let written = 0;
  try {
    await sleep(1000);
    small.fill();
    const s = await waitFor(
      async () => {
        const r = (await f.d.api(`/api/v1/streams/${f.streamId}`)).body;
        return r.retrying?.lastError?.code === 'STATE_STORE_WRITE_FAILED' ? r : undefined;
      },
      { timeoutMs: 60000, intervalMs: 200, message: 'the stream retrying with STATE_STORE_WRITE_FAILED once the disk is full' },
    );
    assert.equal(s.status, 'RUNNING');
    assert.match(s.retrying.lastError.message, /cannot be written \(SQLITE_(FULL|IOERR)/);
    assert.match(s.retrying.lastError.suggestion, /Free space/);
    // While full: unready with the reason, every time asked; the slot never confirmed past what the store holds.
    const until = Date.now() + FULL_MS;
    while (Date.now() < until) {
      const r = await readyz(f.d);
      assert.equal(r.status, 503, JSON.stringify(r.body));
      assert.equal(r.body.error.code, 'NOT_READY');
      assert.equal(r.body.error.detail.checks.storeWritable, false);
      assert.equal(r.body.error.detail.reason.code, 'STATE_STORE_WRITE_FAILED');
      assert.match(r.body.error.message, /disk is full or the data dir is read-only/);
      const st = await streamStatus(f.d, f.streamId);
      assert.equal(st.status, 'RUNNING', JSON.stringify(st.failureError));
      await sleep(500);
    }
    // Nothing acknowledged to PostgreSQL that the store does not hold.
    const confirmed = await slotConfirmed(f.streamId);
    const saved = savedPosition(dataDir, f.streamId);
    assert.ok(confirmed <= saved, `the slot is confirmed at ${confirmed.toString(16)}, past the saved position ${saved.toString(16)}`);
  } finally {
    small.free();
    written = await writes.stop().catch(() => -1);
  }
  assert.ok(written > 0, 'writes ran while the disk was full');
  await waitFor(async () => (await readyz(f.d)).status === 200, { timeoutMs: 60000, intervalMs: 250, message: '/readyz ready again once space is freed' });
  const more = writeContinuously(writer, f.table, ROWS + 100000);
  await sleep(2000);
  assert.ok((await more.stop()) > 0);
}

test('the data dir\'s disk fills up under CDC with writes running: the stream stops at its saved position with STATE_STORE_WRITE_FAILED, /readyz says why, and it heals once space is freed, nothing lost', { timeout: 600000 }, async (t) => {
  const small = mountSmallFs(24);
  if ('skip' in small) return t.skip(small.skip);
  try {
    const dataDir = path.join(small.dir, 'data');
    await withStream({ transport: 'direct', rows: ROWS, options: { retry: { maxBackoffMs: 2000 } }, env: { SLUICE_DATA_DIR: dataDir } }, async (f) => {
      await start(f.d, f.streamId);
      await cdcRunning(f.d, f.streamId);
      assert.equal((await readyz(f.d)).status, 200);
      const writer = await pgClient();
      try {
        await fullAndFreed(f, small, writer, dataDir);
      } finally {
        await writer.end().catch(() => undefined);
      }
      await waitConverged(f.pg, f.table, f.db, f.collection, 240000);
      const end = (await f.d.api(`/api/v1/streams/${f.streamId}`)).body;
      assert.equal(end.state, 'STREAMING');
      assert.equal(end.retrying, null, 'healed: no retry pending');
      assert.equal(end.failureError, null);
      const metrics = await (await fetch(`${f.d.base}/metrics`)).text();
      const restarts = new RegExp(`sluice_stream_restarts_total\\{stream="${f.streamId}"\\} (\\d+)`).exec(metrics);
      assert.ok(restarts && Number(restarts[1]) >= 1, `the run restarted (${restarts?.[0] ?? 'no sluice_stream_restarts_total'})`);
    });
  } finally {
    small.unmount();
  }
});
