/**
 * Breaking a server around a running stream, for the outage e2e tests of every
 * source: a stream in CDC over 2000 rows with writes running; `outage` breaks a
 * server while they run and brings it back. Then MongoDB must equal the source and
 * the stream must still be running.
 */
import assert from 'node:assert/strict';
import { cdcRunning, openOrders, start, streamStatus, waitConverged, withStream, type SourceKind, type StreamFixture } from './pipeline';

export async function writesThroughOutage<K extends SourceKind = 'postgresql'>(
  source: K,
  transport: 'direct' | 'kafka',
  outage: (f: StreamFixture<K>) => Promise<void>,
): Promise<number> {
  let written = 0;
  await withStream<K>({ source, transport, rows: 2000 }, async (f) => {
    await start(f.d, f.streamId);
    await cdcRunning(f.d, f.streamId);
    const writer = await openOrders(source);
    try {
      const writes = writer.writeContinuously(f.table, 100000);
      try {
        await outage(f);
      } finally {
        written = await writes.stop();
      }
    } finally {
      await writer.end().catch(() => undefined);
    }
    await waitConverged(f.src, f.table, f.db, f.collection, 240000);
    const s = await streamStatus(f.d, f.streamId);
    assert.equal(s.cdcStatus, 'RUNNING', JSON.stringify(s.failureError));
  });
  return written;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Stops a server of the stack for `downMs`, with writes running before and after. */
export async function serverDown(stop: () => void, restart: () => void, downMs = 5000): Promise<void> {
  await sleep(1000);
  stop();
  try {
    await sleep(downMs);
  } finally {
    restart();
  }
  await sleep(2000);
}
