/**
 * The one backoff of sluice: exponential, capped and jittered, and abort-aware. Every
 * loop that waits for a server to come back (the binlog reconnect, the Kafka produce
 * retry and consumer restart, the MongoDB write retry, a stream's run restarting after
 * a retriable failure) draws its delays from here, so that many streams (or daemons)
 * that lost the same server do not hammer it in step when it returns.
 */
import { sleep } from './abort';

export interface BackoffOptions {
  /** The delay before the first retry, before jitter (ms). */
  initialMs: number;
  /** The longest delay (ms); no delay exceeds it, jitter included. */
  maxMs: number;
  /** Growth per attempt (default 2). */
  factor?: number;
  /**
   * The share of each delay drawn at random (0..1, default 0.5: "equal jitter"): a
   * delay lies in [base × (1 − jitter), base], where base = min(maxMs, initialMs × factor^attempt).
   */
  jitter?: number;
}

/** The delay before retry number `attempt` (counting from 0). `random` returns [0, 1): tests pass their own. */
export function backoffDelay(attempt: number, opts: BackoffOptions, random: () => number = Math.random): number {
  const factor = opts.factor ?? 2;
  const jitter = Math.min(1, Math.max(0, opts.jitter ?? 0.5));
  const max = Math.max(0, opts.maxMs);
  // Capped exponent: 2^1000 is Infinity, and Infinity × 0 (jitter) is NaN.
  const base = Math.min(max, Math.max(0, opts.initialMs) * factor ** Math.min(Math.max(0, attempt), 64));
  return Math.round(base * (1 - jitter * random()));
}

/**
 * Attempts worth a warning: the first few, then ever more rarely (8, 16, 32, …) and at
 * least every 40th, so an outage of hours writes tens of lines, not thousands.
 */
export function worthWarning(attempt: number): boolean {
  return attempt < 4 || (attempt & (attempt - 1)) === 0 || attempt % 40 === 0;
}

/** A backoff in progress: counts its attempts and sleeps the next delay. */
export class Backoff {
  #attempt = 0;
  readonly #opts: BackoffOptions;
  readonly #random: () => number;

  constructor(opts: BackoffOptions, random: () => number = Math.random) {
    this.#opts = opts;
    this.#random = random;
  }

  /** Retries taken so far (delays handed out since the last reset). */
  get attempt(): number {
    return this.#attempt;
  }

  /** The next delay; each call moves one attempt on. */
  next(): number {
    return backoffDelay(this.#attempt++, this.#opts, this.#random);
  }

  /** After a success: the next failure starts again from the initial delay. */
  reset(): void {
    this.#attempt = 0;
  }

  /**
   * Sleeps the next delay (or `delayMs`, one already drawn with next()), or until
   * `signal` aborts; resolves false when aborted, true otherwise. Never rejects.
   */
  async wait(signal: AbortSignal, delayMs: number = this.next()): Promise<boolean> {
    await sleep(delayMs, signal);
    return !signal.aborted;
  }
}
