/**
 * Breaking the servers around a running stream: Kafka stopped and restarted,
 * the MongoDB server (FerretDB) down for 60 s while changes keep coming (issue 16), and the daemon's
 * memory while its sink is down (back-pressure, not buffering). Each ends with
 * MongoDB equal to PostgreSQL, row by row.
 *
 * Knobs: SLUICE_E2E_SINK_DOWN_MS (60000), SLUICE_E2E_RSS_LIMIT_MB (400).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { knob, rssBytes, stackServer } from '../helpers/pipeline';
import { serverDown, writesThroughOutage } from '../helpers/outage';

const SINK_DOWN_MS = knob('SLUICE_E2E_SINK_DOWN_MS', 60000);
const RSS_LIMIT = knob('SLUICE_E2E_RSS_LIMIT_MB', 400) * 1024 * 1024;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

test('a Kafka restart mid-stream loses nothing: the stream keeps running and converges', { timeout: 600000 }, async () => {
  await writesThroughOutage('postgresql', 'kafka', () =>
    serverDown(
      () => stackServer('down', 'kafka'),
      () => stackServer('up', 'kafka'),
    ),
  );
});

test(`the MongoDB server down for ${SINK_DOWN_MS / 1000} s delays writes, loses none, and memory stays bounded`, { timeout: 600000 }, async () => {
  let peak = 0;
  const written = await writesThroughOutage('postgresql', 'direct', async (f) => {
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
