/**
 * Pipelined publishing with in-order acknowledgement. The run loop hands a batch to
 * the transport and reads on while earlier batches are still on their way (Kafka's
 * acknowledgement, MongoDB's write), up to a bound in bytes. What follows durability
 * (acking the source, saving the position) runs strictly in publish order: a batch's
 * `onDurable` runs only once it and every earlier batch are durable, and never after a
 * batch failed, so no position past a failed batch is ever acked or saved (DESIGN.md,
 * delivery contract). The transport keeps the batches' order on its own side.
 */
import type { EventBatch, Row } from '../core';

/** The default bound of the batches in flight at once (run option `inFlightBytes`). */
export const IN_FLIGHT_BYTES = 4 * 1024 * 1024;

/**
 * Most batches in flight at once, whatever their bytes. Without it, a source that cuts a
 * batch per small transaction as soon as it is asked would keep thousands of tiny batches
 * queued in the transport, each paying a round trip (latency at 2,000 rows/s went from
 * ~0.2 s to seconds on the direct transport); with few in flight, the source's batches
 * grow while it waits, as they did with one.
 */
export const IN_FLIGHT_BATCHES = 3;

/** Per event: the object, its source block and its key, roughly. */
const EVENT_OVERHEAD = 256;

function rowBytes(row: Row | null): number {
  if (!row) return 0;
  let n = 0;
  for (const k in row) {
    const v = row[k];
    n += k.length + 8;
    if (typeof v === 'string') n += v.length;
    else if (v instanceof Uint8Array) n += v.byteLength;
    else if (v !== null && typeof v === 'object') n += 64;
    else n += 8;
  }
  return n;
}

/** What a batch holds in memory, roughly: its rows' values plus a fixed cost per event. Cheap: no encoding. */
export function approxBatchBytes(batch: EventBatch): number {
  let n = EVENT_OVERHEAD;
  for (const e of batch.events) n += EVENT_OVERHEAD + rowBytes(e.before) + rowBytes(e.after);
  return n;
}

export class InOrderAcks {
  readonly #maxBytes: number;
  readonly #maxBatches: number;
  readonly #onFailure: (error: unknown) => void;
  /** Each batch's retirement, chained in publish order; entries never reject. */
  #chain: Promise<void> = Promise.resolve();
  readonly #pending: Array<Promise<void>> = [];
  #held = 0;
  #failure: { error: unknown } | undefined;

  /** `onFailure` is told of the first failed batch (the run stops reading then). */
  constructor(maxBytes: number, onFailure: (error: unknown) => void, maxBatches = IN_FLIGHT_BATCHES) {
    this.#maxBytes = maxBytes;
    this.#onFailure = onFailure;
    this.#maxBatches = maxBatches;
  }

  /** Bytes of the batches in flight (published, not yet retired). */
  get heldBytes(): number {
    return this.#held;
  }

  get inFlight(): number {
    return this.#pending.length;
  }

  /**
   * Takes a batch whose delivery has started: `onDurable` runs once it and every earlier
   * batch are delivered. Resolves once the batches in flight are back under the bounds
   * (bytes, and fewer than `maxBatches`, so that the next one may join them; at least this
   * one may be in flight); throws the first failure of any batch.
   */
  async add(delivery: Promise<void>, bytes: number, onDurable: () => void | Promise<void>): Promise<void> {
    this.#throwIfFailed();
    // Seen by the chain below; caught here so a failure behind a failure is not unhandled.
    delivery.catch(() => undefined);
    this.#held += bytes;
    const retired = this.#chain.then(async () => {
      try {
        if (this.#failure) return;
        await delivery;
        if (this.#failure) return;
        await onDurable();
      } catch (error) {
        if (!this.#failure) {
          this.#failure = { error };
          this.#onFailure(error);
        }
      } finally {
        this.#held -= bytes;
        this.#pending.shift();
      }
    });
    this.#chain = retired;
    this.#pending.push(retired);
    while ((this.#held > this.#maxBytes || this.#pending.length >= this.#maxBatches) && this.#pending.length > 0 && !this.#failure) await this.#pending[0];
    this.#throwIfFailed();
  }

  /** Waits until every batch in flight is retired; throws the first failure. */
  async drain(): Promise<void> {
    await this.#chain;
    this.#throwIfFailed();
  }

  /** Waits until every batch in flight settled, without throwing (a run that ends on another error). */
  async settle(): Promise<void> {
    await this.#chain;
  }

  #throwIfFailed(): void {
    if (this.#failure) throw this.#failure.error;
  }
}
