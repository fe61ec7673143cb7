/**
 * The in-process transport: a batch is "durable in the transport" exactly when the
 * sink acknowledged it, so `publish` simply awaits `sink.write`. That makes the
 * source's ack wait for MongoDB, which is the delivery contract in direct mode.
 */
import type { ConnectorContext, EventBatch, Sink } from '../core';
import type { Transport } from './types';
import { SluiceError } from '../errors';

export class TransportClosedError extends SluiceError {
  constructor(kind: string) {
    super('TRANSPORT_CLOSED', `the ${kind} transport is closed; the batch was not written`, { kind });
    this.name = 'TransportClosedError';
  }
}

export class DirectTransport implements Transport {
  readonly kind = 'direct';
  // Every publish chains onto the previous one, so batches reach the sink in
  // publish order even if a caller does not await between publishes.
  #tail: Promise<void> = Promise.resolve();
  #closed = false;
  // Once a write failed, later batches must not overtake it into the sink: that
  // would break per-key order. The failure sticks until the transport is rebuilt.
  #failure: unknown = undefined;
  readonly #sink: Sink;

  constructor(sink: Sink) {
    this.#sink = sink;
  }

  async start(_ctx: ConnectorContext): Promise<void> {}

  publish(batch: EventBatch, ctx: ConnectorContext): Promise<void> {
    if (this.#closed) return Promise.reject(new TransportClosedError(this.kind));
    const write = this.#tail.then(async () => {
      if (this.#failure !== undefined) throw this.#failure;
      if (this.#closed) throw new TransportClosedError(this.kind);
      try {
        await this.#sink.write(batch, ctx);
      } catch (err) {
        this.#failure = err;
        throw err;
      }
    });
    // The chain only sequences; each caller sees its own outcome through `write`.
    this.#tail = write.catch(() => undefined);
    return write;
  }

  /** Lets the batch being written finish; batches queued behind it are rejected. */
  async close(): Promise<void> {
    this.#closed = true;
    await this.#tail;
  }
}

export function createDirectTransport(sink: Sink): DirectTransport {
  return new DirectTransport(sink);
}
