import { test } from 'node:test';
import assert from 'node:assert/strict';
import { SluiceError } from '../errors';
import { DEFAULT_MAX_BACKOFF_MS, RetryPolicy, retryOptionsOf } from './retry-policy';

const away = new SluiceError('SOURCE_UNREACHABLE', 'reading the replication stream: read ECONNRESET');

function clock(start = 1_000_000) {
  let t = start;
  return { now: () => t, advance: (ms: number) => (t += ms) };
}

test('defaults: retry for ever, backoff from about 1 s doubling to 60 s', () => {
  assert.deepEqual(retryOptionsOf({ options: {} }), { maxBackoffMs: DEFAULT_MAX_BACKOFF_MS });
  assert.equal(DEFAULT_MAX_BACKOFF_MS, 60_000);
  const c = clock();
  const p = new RetryPolicy(retryOptionsOf({ options: {} }), c.now, () => 0);
  const delays: number[] = [];
  for (let i = 0; i < 500; i++) {
    const d = p.onFailure(away);
    assert.ok(d.retry, `attempt ${i + 1} is retried`);
    assert.equal(d.attempt, i + 1);
    delays.push(d.delayMs);
    c.advance(d.delayMs);
  }
  assert.deepEqual(delays.slice(0, 8), [1000, 2000, 4000, 8000, 16000, 32000, 60000, 60000]);
  assert.equal(Math.max(...delays), 60_000);
});

test('a failure that is not retriable is never retried', () => {
  const p = new RetryPolicy(retryOptionsOf({ options: {} }));
  assert.deepEqual(p.onFailure(new SluiceError('SOURCE_SCHEMA_CHANGED', 'x')), { retry: false, reason: 'not-retriable' });
  assert.deepEqual(p.onFailure(new Error('a bug')), { retry: false, reason: 'not-retriable' });
});

test('maxRetries bounds the restarts in a row; progress (reset) starts a new series', () => {
  const c = clock();
  const p = new RetryPolicy(retryOptionsOf({ options: { retry: { maxRetries: 2 } } }), c.now, () => 0);
  assert.equal(p.onFailure(away).retry, true);
  assert.equal(p.onFailure(away).retry, true);
  c.advance(5000);
  const third = p.onFailure(away);
  assert.ok(!third.retry && third.reason === 'exhausted');
  assert.equal(third.attempts, 2);
  assert.equal(third.sinceMs, 5000);
  assert.match(third.why, /maxRetries is 2/);
  p.reset();
  const again = p.onFailure(away);
  assert.ok(again.retry && again.attempt === 1 && again.delayMs === 1000, 'a new series starts from the first delay');
  assert.equal(new RetryPolicy(retryOptionsOf({ options: { retry: { maxRetries: 0 } } })).onFailure(away).retry, false, 'maxRetries 0: fail at once');
});

test('timeoutMs bounds a series in time; the last wait ends at the deadline', () => {
  const c = clock();
  const p = new RetryPolicy(retryOptionsOf({ options: { retry: { timeoutMs: 2500, maxBackoffMs: 60_000 } } }), c.now, () => 0);
  const first = p.onFailure(away);
  assert.ok(first.retry && first.delayMs === 1000 && first.since.getTime() === c.now());
  c.advance(1000);
  const second = p.onFailure(away);
  assert.ok(second.retry && second.delayMs === 1500, 'capped to the 1.5 s left, not 2 s');
  assert.equal(second.since.getTime(), c.now() - 1000, 'the series keeps its start');
  c.advance(1500);
  const third = p.onFailure(away);
  assert.ok(!third.retry && third.reason === 'exhausted' && /timeoutMs is 2500/.test(third.why));
});

test('maxBackoffMs caps every wait, jitter included', () => {
  const p = new RetryPolicy(retryOptionsOf({ options: { retry: { maxBackoffMs: 3000 } } }));
  for (let i = 0; i < 50; i++) {
    const d = p.onFailure(away);
    assert.ok(d.retry && d.delayMs <= 3000 && d.delayMs >= 0);
  }
  assert.equal(retryOptionsOf({ options: { retry: { maxBackoffMs: 10 } } }).maxBackoffMs, 1000, 'never below the first delay');
});
