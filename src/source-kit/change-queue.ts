/**
 * The queue between a change stream's socket and the run loop (Debezium's ChangeEventQueue
 * plays this part for all its connectors). The database's log arrives as fast as the
 * socket delivers it; the run loop takes it at its own pace. Past `high` (weighted) items
 * the queue pauses the socket, and it resumes it once the run loop has drained it to
 * `low`: TCP flow control then holds the server, so memory stays flat however large a
 * transaction is (delivery contract 5).
 */
export interface ChangeQueueOptions<T> {
  high: number;
  low: number;
  /** How much an item counts against the marks (default 1: MySQL counts rows, not events). */
  weight?: (item: T) => number;
  /** Stops reading the socket. Called at each push at or above the high mark. */
  pause(): void;
  /** Reads the socket again. */
  resume(): void;
}

export class ChangeQueue<T> {
  readonly #o: ChangeQueueOptions<T>;
  readonly #items: T[] = [];
  #queued = 0;
  #paused = false;
  #closed = false;
  #wake: (() => void) | null = null;

  constructor(opts: ChangeQueueOptions<T>) {
    this.#o = opts;
  }

  /** Queued weight and whether the socket is paused (tests and metrics). */
  get backlog(): { queued: number; paused: boolean } {
    return { queued: this.#queued, paused: this.#paused };
  }

  get paused(): boolean {
    return this.#paused;
  }

  /** The items still queued, oldest first (read only). */
  get items(): readonly T[] {
    return this.#items;
  }

  push(item: T): void {
    if (this.#closed) return;
    this.#items.push(item);
    this.#queued += this.#weight(item);
    if (this.#queued >= this.#o.high) {
      this.#paused = true;
      this.#o.pause();
    }
    this.#wakeUp();
  }

  /** The oldest item, waiting for one; null once `signal` aborted or the queue is closed. */
  async take(signal: AbortSignal): Promise<T | null> {
    while (this.#items.length === 0) {
      if (signal.aborted || this.#closed) return null;
      const onAbort = (): void => this.#wakeUp();
      signal.addEventListener('abort', onAbort, { once: true });
      await new Promise<void>((resolve) => (this.#wake = resolve));
      signal.removeEventListener('abort', onAbort);
    }
    const item = this.#items.shift()!;
    this.#queued -= this.#weight(item);
    if (this.#paused && this.#queued <= this.#o.low) {
      this.#paused = false;
      this.#o.resume();
    }
    return item;
  }

  /** Forgets what is queued (a reconnect reads it again) and the pause: a new socket starts unpaused. */
  reset(): void {
    this.#items.length = 0;
    this.#queued = 0;
    this.#paused = false;
  }

  /** Ends the queue: pushes are ignored and a waiting take returns null. */
  close(): void {
    this.#closed = true;
    this.#wakeUp();
  }

  #weight(item: T): number {
    return this.#o.weight ? this.#o.weight(item) : 1;
  }

  #wakeUp(): void {
    this.#wake?.();
    this.#wake = null;
  }
}
