/**
 * Breaking the servers around a running stream: Kafka stopped and restarted,
 * the MongoDB server down for 30 s while changes keep coming, and the daemon's
 * memory while its sink is down (back-pressure, not buffering). Each ends with
 * MongoDB equal to PostgreSQL, row by row.
 *
 * Knobs: SLUICE_E2E_SINK_DOWN_MS (30000), SLUICE_E2E_RSS_LIMIT_MB (400).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  cdcRunning,
  knob,
  pgClient,
  rssBytes,
  stackServer,
  start,
  streamStatus,
  waitConverged,
  withStream,
  writeContinuously,
  type StreamFixture,
} from '../helpers/pipeline';

const SINK_DOWN_MS = knob('SLUICE_E2E_SINK_DOWN_MS', 30000);
const RSS_LIMIT = knob('SLUICE_E2E_RSS_LIMIT_MB', 400) * 1024 * 1024;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * A stream in CDC over 2000 rows with writes running; `outage` breaks a server while
 * they run and brings it back. Then MongoDB must equal the source and the stream must
 * still be running.
 */
async function writesThroughOutage(transport: 'direct' | 'kafka', outage: (f: StreamFixture) => Promise<void>): Promise<number> {
  let written = 0;
  await withStream({ transport, rows: 2000 }, async (f) => {
    await start(f.d, f.streamId);
    await cdcRunning(f.d, f.streamId);
    const writer = await pgClient();
    try {
      const writes = writeContinuously(writer, f.table, 100000);
      try {
        await outage(f);
      } finally {
        written = await writes.stop();
      }
    } finally {
      await writer.end();
    }
    await waitConverged(f.pg, f.table, f.db, f.collection, 240000);
    const s = await streamStatus(f.d, f.streamId);
    assert.equal(s.cdcStatus, 'RUNNING', JSON.stringify(s.failureError));
  });
  return written;
}

test('a Kafka restart mid-stream loses nothing: the stream keeps running and converges', { timeout: 600000 }, async () => {
  await writesThroughOutage('kafka', async () => {
    await sleep(1000);
    stackServer('down', 'kafka');
    try {
      await sleep(5000);
    } finally {
      stackServer('up', 'kafka');
    }
    await sleep(2000);
  });
});

test(`the MongoDB server down for ${SINK_DOWN_MS / 1000} s delays writes, loses none, and memory stays bounded`, { timeout: 600000 }, async () => {
  let peak = 0;
  const written = await writesThroughOutage('direct', async (f) => {
    await sleep(500);
    stackServer('down', 'ferretdb');
    try {
      const until = Date.now() + SINK_DOWN_MS;
      while (Date.now() < until) {
        peak = Math.max(peak, rssBytes(f.d.proc.pid as number));
        await sleep(500);
      }
    } finally {
      stackServer('up', 'ferretdb');
    }
    assert.ok(peak < RSS_LIMIT, `RSS reached ${Math.round(peak / 1048576)} MB while the sink was down (limit ${RSS_LIMIT / 1048576} MB)`);
  });
  assert.ok(written > 100, `only ${written} writes during the outage`);
});
