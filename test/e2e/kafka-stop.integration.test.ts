/**
 * Stopping a Kafka stream that is still starting (topics being created, the producer
 * connecting, the consumer joining its group) is prompt: every step of the start
 * gives way to the run's abort signal, and closing the transport does not wait out
 * a consumer's long poll or a rebalance. The elapsed times are logged; the bound is
 * the operator's expectation (~3 s), not a benchmark. The daemon keeps no connection to
 * the broker from the stopped runs once the transport's ABANDON_AFTER_MS has passed.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { waitFor } from '../helpers/wait-for';
import { cdcRunning, start, streamStatus, waitConverged, withStream } from '../helpers/pipeline';
import { brokerPort, tcpConnectionsTo } from '../helpers/sockets';
import { stackUrls } from '../helpers/stack';
import { ABANDON_AFTER_MS } from '../../src/transport/kafka/index';

/** The brief: a stop during STARTING within ~3 s (measured before the fix: 3.6-5.3 s here, ~27 s reported). */
const STOP_BOUND_MS = 3_000;

test('a Kafka stream stopped while it is starting stops promptly, and starts again afterwards', { timeout: 240_000 }, async () => {
  await withStream({ transport: 'kafka', rows: 20 }, async (f) => {
    for (const delayMs of [0, 300, 1500]) {
      await start(f.d, f.streamId);
      if (delayMs) await new Promise((r) => setTimeout(r, delayMs));
      const t0 = Date.now();
      const stop = await f.d.api(`/api/v1/streams/${f.streamId}/stop`, { method: 'POST' });
      assert.ok(stop.status < 300, JSON.stringify(stop.body));
      const s = await waitFor(
        async () => {
          const st = await streamStatus(f.d, f.streamId);
          return st.state === 'STOPPED' ? st : null;
        },
        { timeoutMs: 60_000, intervalMs: 50, message: 'STOPPED' },
      );
      const elapsed = Date.now() - t0;
      console.log(`stop ${delayMs} ms after start: STOPPED in ${elapsed} ms`);
      assert.equal(s.failureError ?? null, null, 'a stop during start is a stop, not a failure');
      assert.ok(elapsed < STOP_BOUND_MS, `stop took ${elapsed} ms`);
    }
    // Nothing of the interrupted starts stays connected (the daemon runs no other stream).
    const port = brokerPort(stackUrls().kafka);
    const stoppedAt = Date.now();
    await waitFor(() => tcpConnectionsTo(port, f.d.proc.pid!) === 0, {
      timeoutMs: ABANDON_AFTER_MS + 2000,
      intervalMs: 100,
      message: `no connection of the daemon to the broker's port ${port}`,
    });
    console.log(`the daemon holds no connection to the broker ${Date.now() - stoppedAt} ms after the last stop`);
    // The interrupted starts left nothing in the way: a full run delivers every row.
    await start(f.d, f.streamId);
    await cdcRunning(f.d, f.streamId);
    await waitConverged(f.src, f.table, f.db, f.collection);
  });
});
