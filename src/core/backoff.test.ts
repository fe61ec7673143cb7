import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Backoff, backoffDelay, worthWarning } from './backoff';

const opts = { initialMs: 100, maxMs: 5000 };

test('delays grow exponentially from initialMs and never pass maxMs', () => {
  const top = () => 0; // random 0: the base itself, no jitter taken off
  assert.deepEqual([0, 1, 2, 3, 4, 5, 6].map((a) => backoffDelay(a, opts, top)), [100, 200, 400, 800, 1600, 3200, 5000]);
  assert.equal(backoffDelay(10_000, opts, top), 5000, 'a huge attempt number stays at the cap (no Infinity, no NaN)');
  assert.equal(backoffDelay(3, { ...opts, factor: 3 }, top), 2700);
  assert.equal(backoffDelay(-1, opts, top), 100, 'a negative attempt is the first');
});

test('jitter takes at most its share off the delay, drawn at random', () => {
  for (let attempt = 0; attempt < 12; attempt++) {
    const base = Math.min(5000, 100 * 2 ** attempt);
    for (const r of [0, 0.25, 0.5, 0.999999]) {
      const d = backoffDelay(attempt, opts, () => r);
      assert.ok(d <= base && d >= base * 0.5 - 1, `attempt ${attempt}, random ${r}: ${d} in [${base / 2}, ${base}]`);
    }
  }
  assert.equal(backoffDelay(2, opts, () => 0.5), 300, 'equal jitter by default: 400 × (1 − 0.5 × 0.5)');
  assert.equal(backoffDelay(2, { ...opts, jitter: 0 }, () => 0.9), 400, 'jitter 0: exact delays');
  assert.equal(backoffDelay(2, { ...opts, jitter: 1 }, () => 0.75), 100, 'full jitter');
  // With the real Math.random, delays differ (no lockstep) and stay in bounds.
  const seen = new Set(Array.from({ length: 50 }, () => backoffDelay(8, opts)));
  assert.ok(seen.size > 10, `50 draws at the cap give varied delays (${seen.size} distinct)`);
  for (const d of seen) assert.ok(d >= 2500 && d <= 5000);
});

test('a Backoff counts attempts, resets, and its wait gives way to an abort at once', async () => {
  const b = new Backoff({ initialMs: 10, maxMs: 40, jitter: 0 });
  assert.deepEqual([b.next(), b.next(), b.next(), b.next()], [10, 20, 40, 40]);
  assert.equal(b.attempt, 4);
  b.reset();
  assert.equal(b.next(), 10);

  const slow = new Backoff({ initialMs: 60_000, maxMs: 60_000 });
  const ac = new AbortController();
  const t0 = Date.now();
  const waiting = slow.wait(ac.signal);
  setTimeout(() => ac.abort(), 20);
  assert.equal(await waiting, false, 'aborted: false');
  assert.ok(Date.now() - t0 < 2000, 'the abort ended a 30-60 s wait at once');
  assert.equal(await slow.wait(ac.signal), false, 'an aborted signal does not wait at all');
  assert.equal(await new Backoff({ initialMs: 5, maxMs: 5 }).wait(new AbortController().signal), true, 'a full wait: true');
});

test('warnings are rate-limited: the first few, then powers of two and every 40th', () => {
  const warned = Array.from({ length: 130 }, (_, i) => i).filter(worthWarning);
  assert.deepEqual(warned, [0, 1, 2, 3, 4, 8, 16, 32, 40, 64, 80, 120, 128]);
});
