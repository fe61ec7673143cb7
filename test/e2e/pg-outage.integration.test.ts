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
import { startDaemon, tmpDataDir, type RunningDaemon } from '../helpers/daemon';
import {
  createOrders,
  createStream,
  knob,
  mongoDb,
  pgClient,
  rssBytes,
  stackServer,
  streamStatus,
  uid,
  waitConverged,
  writeContinuously,
} from '../helpers/pipeline';
import { stackUrls } from '../helpers/stack';
import { waitFor } from '../../src/runtime/testing/wait-for';

const SINK_DOWN_MS = knob('SLUICE_E2E_SINK_DOWN_MS', 30000);
const RSS_LIMIT = knob('SLUICE_E2E_RSS_LIMIT_MB', 400) * 1024 * 1024;
const ADMIN = 'e2e-outage-admin-key-0123456789';
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

interface Fixture {
  d: RunningDaemon;
  streamId: string;
  table: string;
  collection: string;
  cleanup: () => Promise<void>;
  pg: Awaited<ReturnType<typeof pgClient>>;
  writer: Awaited<ReturnType<typeof pgClient>>;
  db: Awaited<ReturnType<typeof mongoDb>>['db'];
}

async function runningStream(transport: 'direct' | 'kafka', rows: number): Promise<Fixture> {
  const id = uid();
  const collection = `outage_${transport}_${id}`;
  const table = `public.${collection}`;
  const pg = await pgClient();
  const writer = await pgClient();
  const mongo = await mongoDb(collection);
  await createOrders(pg, table, rows);
  const env = transport === 'kafka' ? { SLUICE_KAFKA_BROKERS: stackUrls().kafka } : {};
  const d = await startDaemon(tmpDataDir(), env, { adminKey: ADMIN });
  const ids = await createStream(d, { name: collection, mongoDb: collection, tables: [table], transport, options: { heartbeatIntervalMs: 1000 } });
  assert.equal((await d.api(`/api/v1/streams/${ids.streamId}/start`, { method: 'POST' })).status, 202);
  await waitFor(async () => (await streamStatus(d, ids.streamId)).cdcStatus === 'RUNNING', { timeoutMs: 120000, intervalMs: 200, message: 'CDC running' });
  return {
    d,
    streamId: ids.streamId,
    table,
    collection,
    pg,
    writer,
    db: mongo.db,
    cleanup: async () => {
      await d.api(`/api/v1/streams/${ids.streamId}/stop`, { method: 'POST' }).catch(() => undefined);
      await d.api(`/api/v1/streams/${ids.streamId}`, { method: 'DELETE' }).catch(() => undefined);
      await d.stop('SIGTERM');
      await pg.query(`DROP TABLE IF EXISTS ${table}`).catch(() => undefined);
      await mongo.client.close();
      await pg.end();
      await writer.end();
    },
  };
}

test('a Kafka restart mid-stream loses nothing: the stream keeps running and converges', { timeout: 600000 }, async () => {
  const f = await runningStream('kafka', 2000);
  try {
    const writes = writeContinuously(f.writer, f.table, 100000);
    await sleep(1000);
    stackServer('down', 'kafka');
    await sleep(5000);
    stackServer('up', 'kafka');
    await sleep(2000);
    await writes.stop();
    await waitConverged(f.pg, f.table, f.db, f.collection, 240000);
    const s = await streamStatus(f.d, f.streamId);
    assert.equal(s.cdcStatus, 'RUNNING', JSON.stringify(s.failureError));
  } finally {
    stackServer('up', 'kafka');
    await f.cleanup();
  }
});

test(`the MongoDB server down for ${SINK_DOWN_MS / 1000} s delays writes, loses none, and memory stays bounded`, { timeout: 600000 }, async () => {
  const f = await runningStream('direct', 2000);
  try {
    const writes = writeContinuously(f.writer, f.table, 100000);
    await sleep(500);
    stackServer('down', 'ferretdb');
    const until = Date.now() + SINK_DOWN_MS;
    let peak = 0;
    while (Date.now() < until) {
      peak = Math.max(peak, rssBytes(f.d.proc.pid as number));
      await sleep(500);
    }
    stackServer('up', 'ferretdb');
    const written = await writes.stop();
    assert.ok(written > 100, `only ${written} writes during the outage`);
    assert.ok(peak < RSS_LIMIT, `RSS reached ${Math.round(peak / 1048576)} MB while the sink was down (limit ${RSS_LIMIT / 1048576} MB)`);
    await waitConverged(f.pg, f.table, f.db, f.collection, 240000);
    const s = await streamStatus(f.d, f.streamId);
    assert.equal(s.cdcStatus, 'RUNNING', JSON.stringify(s.failureError));
  } finally {
    stackServer('up', 'ferretdb');
    await f.cleanup();
  }
});
