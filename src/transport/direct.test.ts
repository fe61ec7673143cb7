import { test } from 'node:test';
import assert from 'node:assert/strict';
import pino from 'pino';
import { DirectTransport, TransportClosedError } from './direct';
import { createTransport, TransportUnavailableError } from './index';
import type { ConnectorContext, EventBatch, Sink } from '../core';

const ctx: ConnectorContext = { streamId: 's', runId: 'r', logger: pino({ level: 'silent' }), signal: new AbortController().signal };
const batch = (n: number): EventBatch => ({ events: [], position: { n } });

/** A sink whose writes complete only when the test releases them, in any order it likes. */
function manualSink() {
  const started: number[] = [];
  const finished: number[] = [];
  const pending = new Map<number, { resolve: () => void; reject: (e: Error) => void }>();
  const sink: Sink = {
    write(b) {
      const n = Number(b.position!.n);
      started.push(n);
      return new Promise<void>((resolve, reject) => {
        pending.set(n, {
          resolve: () => {
            finished.push(n);
            resolve();
          },
          reject,
        });
      });
    },
    close: async () => undefined,
  };
  return { sink, started, finished, pending };
}

const tick = () => new Promise((r) => setImmediate(r));

test('publish resolves only after the sink acknowledged the write', async () => {
  const m = manualSink();
  const t = new DirectTransport(m.sink);
  let resolved = false;
  const p = t.publish(batch(1), ctx).then(() => (resolved = true));
  for (let i = 0; i < 5; i++) await tick();
  assert.deepEqual(m.started, [1]);
  assert.equal(resolved, false, 'publish resolved before the sink did');
  m.pending.get(1)!.resolve();
  await p;
  assert.equal(resolved, true);
});

test('batches reach the sink strictly in publish order, one at a time', async () => {
  const m = manualSink();
  const t = new DirectTransport(m.sink);
  const done: number[] = [];
  const all = [1, 2, 3].map((n) => t.publish(batch(n), ctx).then(() => done.push(n)));
  for (let i = 0; i < 5; i++) await tick();
  // The second write must not start while the first is in flight.
  assert.deepEqual(m.started, [1]);
  m.pending.get(1)!.resolve();
  for (let i = 0; i < 5; i++) await tick();
  assert.deepEqual(m.started, [1, 2]);
  m.pending.get(2)!.resolve();
  for (let i = 0; i < 5; i++) await tick();
  m.pending.get(3)!.resolve();
  await Promise.all(all);
  assert.deepEqual(m.finished, [1, 2, 3]);
  assert.deepEqual(done, [1, 2, 3]);
});

test('a failed write rejects its publish and every later one, so nothing overtakes it', async () => {
  const m = manualSink();
  const t = new DirectTransport(m.sink);
  const first = t.publish(batch(1), ctx);
  const second = t.publish(batch(2), ctx);
  await tick();
  m.pending.get(1)!.reject(new Error('mongo down'));
  await assert.rejects(first, /mongo down/);
  await assert.rejects(second, /mongo down/);
  assert.deepEqual(m.started, [1], 'batch 2 reached the sink after batch 1 failed');
});

test('after close() publish rejects and the sink sees nothing more', async () => {
  const m = manualSink();
  const t = new DirectTransport(m.sink);
  const inFlight = t.publish(batch(1), ctx);
  const queued = t.publish(batch(2), ctx);
  await tick();
  const closing = t.close();
  m.pending.get(1)!.resolve();
  await inFlight; // the batch in flight still completes
  await assert.rejects(queued, TransportClosedError);
  await closing;
  await assert.rejects(t.publish(batch(3), ctx), TransportClosedError);
  assert.deepEqual(m.started, [1]);
});

test('createTransport builds direct, and refuses kafka and unknown kinds with a clear error', () => {
  const m = manualSink();
  assert.equal(createTransport('direct', { sink: m.sink }).kind, 'direct');
  assert.throws(() => createTransport('kafka', { sink: m.sink }), (err: unknown) => {
    assert.ok(err instanceof TransportUnavailableError);
    assert.equal(err.code, 'TRANSPORT_UNAVAILABLE');
    assert.match(err.message, /kafka/i);
    return true;
  });
  assert.throws(() => createTransport('carrier-pigeon', { sink: m.sink }), { code: 'TRANSPORT_UNAVAILABLE' });
});
