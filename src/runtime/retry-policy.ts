/**
 * A stream's retry policy: which failures of a run are worth a restart, when the next
 * one is due, and when to give up. A run that fails with a retriable code
 * (src/errors.ts) restarts from its last saved position after a jittered exponential
 * backoff (src/core/backoff.ts) from FIRST_RETRY_MS up to `maxBackoffMs`, for as long
 * as `maxRetries` and `timeoutMs` allow (Kafka Connect's errors.retry.timeout, Debezium's
 * restart of a task on a retriable error). A series of restarts ends when a restarted
 * run delivers a batch: the next failure starts again from the first delay.
 * No I/O here: launch.ts drives the restarts.
 */
import { Backoff, type StreamSpec } from '../core';
import { isRetriableError } from '../errors';

/** The first restart waits about this long (jittered); each next one twice as long, up to maxBackoffMs. */
export const FIRST_RETRY_MS = 1000;
export const DEFAULT_MAX_BACKOFF_MS = 60_000;

export interface RetryOptions {
  /** Restarts in a row before giving up; undefined: no limit. */
  maxRetries?: number;
  maxBackoffMs: number;
  /** From the first failure of a series; undefined: no limit. */
  timeoutMs?: number;
}

/** The stream's `options.retry`, defaults filled (the run's options parse fills them too). */
export function retryOptionsOf(stream: Pick<StreamSpec, 'options'>): RetryOptions {
  const r = stream.options.retry ?? {};
  return {
    maxBackoffMs: Math.max(FIRST_RETRY_MS, r.maxBackoffMs ?? DEFAULT_MAX_BACKOFF_MS),
    ...(r.maxRetries === undefined ? {} : { maxRetries: r.maxRetries }),
    ...(r.timeoutMs === undefined ? {} : { timeoutMs: r.timeoutMs }),
  };
}

export type RetryDecision =
  | { retry: true; attempt: number; delayMs: number; nextAttemptAt: Date; since: Date }
  | { retry: false; reason: 'not-retriable' }
  | { retry: false; reason: 'exhausted'; attempts: number; sinceMs: number; why: string };

export class RetryPolicy {
  readonly options: RetryOptions;
  readonly #backoff: Backoff;
  readonly #now: () => number;
  /** When the first failure of the current series happened; null: no series. */
  #since: number | null = null;

  constructor(options: RetryOptions, now: () => number = Date.now, random?: () => number) {
    this.options = options;
    this.#now = now;
    this.#backoff = new Backoff({ initialMs: Math.min(FIRST_RETRY_MS, options.maxBackoffMs), maxMs: options.maxBackoffMs }, random);
  }

  /** Restarts scheduled in the current series. */
  get attempts(): number {
    return this.#backoff.attempt;
  }

  /** A run failed with `error`: restart it (when, which attempt), or give up (why). */
  onFailure(error: unknown): RetryDecision {
    if (!isRetriableError(error)) return { retry: false, reason: 'not-retriable' };
    const now = this.#now();
    this.#since ??= now;
    const sinceMs = now - this.#since;
    const attempts = this.#backoff.attempt;
    const { maxRetries, timeoutMs } = this.options;
    if (maxRetries !== undefined && attempts >= maxRetries) {
      return { retry: false, reason: 'exhausted', attempts, sinceMs, why: `options.retry.maxRetries is ${maxRetries}` };
    }
    if (timeoutMs !== undefined && sinceMs >= timeoutMs) {
      return { retry: false, reason: 'exhausted', attempts, sinceMs, why: `options.retry.timeoutMs is ${timeoutMs}` };
    }
    let delayMs = this.#backoff.next();
    // The last restart of a bounded series happens at the deadline, not after it.
    if (timeoutMs !== undefined) delayMs = Math.max(0, Math.min(delayMs, timeoutMs - sinceMs));
    return { retry: true, attempt: attempts + 1, delayMs, nextAttemptAt: new Date(now + delayMs), since: new Date(this.#since) };
  }

  /** A restarted run made progress: the series is over. */
  reset(): void {
    this.#since = null;
    this.#backoff.reset();
  }
}
