/**
 * The change stream a source is reading now (PostgreSQL's replication stream, the
 * binlog stream): started by stream(), closed when its batches end or the source
 * closes, and asked for its backlog and acks in between. One place for that
 * bookkeeping, so both sources drop a finished stream the same way.
 */
import type { EventBatch } from '../core';

/** A change stream read from a start of type P (an LSN, a binlog position). */
export interface ChangeStream<P> {
  batches(start: P, signal: AbortSignal): AsyncIterable<EventBatch>;
  close(): Promise<void>;
  readonly backlog: { queued: number; paused: boolean };
}

export class LiveStream<P, S extends ChangeStream<P>> {
  #current: S | null = null;

  /** The stream being read, if any. */
  get current(): S | null {
    return this.#current;
  }

  /** Backlog of the running change stream (tests, metrics). */
  get backlog(): { queued: number; paused: boolean } | null {
    return this.#current?.backlog ?? null;
  }

  /** Yields `stream`'s batches from `start`, and closes it when they end (or the reader stops). */
  async *read(stream: S, start: P, signal: AbortSignal): AsyncGenerator<EventBatch> {
    this.#current = stream;
    try {
      yield* stream.batches(start, signal);
    } finally {
      await stream.close();
      if (this.#current === stream) this.#current = null;
    }
  }

  async close(): Promise<void> {
    await this.#current?.close();
  }
}
