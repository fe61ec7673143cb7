/**
 * A two-ended transport with both ends in this process, seen by the run as one
 * Transport: the carrier publishes, the far end (handed the sink stages) delivers.
 * A failure of the far end for good (the sink refused a record) fails the run: it
 * aborts whatever the carrier is doing (a publish waiting for Kafka, a flush waiting
 * for the group) and both then reject with that error, and `onFatal` tells the run
 * loop even while the source is idle. The ends know nothing of each other.
 */
import type { ConnectorContext, EventBatch } from '../core';
import type { SinkEnd, SinkStages, Transport } from './types';

export class JoinedTransport<C extends Transport = Transport, F extends SinkEnd = SinkEnd> implements Transport {
  readonly kind: string;
  #fatal: { error: unknown } | undefined;
  /** Aborted once the far end failed for good: the carrier's operations give way. */
  readonly #failed = new AbortController();
  /** Each caller's context with a signal that also aborts on that failure. */
  readonly #contexts = new WeakMap<ConnectorContext, ConnectorContext>();
  readonly #listeners = new Set<(err: unknown) => void>();

  constructor(
    readonly carrier: C,
    readonly far: F,
    private readonly stages: SinkStages,
  ) {
    this.kind = carrier.kind;
    far.onFatal((error) => {
      if (this.#fatal) return;
      this.#fatal = { error };
      this.#failed.abort(error);
      for (const l of this.#listeners) l(error);
      this.#listeners.clear();
    });
  }

  /** The far end's error once it failed for good. */
  get fatalError(): unknown {
    return this.#fatal?.error;
  }

  /** The carrier first (it makes the channels), then the far end, handed its stages. */
  async start(ctx: ConnectorContext): Promise<void> {
    try {
      await this.carrier.start(ctx);
      await this.far.start(this.stages, ctx);
    } catch (err) {
      await this.close().catch(() => undefined);
      throw err;
    }
  }

  publish(batch: EventBatch, ctx: ConnectorContext): Promise<void> {
    if (this.#fatal) return Promise.reject(this.#fatal.error);
    return this.#failing(this.carrier.publish(batch, this.#context(ctx)));
  }

  async flush(ctx: ConnectorContext): Promise<void> {
    if (this.#fatal) throw this.#fatal.error;
    await this.#failing(this.carrier.flush?.(this.#context(ctx)) ?? Promise.resolve());
  }

  onFatal(listener: (err: unknown) => void): () => void {
    if (this.#fatal) queueMicrotask(() => listener(this.#fatal!.error));
    else this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  lag(): Promise<number | null> {
    return this.carrier.lag?.() ?? this.far.lag?.() ?? Promise.resolve(null);
  }

  /** Both ends at once, each within its own bounds. Idempotent. */
  async close(): Promise<void> {
    const results = await Promise.allSettled([this.far.close(), this.carrier.close()]);
    const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
    if (failed) throw failed.reason;
  }

  #failing<T>(op: Promise<T>): Promise<T> {
    return op.catch((err: unknown) => {
      throw this.#fatal ? this.#fatal.error : err;
    });
  }

  #context(ctx: ConnectorContext): ConnectorContext {
    let scoped = this.#contexts.get(ctx);
    if (!scoped) {
      scoped = { ...ctx, signal: AbortSignal.any([ctx.signal, this.#failed.signal]) };
      this.#contexts.set(ctx, scoped);
    }
    return scoped;
  }
}
