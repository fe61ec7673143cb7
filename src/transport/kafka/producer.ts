/**
 * Sending records to Kafka until it acknowledged them: the idempotent producer with
 * acks=all, retried while Kafka is away (the source waits: back-pressure, nothing
 * acked), replaced when the broker lost its producer state, and failing only for
 * records Kafka will never take. The carrier publishes the stream's batches through it,
 * the sink end its dead letters.
 */
import { CompressionTypes, Partitioners, type Kafka, type Message, type Producer } from 'kafkajs';
import { Backoff, RUN_EVENTS, abortError, worthWarning, type ConnectorContext } from '../../core';
import { SluiceError } from '../../errors';
import { TransportClosedError } from '../direct';

/**
 * Bytes of records per partition in one produce request: a partition's record batch must
 * stay under the broker's message.max.bytes (1 MiB by default), with room for framing.
 */
export const MAX_PARTITION_BYTES = 768 * 1024;

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

/** Kafka away: retries back off from 250 ms to 15 s, jittered (src/core/backoff.ts). */
const PRODUCE_BACKOFF = { initialMs: 250, maxMs: 15_000 };

export type Outgoing = { topic: string; message: Message };

export class ReliableProducer {
  readonly #kafka: Kafka;
  readonly #compression: CompressionTypes;
  #producer: Producer;
  /** False until the current producer's connect() resolved (it holds a producer id). */
  #ready = false;
  #closed = false;

  constructor(kafka: Kafka, compression: 'none' | 'gzip' | undefined) {
    this.#kafka = kafka;
    this.#compression = compression === 'gzip' ? CompressionTypes.GZIP : CompressionTypes.None;
    this.#producer = this.#newProducer();
  }

  /** The first connect (a start step: the caller races it against its stop signal). */
  async connect(): Promise<void> {
    const producer = this.#producer;
    await producer.connect();
    if (producer === this.#producer) this.#ready = true;
  }

  #newProducer(): Producer {
    return this.#kafka.producer({ idempotent: true, maxInFlightRequests: 1, createPartitioner: Partitioners.DefaultPartitioner });
  }

  /** Replaces the producer: the next attempt connects it and gets a new producer id. */
  async #replace(): Promise<void> {
    const old = this.#producer;
    this.#producer = this.#newProducer();
    this.#ready = false;
    await old.disconnect().catch(() => undefined);
  }

  /**
   * Sends `records` until Kafka acknowledged all of them, retrying while Kafka is away;
   * stops when `ctx.signal` aborts (an AbortError). Returns the last offset acknowledged
   * per "topic:partition".
   */
  async send(records: Outgoing[], ctx: ConnectorContext): Promise<Map<string, bigint>> {
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
    const since = Date.now();
    const backoff = new Backoff(PRODUCE_BACKOFF);
    for (let attempt = 0; ; attempt++) {
      if (this.#closed) throw new TransportClosedError('kafka');
      if (ctx.signal.aborted) throw abortError(ctx.signal);
      try {
        const producer = this.#producer;
        // A producer sends only once connect() resolved: kafkajs marks it connected before
        // InitProducerId, and one without a producer id would send non-idempotently.
        if (!this.#ready || attempt > 0) {
          await producer.connect();
          if (producer === this.#producer) this.#ready = true;
        }
        const results = await producer.sendBatch({ topicMessages, acks: -1, compression: this.#compression });
        const acked = new Map<string, bigint>();
        for (const r of results) {
          const tp = `${r.topicName}:${r.partition}`;
          const n = counts.get(tp);
          if (n === undefined || r.baseOffset === undefined) continue;
          acked.set(tp, BigInt(r.baseOffset) + BigInt(n - 1));
        }
        if (attempt > 0) ctx.logger.info({ attempts: attempt + 1, waitedMs: Date.now() - since }, 'publishing to Kafka resumed');
        return acked;
      } catch (err) {
        const failure = classifyProduceError(err);
        if (failure === 'rejected' && records.length > 1 && isTooLarge(err)) {
          // The broker's limit is below our slice size (message.max.bytes lowered on the
          // broker or topic): halve until it fits, or a single record proves too large.
          ctx.logger.warn({ records: records.length }, 'Kafka refused the request as too large; sending it in halves');
          const half = Math.ceil(records.length / 2);
          const first = await this.send(records.slice(0, half), ctx);
          const second = await this.send(records.slice(half), ctx);
          for (const [tp, off] of second) if (off > (first.get(tp) ?? -1n)) first.set(tp, off);
          return first;
        }
        if (failure === 'rejected') {
          throw new SluiceError('KAFKA_PUBLISH_FAILED', `Kafka rejected the records: ${(err as Error).message}`, { topics: [...byTopic.keys()] }, { cause: err });
        }
        // Kafka down or restarting: keep the batch and retry, so the source waits
        // (back-pressure, nothing acked) instead of the stream failing. A re-send after a
        // partial success, or from a new producer, duplicates records in Kafka; they are a
        // contiguous replay of this slice, which the idempotent sink absorbs.
        if (failure === 'new-producer') await this.#replace();
        ctx.count?.(RUN_EVENTS.KAFKA_ERROR);
        const delay = backoff.next();
        if (worthWarning(attempt)) {
          ctx.logger.warn({ err, attempt, retryInMs: delay, newProducer: failure === 'new-producer', waitingMs: Date.now() - since }, 'publishing to Kafka failed; retrying (the source waits)');
        }
        await backoff.wait(ctx.signal, delay);
      }
    }
  }

  /** Stops sending (later sends are TRANSPORT_CLOSED) and disconnects. */
  disconnect(): Promise<void> {
    this.#closed = true;
    return this.#producer.disconnect();
  }
}
