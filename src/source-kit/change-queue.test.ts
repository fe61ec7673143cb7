import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ChangeQueue } from './change-queue';

function queue(weight?: (n: number) => number) {
  const calls: string[] = [];
  const q = new ChangeQueue<number>({ high: 4, low: 1, ...(weight ? { weight } : {}), pause: () => void calls.push('pause'), resume: () => void calls.push('resume') });
  return { q, calls };
}

test('pauses the socket at the high mark and resumes it once drained to the low mark', async () => {
  const { q, calls } = queue();
  const signal = new AbortController().signal;
  for (const n of [1, 2, 3]) q.push(n);
  assert.deepEqual(calls, []);
  q.push(4);
  assert.deepEqual(calls, ['pause']);
  assert.deepEqual(q.backlog, { queued: 4, paused: true });
  assert.equal(await q.take(signal), 1);
  assert.equal(await q.take(signal), 2);
  assert.deepEqual(calls, ['pause']);
  assert.equal(await q.take(signal), 3);
  assert.deepEqual(calls, ['pause', 'resume']);
  assert.deepEqual(q.backlog, { queued: 1, paused: false });
});

test('items count by their weight (rows, not events)', () => {
  const { q, calls } = queue((n) => n);
  q.push(3);
  assert.deepEqual(calls, []);
  q.push(2);
  assert.deepEqual(calls, ['pause']);
  assert.equal(q.backlog.queued, 5);
});

test('take waits for an item, and gives way to an abort and to close', async () => {
  const { q } = queue();
  const ac = new AbortController();
  const waiting = q.take(ac.signal);
  setTimeout(() => q.push(7), 5);
  assert.equal(await waiting, 7);
  const aborted = q.take(ac.signal);
  ac.abort();
  assert.equal(await aborted, null);
  const closed = q.take(new AbortController().signal);
  q.close();
  assert.equal(await closed, null);
  q.push(8);
  assert.equal(q.items.length, 0, 'a closed queue takes nothing');
});

test('reset forgets the items and the pause', () => {
  const { q } = queue();
  for (const n of [1, 2, 3, 4, 5]) q.push(n);
  q.reset();
  assert.deepEqual(q.backlog, { queued: 0, paused: false });
  assert.equal(q.items.length, 0);
});
