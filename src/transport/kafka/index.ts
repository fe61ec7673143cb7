/**
 * The Kafka transport: the source side publishes Debezium JSON to one topic per table
 * with the idempotent producer (acks=all), and `publish` resolves only once Kafka
 * acknowledged every record, so the source acks only durable positions (contract 1).
 * The sink side is a consumer group (see consumer.ts) that commits after the sink.
 */
import { CompressionTypes, Kafka, logLevel, Partitioners, type Admin, type Message, type PartitionMetadata, type Producer } from 'kafkajs';
import { RUN_EVENTS, parseTableName, type ConnectorContext, type EventBatch, type Sink, type StreamSpec, type TableRef } from '../../core';
import type { Transport, RecordErrorHandler } from '../types';
import { SluiceError } from '../../errors';
import { TransportClosedError } from '../direct';
import { DebeziumSerde } from './serde';
import { ensureTopics, topicFor, topicPrefixOf } from './topics';
import { SinkConsumer } from './consumer';
import { partitionOf } from './partition';
import { KafkaDeadLetters, deadLetterTopic, type Origins } from './dead-letters';
import { KafkaSockets } from './sockets';
import type { KafkaSettings } from './settings';

export interface KafkaTransportArgs {
  sink: Sink;
  stream: StreamSpec;
  kafka: KafkaSettings;
  /** The run's record-error policy: undecodable records go to it, dead letters to our topic. */
  records?: RecordErrorHandler;
}

const POLL_MS = 50;
/**
 * Bytes of records per partition in one produce request: a partition's record batch must
 * stay under the broker's message.max.bytes (1 MiB by default), with room for framing.
 */
export const MAX_PARTITION_BYTES = 768 * 1024;
/** Record framing and headers, roughly, on top of key and value. */
const RECORD_OVERHEAD = 64;

/**
 * Splits `items` in order into runs in which no group (partition) holds more than `max`
 * bytes; an item larger than `max` goes alone. Without `groupOf`, all items are one group.
 */
export function sliceBySize<T extends { size: number }>(items: T[], max: number, groupOf: (item: T) => string = () => ''): T[][] {
  const out: T[][] = [];
  let cur: T[] = [];
  let bytes = new Map<string, number>();
  for (const it of items) {
    const group = groupOf(it);
    const held = bytes.get(group) ?? 0;
    if (cur.length > 0 && held + it.size > max) {
      out.push(cur);
      cur = [];
      bytes = new Map();
    }
    cur.push(it);
    bytes.set(group, (bytes.get(group) ?? 0) + it.size);
  }
  if (cur.length > 0) out.push(cur);
  return out;
}

/**
 * Broker errors that say these records will never be accepted as they are: retrying
 * would hold the stream in a silent loop, so the stream fails with the broker's word.
 */
const REJECTED = new Set([
  'MESSAGE_TOO_LARGE',
  'RECORD_LIST_TOO_LARGE',
  'INVALID_RECORD',
  'INVALID_TOPIC_EXCEPTION',
  'TOPIC_AUTHORIZATION_FAILED',
  'CLUSTER_AUTHORIZATION_FAILED',
  'UNSUPPORTED_COMPRESSION_TYPE',
  'UNSUPPORTED_FOR_MESSAGE_FORMAT',
]);
/**
 * The broker no longer knows this idempotent producer's id, epoch or sequence (its state
 * was lost or expired, e.g. across a broker restart). kafkajs never re-initializes the
 * producer id of a connected producer, so every retry would fail the same way: only a
 * new producer (new id, sequences from 0) gets records accepted again.
 */
const PRODUCER_STATE = new Set([
  'OUT_OF_ORDER_SEQUENCE_NUMBER',
  'UNKNOWN_PRODUCER_ID',
  'INVALID_PRODUCER_EPOCH',
  'INVALID_PRODUCER_ID_MAPPING',
  'DUPLICATE_SEQUENCE_NUMBER',
  'PRODUCER_FENCED',
]);

function isTooLarge(err: unknown): boolean {
  for (let e = err as { type?: unknown; cause?: unknown } | undefined, depth = 0; e && depth < 8; e = e.cause as typeof e, depth++) {
    if (e.type === 'MESSAGE_TOO_LARGE' || e.type === 'RECORD_LIST_TOO_LARGE') return true;
  }
  return false;
}

export type ProduceFailure = 'retry' | 'new-producer' | 'rejected';

/**
 * What a failed `sendBatch` calls for. kafkajs wraps the broker's error (retries
 * exhausted, non-retriable) in `cause`, so the whole chain is looked at.
 */
export function classifyProduceError(err: unknown): ProduceFailure {
  let producerState = false;
  for (let e = err as { type?: unknown; cause?: unknown } | undefined, depth = 0; e && depth < 8; e = e.cause as typeof e, depth++) {
    if (typeof e.type === 'string' && REJECTED.has(e.type)) return 'rejected';
    if (typeof e.type === 'string' && PRODUCER_STATE.has(e.type)) producerState = true;
  }
  // Anything else (connection refused or closed, retries exhausted, leader moving,
  // coordinator loading, timeouts, a socket torn down mid-request) is Kafka being away
  // or busy: keep trying, so the stream resumes by itself when Kafka is back.
  return producerState ? 'new-producer' : 'retry';
}

/** Warn on the first attempts, then ever more rarely (attempts 8, 16, 32, ...), at least every 40th. */
export function shouldWarn(attempt: number): boolean {
  return attempt < 4 || (attempt & (attempt - 1)) === 0 || attempt % 40 === 0;
}

function abortError(signal: AbortSignal): Error {
  const err = new Error('the operation was aborted', { cause: signal.reason });
  err.name = 'AbortError';
  return err;
}

/**
 * `op`, or an AbortError as soon as `signal` aborts: a stop must not wait for a
 * connect, a topic creation or a group join. The abandoned step is cleaned up by close().
 */
function untilAborted<T>(op: Promise<T>, signal: AbortSignal): Promise<T> {
  if (signal.aborted) {
    op.catch(() => undefined);
    return Promise.reject(abortError(signal));
  }
  return new Promise<T>((resolve, reject) => {
    const onAbort = (): void => reject(abortError(signal));
    signal.addEventListener('abort', onAbort, { once: true });
    op.then(
      (v) => {
        signal.removeEventListener('abort', onAbort);
        resolve(v);
      },
      (e: unknown) => {
        signal.removeEventListener('abort', onAbort);
        reject(e);
      },
    );
  });
}

/**
 * How long close() waits for each client to disconnect. A consumer in the middle of a
 * group join or rebalance only disconnects once that round ends (up to the session
 * timeout and more); it is stopped already (it fetches and writes nothing more) and
 * leaves the group in the background.
 */
export const CLOSE_WAIT_MS = 2000;
/**
 * How long after close() returned a client it gave up on may go on disconnecting in the
 * background (a consumer that leaves its group cleanly lets the next run join at once).
 * Then every socket the transport still holds is destroyed and it opens no new one: no
 * connection of a closed transport outlives its close() by more than this, and close()
 * itself returns within 3 x CLOSE_WAIT_MS.
 */
export const ABANDON_AFTER_MS = 5000;

/** Resolves after `ms`, or early when `signal` aborts or `wake` fires. */
function sleep(ms: number, signal: AbortSignal, wake?: Promise<unknown>): Promise<void> {
  return new Promise((resolve) => {
    const t = setTimeout(done, ms);
    function done() {
      clearTimeout(t);
      signal.removeEventListener('abort', done);
      resolve();
    }
    signal.addEventListener('abort', done, { once: true });
    wake?.then(done, done);
  });
}

export class KafkaTransport implements Transport {
  readonly kind = 'kafka';
  readonly #args: KafkaTransportArgs;
  readonly #serde: DebeziumSerde;
  readonly #prefix: string;
  readonly #groupId: string;
  #kafka: Kafka | undefined;
  #admin: Admin | undefined;
  #producer: Producer | undefined;
  /** False until the current producer's connect() resolved (it holds a producer id). */
  #producerReady = false;
  #consumer: SinkConsumer | undefined;
  readonly #sockets = new KafkaSockets();
  #partitions = new Map<string, PartitionMetadata[]>();
  /** Highest offset produced, per "topic:partition". */
  readonly #produced = new Map<string, bigint>();
  /** Next offset to read, as committed by our own consumer, per "topic:partition". */
  readonly #committed = new Map<string, bigint>();
  #tail: Promise<void> = Promise.resolve();
  #closed = false;
  #log: ConnectorContext['logger'] | undefined;
  #closing: Promise<void> | undefined;
  #fatal: { error: unknown } | undefined;
  #fatalWake!: () => void;
  readonly #fatalPromise = new Promise<void>((r) => (this.#fatalWake = r));
  readonly #fatalListeners = new Set<(err: unknown) => void>();

  constructor(args: KafkaTransportArgs) {
    this.#args = args;
    this.#prefix = topicPrefixOf(args.stream);
    this.#groupId = `sluice.${args.stream.id}`;
    this.#serde = new DebeziumSerde(this.#prefix);
  }

  get topicPrefix(): string {
    return this.#prefix;
  }
  get groupId(): string {
    return this.#groupId;
  }
  /** The sink's non-retriable error once the consumer hit one. */
  get fatalError(): unknown {
    return this.#fatal?.error;
  }

  /**
   * Calls `listener` once when the sink side fails for good (immediately if it already
   * has). The run loop can use it to fail the stream while the source is idle; it
   * returns an unsubscribe function.
   */
  onFatal(listener: (err: unknown) => void): () => void {
    if (this.#fatal) queueMicrotask(() => listener(this.#fatal!.error));
    else this.#fatalListeners.add(listener);
    return () => this.#fatalListeners.delete(listener);
  }

  async start(ctx: ConnectorContext): Promise<void> {
    if (this.#closed) throw new TransportClosedError(this.kind);
    const k = this.#args.kafka;
    const brokers = (Array.isArray(k.brokers) ? k.brokers : k.brokers.split(',')).map((b) => b.trim()).filter(Boolean);
    const log = ctx.logger.child({ component: 'kafka' });
    this.#log = log;
    this.#kafka = new Kafka({
      clientId: `${k.clientId ?? 'sluice'}-${this.#args.stream.id}`,
      brokers,
      socketFactory: this.#sockets.factory,
      logLevel: logLevel.WARN,
      logCreator: () => ({ level, log: entry }) => {
        // Clients cut off after close() complain about their destroyed sockets: expected.
        if (this.#sockets.cut) return;
        const { message, ...rest } = entry;
        if (level <= logLevel.ERROR) log.error(rest, message);
        else log.warn(rest, message);
      },
      retry: { retries: 5, initialRetryTime: 300, maxRetryTime: 5000 },
    });
    const { signal } = ctx;
    const step = <T>(op: Promise<T>): Promise<T> => untilAborted(op, signal);
    try {
      if (signal.aborted) throw abortError(signal);
      this.#admin = this.#kafka.admin();
      await step(this.#admin.connect());
      const topics = this.#args.stream.tables.map((t) => topicFor(this.#prefix, parseTableName(t)));
      await step(this.#addTopics(topics));
      this.#producer = this.#newProducer();
      await step(this.#producer.connect());
      this.#producerReady = true;
      const origins: Origins = new WeakMap();
      const k2 = this.#args.kafka;
      this.#args.records?.useQueue(
        new KafkaDeadLetters(
          deadLetterTopic(this.#prefix),
          origins,
          this.#serde,
          (topic) => ensureTopics(this.#admin!, [topic], k2.topicPartitions ?? 3, k2.replicationFactor ?? -1),
          (records, c) => this.#send(records, c),
        ),
      );
      this.#consumer = new SinkConsumer({
        origins,
        ...(this.#args.records ? { records: this.#args.records } : {}),
        kafka: this.#kafka,
        groupId: this.#groupId,
        sink: this.#args.sink,
        serde: new DebeziumSerde(this.#prefix),
        ctx,
        committed: this.#committed,
        onFatal: (err) => this.#setFatal(err, ctx),
      });
      await step(this.#consumer.start(topics));
    } catch (err) {
      await this.close().catch(() => undefined);
      // A stop during the start is a stop (the run ends aborted), not Kafka being away.
      if (signal.aborted) throw abortError(signal);
      throw new SluiceError('KAFKA_UNREACHABLE', `cannot set up the Kafka transport on ${brokers.join(',')}: ${(err as Error).message}`, { brokers }, { cause: err });
    }
  }

  #newProducer(): Producer {
    return this.#kafka!.producer({ idempotent: true, maxInFlightRequests: 1, createPartitioner: Partitioners.DefaultPartitioner });
  }

  /** Replaces the producer: the next attempt connects it and gets a new producer id. */
  async #replaceProducer(): Promise<void> {
    const old = this.#producer;
    this.#producer = this.#newProducer();
    this.#producerReady = false;
    await old?.disconnect().catch(() => undefined);
  }

  #setFatal(err: unknown, ctx: ConnectorContext): void {
    if (this.#fatal) return;
    this.#fatal = { error: err };
    ctx.logger.error({ err }, 'the sink failed for good; the stream stops');
    this.#fatalWake();
    for (const l of this.#fatalListeners) l(err);
    this.#fatalListeners.clear();
  }

  async #addTopics(topics: string[]): Promise<void> {
    const k = this.#args.kafka;
    await ensureTopics(this.#admin!, topics, k.topicPartitions ?? 3, k.replicationFactor ?? -1);
    const meta = await this.#admin!.fetchTopicMetadata({ topics });
    for (const t of meta.topics) this.#partitions.set(t.name, t.partitions);
  }

  publish(batch: EventBatch, ctx: ConnectorContext): Promise<void> {
    if (this.#fatal) return Promise.reject(this.#fatal.error);
    if (this.#closed || !this.#producer) return Promise.reject(new TransportClosedError(this.kind));
    if (batch.events.length === 0) return Promise.resolve();
    // Chained so batches reach Kafka in publish order even under retries.
    const run = this.#tail.then(() => this.#publish(batch, ctx));
    this.#tail = run.catch(() => undefined);
    return run;
  }

  async #publish(batch: EventBatch, ctx: ConnectorContext): Promise<void> {
    // Tables outside stream.tables get their topic (and a subscription) on first sight.
    const unknown = [...new Set(batch.events.map((e) => this.#topic(e.table)))].filter((t) => !this.#partitions.has(t));
    if (unknown.length) {
      await this.#addTopics(unknown);
      await this.#consumer!.addTopics(unknown);
    }
    const tombstones = this.#args.kafka.tombstones ?? true;
    const records: Array<{ topic: string; message: Message & { partition: number }; size: number }> = [];
    for (const e of batch.events) {
      const topic = this.#topic(e.table);
      // Buffers, encoded once: kafkajs would otherwise convert the strings again.
      const key = Buffer.from(this.#serde.encodeKey(e));
      // Partitioned here as the default partitioner would (partition.ts), so we know how
      // many records each partition got and can keep each partition's batch in bounds.
      const partition = partitionOf(key, this.#partitions.get(topic)!.length);
      const value = Buffer.from(this.#serde.encodeValue(e));
      records.push({ topic, message: { key, value, partition }, size: key.length + value.length + RECORD_OVERHEAD });
      if (e.op === 'd' && tombstones) records.push({ topic, message: { key, value: null, partition }, size: key.length + RECORD_OVERHEAD });
    }
    // One produce request per slice, in order, each partition's share of it under the
    // broker's message.max.bytes: an uncompressed snapshot chunk of Debezium JSON (~3 KiB
    // a row with its schema) is several MiB.
    for (const slice of sliceBySize(records, MAX_PARTITION_BYTES, (r) => `${r.topic}:${r.message.partition}`)) await this.#send(slice, ctx);
  }

  /** Sends one slice until Kafka acknowledged all of it; retries while Kafka is away. */
  async #send(records: Array<{ topic: string; message: Message }>, ctx: ConnectorContext): Promise<void> {
    const byTopic = new Map<string, Message[]>();
    const counts = new Map<string, number>();
    for (const { topic, message } of records) {
      let msgs = byTopic.get(topic);
      if (!msgs) byTopic.set(topic, (msgs = []));
      msgs.push(message);
      const tp = `${topic}:${message.partition}`;
      counts.set(tp, (counts.get(tp) ?? 0) + 1);
    }
    const topicMessages = [...byTopic].map(([topic, messages]) => ({ topic, messages }));
    const compression = this.#args.kafka.compression === 'gzip' ? CompressionTypes.GZIP : CompressionTypes.None;
    const since = Date.now();
    for (let attempt = 0; ; attempt++) {
      if (this.#fatal) throw this.#fatal.error;
      if (this.#closed) throw new TransportClosedError(this.kind);
      if (ctx.signal.aborted) throw abortError(ctx.signal);
      try {
        const producer = this.#producer!;
        // A producer sends only once connect() resolved: kafkajs marks it connected before
        // InitProducerId, and one without a producer id would send non-idempotently.
        if (!this.#producerReady || attempt > 0) {
          await producer.connect();
          if (producer === this.#producer) this.#producerReady = true;
        }
        const results = await producer.sendBatch({ topicMessages, acks: -1, compression });
        for (const r of results) {
          const tp = `${r.topicName}:${r.partition}`;
          const n = counts.get(tp);
          if (n === undefined || r.baseOffset === undefined) continue;
          const last = BigInt(r.baseOffset) + BigInt(n - 1);
          if (last > (this.#produced.get(tp) ?? -1n)) this.#produced.set(tp, last);
        }
        if (attempt > 0) ctx.logger.info({ attempts: attempt + 1, waitedMs: Date.now() - since }, 'publishing to Kafka resumed');
        return;
      } catch (err) {
        const failure = classifyProduceError(err);
        if (failure === 'rejected' && records.length > 1 && isTooLarge(err)) {
          // The broker's limit is below our slice size (message.max.bytes lowered on the
          // broker or topic): halve until it fits, or a single record proves too large.
          ctx.logger.warn({ records: records.length }, 'Kafka refused the request as too large; sending it in halves');
          const half = Math.ceil(records.length / 2);
          await this.#send(records.slice(0, half), ctx);
          await this.#send(records.slice(half), ctx);
          return;
        }
        if (failure === 'rejected') {
          throw new SluiceError('KAFKA_PUBLISH_FAILED', `Kafka rejected the records: ${(err as Error).message}`, { topics: [...byTopic.keys()] }, { cause: err });
        }
        // Kafka down or restarting: keep the batch and retry, so the source waits
        // (back-pressure, nothing acked) instead of the stream failing. A re-send after a
        // partial success, or from a new producer, duplicates records in Kafka; they are a
        // contiguous replay of this slice, which the idempotent sink absorbs.
        if (failure === 'new-producer') await this.#replaceProducer();
        ctx.count?.(RUN_EVENTS.KAFKA_ERROR);
        const delay = Math.min(250 * 2 ** attempt, 15_000);
        if (shouldWarn(attempt)) {
          ctx.logger.warn({ err, attempt, retryInMs: delay, newProducer: failure === 'new-producer', waitingMs: Date.now() - since }, 'publishing to Kafka failed; retrying (the source waits)');
        }
        await sleep(delay, ctx.signal, this.#fatalPromise);
      }
    }
  }

  #topic(t: TableRef): string {
    return topicFor(this.#prefix, t);
  }

  /** Waits until the consumer group committed past everything this transport produced. */
  async flush(ctx: ConnectorContext): Promise<void> {
    await this.#tail;
    for (;;) {
      if (this.#fatal) throw this.#fatal.error;
      if (this.#closed) throw new TransportClosedError(this.kind);
      if (ctx.signal.aborted) throw abortError(ctx.signal);
      const behind = [...this.#produced].filter(([tp, off]) => (this.#committed.get(tp) ?? -1n) <= off);
      if (behind.length === 0) return;
      // Another member of the group may hold those partitions: ask Kafka.
      try {
        const topics = [...new Set(behind.map(([tp]) => tp.slice(0, tp.lastIndexOf(':'))))];
        const offsets = await this.#admin!.fetchOffsets({ groupId: this.#groupId, topics });
        for (const t of offsets) {
          for (const p of t.partitions) {
            const tp = `${t.topic}:${p.partition}`;
            const c = BigInt(p.offset);
            if (c > (this.#committed.get(tp) ?? -1n)) this.#committed.set(tp, c);
          }
        }
        if (behind.every(([tp, off]) => (this.#committed.get(tp) ?? -1n) > off)) return;
      } catch (err) {
        ctx.count?.(RUN_EVENTS.KAFKA_ERROR);
        ctx.logger.warn({ err }, 'reading the consumer group offsets failed; retrying');
      }
      await sleep(POLL_MS * 4, ctx.signal, this.#fatalPromise);
    }
  }

  /**
   * Consumer lag: records in the stream's topics (high watermark) past what its
   * group committed, summed over partitions. Asks Kafka, so other members of the
   * group and earlier runs count too; null before start.
   */
  async lag(): Promise<number | null> {
    const admin = this.#admin;
    if (!admin || this.#closed) return null;
    const topics = [...this.#partitions.keys()];
    if (topics.length === 0) return 0;
    const committed = new Map<string, bigint>();
    for (const t of await admin.fetchOffsets({ groupId: this.#groupId, topics })) {
      for (const p of t.partitions) committed.set(`${t.topic}:${p.partition}`, BigInt(p.offset));
    }
    let lag = 0n;
    for (const topic of topics) {
      for (const p of await admin.fetchTopicOffsets(topic)) {
        const high = BigInt(p.high);
        const low = BigInt(p.low);
        const c = committed.get(`${topic}:${p.partition}`) ?? -1n;
        // -1: nothing committed yet, so everything still in the log is behind.
        const from = c < low ? low : c;
        if (high > from) lag += high - from;
      }
    }
    return Number(lag);
  }

  /**
   * Disconnects consumer, producer and admin, waiting at most CLOSE_WAIT_MS for each;
   * one still busy (a consumer mid-rebalance, a producer mid-connect) finishes
   * disconnecting in the background. Idempotent.
   */
  close(): Promise<void> {
    this.#closed = true;
    this.#closing ??= (async () => {
      const errors: unknown[] = [];
      const parts: Array<[string, () => Promise<void> | undefined]> = [
        ['consumer', () => this.#consumer?.close()],
        ['producer', () => this.#producer?.disconnect()],
        ['admin', () => this.#admin?.disconnect()],
      ];
      for (const [name, stop] of parts) {
        let timer: NodeJS.Timeout | undefined;
        try {
          const done = stop();
          if (!done) continue;
          const late = await Promise.race([
            done.then(() => false),
            new Promise<boolean>((r) => (timer = setTimeout(() => r(true), CLOSE_WAIT_MS))),
          ]);
          if (late) {
            done.catch(() => undefined);
            this.#log?.info({ client: name, waitedMs: CLOSE_WAIT_MS }, 'kafka client still disconnecting; it finishes in the background');
          }
        } catch (err) {
          errors.push(err);
        } finally {
          clearTimeout(timer);
        }
      }
      this.#abandon();
      if (errors.length) throw errors[0];
    })();
    return this.#closing;
  }

  /** Cuts off what close() left disconnecting in the background, after ABANDON_AFTER_MS. */
  #abandon(): void {
    if (this.#sockets.open === 0) {
      this.#sockets.destroyAll();
      return;
    }
    // Unref'd: sockets that kafkajs closed do not hold the process; ones still in use do, until this fires.
    setTimeout(() => {
      const n = this.#sockets.destroyAll();
      if (n) this.#log?.info({ sockets: n, afterMs: ABANDON_AFTER_MS }, 'kafka clients were still disconnecting; destroyed their connections');
    }, ABANDON_AFTER_MS).unref();
  }
}

export function createKafkaTransport(args: KafkaTransportArgs): KafkaTransport {
  return new KafkaTransport(args);
}
