import { test } from 'node:test';
import assert from 'node:assert/strict';
import { approxBatchBytes, InOrderAcks } from './in-flight';

function deferred(): { promise: Promise<void>; resolve: () => void; reject: (e: unknown) => void } {
  let resolve!: () => void;
  let reject!: (e: unknown) => void;
  const promise = new Promise<void>((res, rej) => ((resolve = res), (reject = rej)));
  return { promise, resolve, reject };
}

const tick = () => new Promise((r) => setImmediate(r));

test('batches are retired in publish order, whatever order they become durable in', async () => {
  const acks = new InOrderAcks(1000, () => assert.fail('no failure'), 100);
  const done: number[] = [];
  const d = [deferred(), deferred(), deferred()];
  for (let i = 0; i < 3; i++) await acks.add(d[i]!.promise, 10, () => void done.push(i));
  d[2]!.resolve();
  d[1]!.resolve();
  await tick();
  assert.deepEqual(done, [], 'nothing retires before the first batch is durable');
  d[0]!.resolve();
  await acks.drain();
  assert.deepEqual(done, [0, 1, 2]);
  assert.equal(acks.heldBytes, 0);
});

test('a batch retires as soon as it and every earlier one are durable, without waiting for more batches', async () => {
  const acks = new InOrderAcks(1000, () => undefined);
  const done: number[] = [];
  const a = deferred();
  await acks.add(a.promise, 10, () => void done.push(0));
  a.resolve();
  await tick();
  assert.deepEqual(done, [0]);
});

test('a failed middle batch: later durable batches are never retired, the failure is told once and thrown', async () => {
  const failures: unknown[] = [];
  const acks = new InOrderAcks(1000, (e) => failures.push(e), 100);
  const done: number[] = [];
  const d = [deferred(), deferred(), deferred(), deferred()];
  for (let i = 0; i < 4; i++) await acks.add(d[i]!.promise, 10, () => void done.push(i));
  d[0]!.resolve();
  d[2]!.resolve();
  d[3]!.resolve();
  const boom = new Error('middle');
  d[1]!.reject(boom);
  await assert.rejects(acks.drain(), /middle/);
  assert.deepEqual(done, [0]);
  assert.deepEqual(failures, [boom]);
  await assert.rejects(acks.add(Promise.resolve(), 1, () => assert.fail('never after a failure')), /middle/);
});

test('a failure of onDurable (the ack, the save) is the failure: nothing after it retires', async () => {
  const acks = new InOrderAcks(1000, () => undefined);
  const done: number[] = [];
  await acks.add(Promise.resolve(), 1, () => {
    throw new Error('save failed');
  });
  await acks.add(Promise.resolve(), 1, () => void done.push(1)).catch(() => undefined);
  await assert.rejects(acks.drain(), /save failed/);
  assert.deepEqual(done, []);
});

test('add waits while the batches in flight are over the bound; 0 means one at a time', async () => {
  const acks = new InOrderAcks(25, () => undefined, 100);
  const d = [deferred(), deferred(), deferred()];
  await acks.add(d[0]!.promise, 10, () => undefined);
  await acks.add(d[1]!.promise, 10, () => undefined);
  let third = false;
  const adding = acks.add(d[2]!.promise, 10, () => undefined).then(() => (third = true));
  await tick();
  assert.equal(third, false, '30 bytes > 25: waits');
  assert.equal(acks.inFlight, 3);
  d[0]!.resolve();
  await adding;
  assert.equal(acks.heldBytes, 20);
  d[1]!.resolve();
  d[2]!.resolve();
  await acks.drain();

  const serial = new InOrderAcks(0, () => undefined);
  const one = deferred();
  let added = false;
  const p = serial.add(one.promise, 1, () => undefined).then(() => (added = true));
  await tick();
  assert.equal(added, false);
  one.resolve();
  await p;
});

test('approxBatchBytes grows with the rows it carries', () => {
  const ev = (note: string) => ({ table: { schema: 's', table: 't' }, op: 'c' as const, key: { id: 1 }, before: null, after: { id: 1, note, blob: Buffer.alloc(100) }, source: {} as never, ts_ms: 0 });
  const small = approxBatchBytes({ events: [ev('x')], position: null });
  const large = approxBatchBytes({ events: [ev('x'.repeat(10_000)), ev('y')], position: null });
  assert.ok(small > 100);
  assert.ok(large > small + 10_000);
});

test('at most maxBatches are in flight, whatever their bytes: the next add waits for the oldest', async () => {
  const acks = new InOrderAcks(1 << 30, () => undefined);
  const d = [deferred(), deferred(), deferred()];
  await acks.add(d[0]!.promise, 1, () => undefined);
  await acks.add(d[1]!.promise, 1, () => undefined);
  let returned = false;
  const third = acks.add(d[2]!.promise, 1, () => undefined).then(() => (returned = true));
  await tick();
  assert.equal(returned, false, 'three in flight (the default bound): the loop waits before reading a fourth');
  d[0]!.resolve();
  await third;
  assert.equal(acks.inFlight, 2);
  d[1]!.resolve();
  d[2]!.resolve();
  await acks.drain();
});
