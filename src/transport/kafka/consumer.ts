/**
 * The consumer group of the Kafka transport's sink end (sink-end.ts): it decodes each
 * partition batch, writes it to the sink stage, and commits the offsets only once the
 * sink resolved (delivery contract 2). Each partition's batches are written in order, which
 * keeps per-key order; different partitions are written concurrently.
 */
import type { Consumer, EachBatchPayload, Kafka } from 'kafkajs';
import { Backoff, RUN_EVENTS, type ChangeEvent, type ConnectorContext, type Sink } from '../../core';
import type { RecordSerde } from './record-serde';
import { isSluiceError } from '../../errors';
import type { RecordErrorHandler } from '../types';
import type { Origins } from './dead-letters';

export interface SinkConsumerArgs {
  kafka: Kafka;
  groupId: string;
  sink: Sink;
  serde: RecordSerde;
  ctx: ConnectorContext;
  /** A non-retriable sink or decode error: the transport stops and the stream fails with it. */
  onFatal(err: unknown): void;
  /** Records that do not decode go here (errorHandling); without it they fail the stream. */
  records?: RecordErrorHandler;
  /** Where each decoded event came from, for its dead letter. */
  origins?: Origins;
}

const SESSION_TIMEOUT_MS = 10_000;
/**
 * Partition batches written to the sink at once. Order is per key, and a key lives in one
 * partition, which kafkajs never hands out twice at a time; across partitions the writes
 * are independent. One at a time left the sink idle during every commit and fetch: at
 * 2,000 events/s into FerretDB the end-to-end p50 went from ~4.8 s to ~0.3 s with 3.
 */
const PARTITIONS_AT_ONCE = 3;
const HEARTBEAT_INTERVAL_MS = 3_000;
/**
 * Longest a fetch waits at the broker for records. A consumer's disconnect waits for
 * its fetch in flight, so kafkajs's 5 s made every stop of an idle stream take 5 s;
 * with 500 ms an idle member sends two fetches a second, which Kafka does not notice.
 */
const FETCH_MAX_WAIT_MS = 500;

/** Only errors that say a retry can help are retried; a bug or a rejected record fails the stream. */
export function isRetriable(err: unknown): boolean {
  return (err as { retriable?: unknown } | null)?.retriable === true;
}

export class SinkConsumer {
  readonly #a: SinkConsumerArgs;
  #consumer: Consumer | undefined;
  #topics: string[] = [];
  #stopped = false;
  #restarting: Promise<void> | undefined;

  constructor(args: SinkConsumerArgs) {
    this.#a = args;
  }

  /** The topics subscribed to (those added by addTopics included). */
  get topics(): readonly string[] {
    return this.#topics;
  }

  async start(topics: string[]): Promise<void> {
    this.#topics = [...topics];
    await this.#run();
  }

  /** kafkajs cannot add topics to a running consumer: stop, subscribe anew, run. */
  async addTopics(topics: string[]): Promise<void> {
    const fresh = topics.filter((t) => !this.#topics.includes(t));
    if (fresh.length === 0) return;
    this.#topics.push(...fresh);
    await this.#restart();
  }

  async #run(): Promise<void> {
    const { kafka, groupId, ctx } = this.#a;
    const consumer = kafka.consumer({
      groupId,
      // A daemon killed with SIGKILL leaves its member in the group until the session
      // times out, and its partitions unread until then: 10 s instead of kafkajs's 30 s
      // bounds that pause. Long sink writes keep the session alive (see #eachBatch).
      sessionTimeout: SESSION_TIMEOUT_MS,
      heartbeatInterval: HEARTBEAT_INTERVAL_MS,
      maxWaitTimeInMs: FETCH_MAX_WAIT_MS,
      // Restart after retriable crashes (broker restarts, rebalances): a Kafka outage
      // must not end consumption for good. Fatal sink errors stop us before this asks.
      retry: { retries: 8, initialRetryTime: 300, maxRetryTime: 10_000, restartOnFailure: async () => !this.#stopped },
    });
    this.#consumer = consumer;
    consumer.on(consumer.events.CRASH, (e) => {
      const { error, restart } = e.payload as { error: Error; restart: boolean };
      if (this.#stopped) return;
      ctx.count?.(RUN_EVENTS.KAFKA_ERROR);
      ctx.logger.warn({ err: error, restart }, 'kafka consumer crashed');
      // kafkajs gives up on errors it deems non-retriable; unless the stream is
      // failing anyway, build a new consumer so a Kafka restart cannot end delivery.
      if (!restart) void this.#restart(2000);
    });
    consumer.on(consumer.events.GROUP_JOIN, (e) => {
      const { memberId, isLeader, memberAssignment, duration } = e.payload as { memberId: string; isLeader: boolean; memberAssignment: Record<string, number[]>; duration: number };
      ctx.logger.info({ groupId, memberId, isLeader, assignment: memberAssignment, durationMs: duration }, 'kafka consumer joined its group');
    });
    await consumer.connect();
    await consumer.subscribe({ topics: this.#topics, fromBeginning: true });
    await consumer.run({
      autoCommit: false,
      eachBatchAutoResolve: false,
      partitionsConsumedConcurrently: PARTITIONS_AT_ONCE,
      eachBatch: (payload) => this.#eachBatch(consumer, payload),
    });
  }

  #restart(delayMs = 0): Promise<void> {
    this.#restarting ??= (async () => {
      try {
        const old = this.#consumer;
        this.#consumer = undefined;
        await old?.disconnect().catch(() => undefined);
        // From delayMs (or at once, then 500 ms) to 30 s, jittered; a stop of the run ends the wait.
        const backoff = new Backoff({ initialMs: delayMs || 500, maxMs: 30_000 });
        for (let attempt = 0; !this.#stopped; attempt++) {
          if (delayMs) await backoff.wait(this.#a.ctx.signal);
          if (this.#stopped || this.#a.ctx.signal.aborted) return;
          try {
            await this.#run();
            return;
          } catch (err) {
            this.#a.ctx.logger.warn({ err }, 'kafka consumer restart failed; retrying');
            await (this.#consumer as Consumer | undefined)?.disconnect().catch(() => undefined);
            delayMs ||= 500;
          }
        }
      } finally {
        this.#restarting = undefined;
      }
    })();
    return this.#restarting;
  }

  // `consumer` is the one that fetched the batch: a restart may have replaced this.#consumer.
  async #eachBatch(consumer: Consumer, { batch, resolveOffset, heartbeat, isRunning, isStale }: EachBatchPayload): Promise<void> {
    const { serde, sink, ctx, onFatal, records, origins } = this.#a;
    if (this.#stopped || batch.messages.length === 0 || !isRunning() || isStale()) return;
    const events: ChangeEvent[] = [];
    try {
      // Registry formats: the schemas the batch names, fetched once per id (an outage is retried like a sink's).
      await serde.prepareDecode(batch.topic, batch.messages);
      for (const m of batch.messages) {
        const raw = { topic: batch.topic, partition: batch.partition, offset: m.offset, key: m.key ?? null, value: m.value ?? null };
        let e: ChangeEvent | null;
        try {
          e = serde.decode({ topic: batch.topic, partition: batch.partition, offset: m.offset }, m.key, m.value);
        } catch (err) {
          if (!records || !isSluiceError(err) || err.code !== 'KAFKA_DECODE_FAILED') throw err;
          // A poison record: the policy dead-letters it (its offset is then passed over
          // with the batch) or throws the error that fails the stream.
          await records.reject(err, { raw, table: null }, ctx);
          continue;
        }
        if (e) {
          origins?.set(e, raw);
          events.push(e);
        }
      }
      // A write can take long (a slow or absent MongoDB is retried inside it): heartbeat
      // meanwhile, or the group would evict this member and hand its partitions on.
      const beat = setInterval(() => void heartbeat().catch(() => undefined), HEARTBEAT_INTERVAL_MS);
      try {
        await sink.write({ events, position: null }, ctx);
      } finally {
        clearInterval(beat);
      }
    } catch (err) {
      if (ctx.signal.aborted) {
        // Stop/pause/shutdown interrupted the write: nothing is committed, the batch is
        // redelivered to the next run. Not a sink failure.
        consumer.pause(this.#topics.map((topic) => ({ topic })));
        return;
      }
      if (isRetriable(err)) {
        ctx.logger.warn({ err, topic: batch.topic, partition: batch.partition }, 'sink write failed; kafka will redeliver the batch');
        throw err; // kafkajs retries the batch (offsets unresolved), then restarts the consumer.
      }
      this.#stopped = true;
      onFatal(err);
      // Stop fetching without committing anything of this batch; close() disconnects.
      consumer.pause(this.#topics.map((topic) => ({ topic })));
      return;
    }
    const last = batch.lastOffset();
    resolveOffset(last);
    const next = BigInt(last) + 1n;
    await consumer.commitOffsets([{ topic: batch.topic, partition: batch.partition, offset: next.toString() }]);
    await heartbeat();
  }

  async close(): Promise<void> {
    this.#stopped = true;
    await this.#restarting?.catch(() => undefined);
    await this.#consumer?.disconnect();
  }
}
