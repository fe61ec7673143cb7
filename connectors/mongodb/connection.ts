/**
 * The sink's connection to MongoDB and its retries. The client connects on first use
 * (and again from scratch after a failed connect) and learns what the server is. Every
 * command goes through `withRetry`: a server that is away delays the write, retried with
 * backoff for as long as it takes, until the stream is stopped; each attempt is timed
 * by the sink itself (the 6.x driver ignores timeoutMS), so a server that does not
 * answer is an outage too. What can never succeed becomes a SluiceError at once.
 */
import type { Logger } from 'pino';
import type { MongoClient } from 'mongodb';
import { Backoff, RUN_EVENTS, untilAborted, worthWarning, type ConnectorContext, type StreamSpec } from '../../src/core';
import { SluiceError } from '../../src/errors';
import type { DecimalMode } from './bson';
import { guardedClient, detectServer, effectiveDecimalMode, serverLabel, type MongoSinkOptions, type ServerInfo } from './client';
import { AttemptTimeoutError, classify, type Classified } from './failures';

export interface Connected {
  client: MongoClient;
  info: ServerInfo;
  decimals: DecimalMode;
}

/** The backoff of one write's retries: from the sink's `retry` option, jittered (src/core/backoff.ts). */
export function writeBackoff(retry: MongoSinkOptions['retry']): Backoff {
  return new Backoff({ initialMs: retry.initialDelayMs, maxMs: retry.maxDelayMs });
}

export class SinkConnection {
  readonly #url: string;
  readonly database: string;
  readonly #stream: Pick<StreamSpec, 'id'>;
  readonly options: MongoSinkOptions;
  readonly #logger: Logger;
  #connected: Promise<Connected> | null = null;
  #closed = false;

  constructor(url: string, database: string, options: MongoSinkOptions, stream: Pick<StreamSpec, 'id'>, logger: Logger) {
    this.#url = url;
    this.database = database;
    this.options = options;
    this.#stream = stream;
    this.#logger = logger;
  }

  /** Connects on first use and reuses the client; a failed connect is retried from scratch next time. */
  connect(): Promise<Connected> {
    if (this.#closed) return Promise.reject(new SluiceError('SINK_UNREACHABLE', 'The MongoDB sink is closed.', { stream: this.#stream.id }));
    if (!this.#connected) {
      let client: MongoClient | undefined;
      this.#connected = (async () => {
        client = await guardedClient(this.#url, this.options);
        await client.connect();
        const info = await detectServer(client);
        const decimals = effectiveDecimalMode(this.options, info);
        this.#logger.info({ server: serverLabel(info), replicaSet: info.replicaSet, decimals, database: this.database }, 'mongodb sink connected');
        if (decimals === 'string' && this.options.decimals === 'auto') {
          this.#logger.warn({ server: serverLabel(info) }, 'server has no Decimal128: decimals are stored as their exact text (strings)');
        }
        return { client, info, decimals };
      })();
      this.#connected.catch(() => {
        this.#connected = null;
        void client?.close().catch(() => undefined);
      });
    }
    return this.#connected;
  }

  /**
   * `op`, but settled as soon as `signal` aborts (rejecting with its reason) or
   * writeTimeoutMs passes without an answer (rejecting with an AttemptTimeoutError, which
   * is transient): the abandoned write may still land, and being idempotent, that is
   * harmless.
   */
  attempt<T>(op: Promise<T>, signal: AbortSignal, what: string): Promise<T> {
    const timeoutMs = this.options.writeTimeoutMs;
    return untilAborted(op, signal, { aborted: (s) => s.reason, timeoutMs, timedOut: () => new AttemptTimeoutError(what, timeoutMs) });
  }

  /**
   * Runs `attempt` until it succeeds, retrying transient failures with exponential
   * backoff for as long as it takes; stops when `signal` aborts, rejecting with the
   * last error. Permanent failures are handed to `permanent` to become SluiceErrors.
   */
  async withRetry<T>(
    what: string,
    ctx: Pick<ConnectorContext, 'signal' | 'logger' | 'count'>,
    attempt: (c: Connected) => Promise<T>,
    permanent: (err: unknown, c: Classified) => Error,
    collection?: string,
  ): Promise<T> {
    const { signal, logger } = ctx;
    let last: unknown;
    const backoff = writeBackoff(this.options.retry);
    for (let n = 1; ; n++) {
      if (signal.aborted) throw last ?? signal.reason;
      try {
        const result = await this.attempt(
          this.connect().then((c) => attempt(c)),
          signal,
          what,
        );
        if (n > 1) logger.info({ attempts: n }, `mongodb ${what} succeeded after ${n} attempts`);
        return result;
      } catch (err) {
        if (signal.aborted) throw last ?? err;
        if (err instanceof SluiceError) throw err;
        ctx.count?.(RUN_EVENTS.MONGODB_ERROR);
        const c = classify(err);
        if (c.kind !== 'transient') throw permanent(err, c);
        last = err;
        const delay = backoff.next();
        if (worthWarning(n - 1)) {
          logger.warn(
            { attempt: n, retryInMs: delay, err: c.message, code: c.code, ...(collection === undefined ? {} : { collection: `${this.database}.${collection}` }) },
            `mongodb ${what} failed (attempt ${n}), retrying`,
          );
        }
        await backoff.wait(signal, delay);
      }
    }
  }

  async close(): Promise<void> {
    this.#closed = true;
    const pending = this.#connected;
    this.#connected = null;
    if (!pending) return;
    try {
      const { client } = await pending;
      await client.close();
    } catch {
      // never connected: nothing to close
    }
  }
}
