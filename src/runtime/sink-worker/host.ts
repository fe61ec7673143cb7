/**
 * The far end of a stream's transport in a worker thread of its own (worker.ts), seen by
 * the run as any SinkEnd: the consumer group, the decoding and the MongoDB writes get a
 * core apart from the source, the filter and the producer (issue 17).
 *
 * The worker is built from plain data (wire.ts: the stream, the sink connection with its
 * credentials, in memory only, and the transport's settings) and builds its own sink
 * stage; what the run shows an operator comes back as messages and is applied here as if
 * it had happened in process: log lines through the run's logger, the meter's metrics,
 * the run's counters, job updates, and a failure for good through onFatal. Start, follow,
 * lag and close are calls; a stop aborts the worker's signal. `flush` never asks the
 * worker: the carrier asks Kafka what the group committed.
 */
import { Worker } from 'node:worker_threads';
import { join } from 'node:path';
import type { ConnectorContext, DeadLetterQueue } from '../../core';
import { SluiceError } from '../../errors';
import type { Meter } from '../../metrics/stream-meter';
import type { SinkEnd } from '../../transport/types';
import { ABANDON_AFTER_MS } from '../../transport/kafka';
import type { RunCounters } from '../persistence';
import { decodeError, replayLogLine, type CallOp, type FromWorker, type SinkWorkerData, type ToWorker } from './wire';

/** Past this, a worker that was asked to close and has not ended is terminated (its sockets with it). */
export const WORKER_EXIT_MS = ABANDON_AFTER_MS + 2_000;

export class WorkerSinkEnd implements SinkEnd {
  /** The worker's own record-error policy puts the dead letters; nothing is put from here. */
  readonly deadLetters: DeadLetterQueue = {
    kind: 'kafka',
    put: () => Promise.reject(new Error('dead letters of a sink worker are put in the worker')),
  };
  readonly #data: Omit<SinkWorkerData, 'runId' | 'streamId' | 'logLevel'>;
  readonly #run: { counters: RunCounters; meter: Meter };
  #worker: Worker | undefined;
  #exited: Promise<void> | undefined;
  #ctx: ConnectorContext | undefined;
  #nextId = 0;
  readonly #pending = new Map<number, { resolve(v: unknown): void; reject(e: unknown): void }>();
  #fatal: { error: unknown } | undefined;
  readonly #fatalListeners = new Set<(err: unknown) => void>();
  #closing: Promise<void> | undefined;
  #unabort: (() => void) | undefined;
  /** The worker's thread id, once it reported a write (tests: the sink runs apart). */
  sinkThreadId: number | undefined;
  #running = false;

  constructor(data: Omit<SinkWorkerData, 'runId' | 'streamId' | 'logLevel'>, run: { counters: RunCounters; meter: Meter }) {
    this.#data = data;
    this.#run = run;
  }

  async start(_stages: unknown, ctx: ConnectorContext): Promise<void> {
    if (this.#closing) throw new SluiceError('STREAM_RUN_FAILED', 'the sink worker was closed before it started');
    this.#ctx = ctx;
    const data: SinkWorkerData = { ...this.#data, streamId: ctx.streamId, runId: ctx.runId, logLevel: ctx.logger.level };
    const worker = new Worker(join(__dirname, 'worker.js'), { workerData: data, stdout: false, stderr: false });
    this.#worker = worker;
    this.#running = true;
    this.#exited = new Promise((resolve) => worker.once('exit', () => resolve()));
    worker.on('message', (m: FromWorker) => this.#onMessage(m));
    worker.on('error', (err) => this.#lost(err));
    worker.once('exit', (code) => {
      this.#running = false;
      const err = new SluiceError('STREAM_RUN_FAILED', `the sink worker ended (exit code ${code})`, { exitCode: code });
      for (const p of this.#pending.values()) p.reject(err);
      this.#pending.clear();
      if (!this.#closing) this.#lost(err);
    });
    const abort = (): void => this.#post({ t: 'abort' });
    if (ctx.signal.aborted) abort();
    else {
      ctx.signal.addEventListener('abort', abort, { once: true });
      this.#unabort = () => ctx.signal.removeEventListener('abort', abort);
    }
    try {
      await this.#call('start');
    } catch (err) {
      await this.close().catch(() => undefined);
      throw err;
    }
  }

  /** Whether the worker's thread is alive. */
  get running(): boolean {
    return this.#running;
  }

  follow(channels: string[]): Promise<void> {
    return this.#call('follow', channels) as Promise<void>;
  }

  lag(): Promise<number | null> {
    if (!this.#worker || this.#closing) return Promise.resolve(null);
    return this.#call('lag') as Promise<number | null>;
  }

  onFatal(listener: (err: unknown) => void): () => void {
    if (this.#fatal) queueMicrotask(() => listener(this.#fatal!.error));
    else this.#fatalListeners.add(listener);
    return () => this.#fatalListeners.delete(listener);
  }

  /**
   * Asks the worker to close its clients and the sink (within the bounds of clients.ts,
   * as in process), and resolves with its answer. The thread then ends by itself once the
   * clients it gave up on are gone (ABANDON_AFTER_MS); past WORKER_EXIT_MS it is
   * terminated, its sockets with it. Idempotent.
   */
  close(): Promise<void> {
    this.#closing ??= (async () => {
      this.#unabort?.();
      const worker = this.#worker;
      if (!worker || !this.#running) return;
      const bound = setTimeout(() => {
        this.#ctx?.logger.warn({ afterMs: WORKER_EXIT_MS }, 'the sink worker did not end in time; terminated');
        void worker.terminate();
      }, WORKER_EXIT_MS);
      bound.unref();
      void this.#exited?.then(() => clearTimeout(bound));
      try {
        await this.#call('close');
      } catch (err) {
        // A worker that ended meanwhile has nothing left to close.
        if (this.#running) throw err;
      }
    })();
    return this.#closing;
  }

  /** Resolves once the worker's thread ended (at once when it never started). */
  ended(): Promise<void> {
    return this.#exited ?? Promise.resolve();
  }

  #call(op: CallOp, args?: unknown): Promise<unknown> {
    const worker = this.#worker;
    if (!worker) return Promise.reject(new SluiceError('STREAM_RUN_FAILED', 'the sink worker is not running'));
    const id = ++this.#nextId;
    return new Promise((resolve, reject) => {
      this.#pending.set(id, { resolve, reject });
      this.#post({ t: 'call', id, op, ...(args !== undefined ? { args } : {}) });
    });
  }

  #post(m: ToWorker): void {
    this.#worker?.postMessage(m);
  }

  #onMessage(m: FromWorker): void {
    const ctx = this.#ctx!;
    const { meter, counters } = this.#run;
    switch (m.t) {
      case 'reply': {
        const p = this.#pending.get(m.id);
        this.#pending.delete(m.id);
        if (m.ok) p?.resolve(m.value);
        else p?.reject(decodeError(m.error));
        return;
      }
      case 'fatal':
        return this.#setFatal(decodeError(m.error));
      case 'log':
        return replayLogLine(ctx.logger, m.line);
      case 'count':
        return ctx.count?.(m.event, m.n, m.table);
      case 'report':
        return ctx.report?.(m.update);
      case 'written':
        this.sinkThreadId = m.threadId;
        return meter.written(m.events, m.at);
      case 'failed':
        return meter.failed(m.n);
      case 'counter':
        counters[m.key] += m.delta;
        return;
    }
  }

  /** The worker ended or threw outside a call: the stream fails as on any sink failure. */
  #lost(err: unknown): void {
    if (this.#closing) return;
    this.#setFatal(err);
  }

  #setFatal(err: unknown): void {
    if (this.#fatal) return;
    this.#fatal = { error: err };
    for (const l of this.#fatalListeners) l(err);
    this.#fatalListeners.clear();
  }
}
