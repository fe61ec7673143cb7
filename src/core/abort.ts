/**
 * How a stop reaches an operation in flight. A run's `ConnectorContext.signal` aborts on
 * stop, pause and shutdown; whatever waits (a connect, a group join, a backoff, the next
 * batch) gives way at once, and an operation cut short rejects with an AbortError, which
 * the run loop reads as "stopped", not as a failure. One set of helpers for the run loop,
 * the transports and the connectors.
 */

/** The error an operation cut short by its signal rejects with: name 'AbortError', the signal's reason as cause. */
export function abortError(signal: AbortSignal): Error {
  const err = new Error('the operation was aborted', { cause: signal.reason });
  err.name = 'AbortError';
  return err;
}

/** An AbortError of ours, of the platform's (DOMException) or of Node's (code ABORT_ERR). */
export function isAbortError(err: unknown): boolean {
  return err instanceof Error && (err.name === 'AbortError' || (err as { code?: unknown }).code === 'ABORT_ERR');
}

export interface RaceOptions {
  /** What the race rejects with when the signal aborts (default: abortError(signal)). */
  aborted?: (signal: AbortSignal) => unknown;
  /** Gives up after this long, rejecting with `timedOut()`. */
  timeoutMs?: number;
  timedOut?: () => unknown;
}

/**
 * `op`'s outcome, unless `signal` aborts first (or `timeoutMs` passes): the race then
 * rejects at once and `op` is abandoned (its rejection swallowed; whoever owns the
 * resource cleans it up on close). A stop must never wait for a connect, a group join
 * or a server that does not answer.
 */
export function untilAborted<T>(op: Promise<T>, signal: AbortSignal, opts: RaceOptions = {}): Promise<T> {
  const aborted = opts.aborted ?? abortError;
  if (signal.aborted) {
    op.catch(() => undefined);
    return Promise.reject(aborted(signal));
  }
  return new Promise<T>((resolve, reject) => {
    let timer: NodeJS.Timeout | undefined;
    const settle = (): void => {
      clearTimeout(timer);
      signal.removeEventListener('abort', onAbort);
    };
    const onAbort = (): void => {
      settle();
      reject(aborted(signal));
    };
    signal.addEventListener('abort', onAbort, { once: true });
    if (opts.timeoutMs !== undefined) {
      timer = setTimeout(() => {
        settle();
        reject(opts.timedOut ? opts.timedOut() : new Error(`no answer within ${opts.timeoutMs} ms`));
      }, opts.timeoutMs);
    }
    op.then(
      (v) => {
        settle();
        resolve(v);
      },
      (e: unknown) => {
        settle();
        reject(e);
      },
    );
  });
}

/** Resolves after `ms`, or as soon as `signal` aborts or `wake` settles; never rejects. */
export function sleep(ms: number, signal: AbortSignal, wake?: Promise<unknown>): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted) return resolve();
    const done = (): void => {
      clearTimeout(timer);
      signal.removeEventListener('abort', done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal.addEventListener('abort', done, { once: true });
    wake?.then(done, done);
  });
}
