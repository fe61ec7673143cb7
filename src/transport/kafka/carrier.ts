/**
 * The source end of the Kafka transport, a carrier: it publishes Debezium JSON to one
 * topic per table with the idempotent producer (acks=all), and `publish` resolves only
 * once Kafka acknowledged every record, so the source acks only durable positions
 * (delivery contract 1). It knows no sink: what reads the topics is the sink end
 * (sink-end.ts), which the pipeline builds and hands its stages. Only Kafka ties the
 * two: `flush` and `lag` ask the stream's consumer group what it committed.
 */
import type { Admin, Message, PartitionMetadata } from 'kafkajs';
import { RUN_EVENTS, abortError, parseTableName, sleep, untilAborted, type ConnectorContext, type EventBatch, type StreamSpec, type TableRef } from '../../core';
import type { Transport } from '../types';
import { TransportClosedError } from '../direct';
import { createSerde, type RecordSerde } from './record-serde';
import { recordFormatOf } from './options';
import { ensureTopics, groupIdOf, groupLag, topicFor, topicPrefixOf } from './topics';
import { partitionOf } from './partition';
import { KafkaClients } from './clients';
import { MAX_PARTITION_BYTES, ReliableProducer, sliceBySize } from './producer';
import type { KafkaSettings } from './settings';

export interface KafkaCarrierArgs {
  stream: StreamSpec;
  kafka: KafkaSettings;
  /**
   * Called with topics made after start (a table outside `stream.tables`), before records
   * go there, so the sink end reads them too.
   */
  follow?: (topics: string[]) => Promise<void>;
}

const POLL_MS = 50;
/** Record framing and headers, roughly, on top of key and value. */
const RECORD_OVERHEAD = 64;

export class KafkaCarrier implements Transport {
  readonly kind = 'kafka';
  readonly #args: KafkaCarrierArgs;
  readonly #serde: RecordSerde;
  readonly #prefix: string;
  readonly #groupId: string;
  #clients: KafkaClients | undefined;
  #admin: Admin | undefined;
  #producer: ReliableProducer | undefined;
  #partitions = new Map<string, PartitionMetadata[]>();
  /** Highest offset produced, per "topic:partition". */
  readonly #produced = new Map<string, bigint>();
  /** Next offset to read, as the consumer group committed it, per "topic:partition" (asked of Kafka). */
  readonly #committed = new Map<string, bigint>();
  #tail: Promise<void> = Promise.resolve();
  #failure: { error: unknown } | undefined;
  #closed = false;
  #closing: Promise<void> | undefined;

  constructor(args: KafkaCarrierArgs) {
    this.#args = args;
    this.#prefix = topicPrefixOf(args.stream);
    this.#groupId = groupIdOf(args.stream);
    this.#serde = createSerde({ topicPrefix: this.#prefix, format: recordFormatOf(args.stream), ...(args.kafka.schemaRegistry ? { registry: args.kafka.schemaRegistry } : {}) });
  }

  get topicPrefix(): string {
    return this.#prefix;
  }

  get groupId(): string {
    return this.#groupId;
  }

  /** The stream's table topics, as start creates them. */
  get topics(): string[] {
    return this.#args.stream.tables.map((t) => topicFor(this.#prefix, parseTableName(t)));
  }

  async start(ctx: ConnectorContext): Promise<void> {
    if (this.#closed) throw new TransportClosedError(this.kind);
    const clients = new KafkaClients(this.#args.kafka, this.#args.stream, ctx.logger.child({ component: 'kafka' }));
    this.#clients = clients;
    const { signal } = ctx;
    const step = <T>(op: Promise<T>): Promise<T> => untilAborted(op, signal);
    try {
      if (signal.aborted) throw abortError(signal);
      this.#admin = clients.kafka.admin();
      await step(this.#admin.connect());
      await step(this.#addTopics(this.topics));
      this.#producer = new ReliableProducer(clients.kafka, this.#args.kafka.compression);
      await step(this.#producer.connect());
    } catch (err) {
      await this.close().catch(() => undefined);
      // A stop during the start is a stop (the run ends aborted), not Kafka being away.
      if (signal.aborted) throw abortError(signal);
      throw clients.setupError(err);
    }
  }

  async #addTopics(topics: string[]): Promise<void> {
    const k = this.#args.kafka;
    await ensureTopics(this.#admin!, topics, k.topicPartitions ?? 3, k.replicationFactor ?? -1);
    const meta = await this.#admin!.fetchTopicMetadata({ topics });
    for (const t of meta.topics) this.#partitions.set(t.name, t.partitions);
  }

  publish(batch: EventBatch, ctx: ConnectorContext): Promise<void> {
    if (this.#closed || !this.#producer) return Promise.reject(new TransportClosedError(this.kind));
    if (batch.events.length === 0) return Promise.resolve();
    // Chained so batches reach Kafka in publish order even under retries (several may be
    // in flight: run.ts). Once one failed, the batches queued behind it fail too: they
    // must not overtake it into Kafka (per-key order); the run restarts from its last
    // saved position, which is before the failed batch.
    const run = this.#tail.then(() => {
      if (this.#failure) throw this.#failure.error;
      return this.#publish(batch, ctx).catch((error: unknown) => {
        this.#failure ??= { error };
        throw error;
      });
    });
    this.#tail = run.catch(() => undefined);
    return run;
  }

  async #publish(batch: EventBatch, ctx: ConnectorContext): Promise<void> {
    // Tables outside stream.tables get their topic (and the sink end's subscription) on first sight.
    const unknown = [...new Set(batch.events.map((e) => this.#topic(e.table)))].filter((t) => !this.#partitions.has(t));
    if (unknown.length) {
      await this.#addTopics(unknown);
      await this.#args.follow?.(unknown);
    }
    // Registry formats: a table version's schemas are registered before its first record.
    await this.#serde.prepare(batch.events);
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
    for (const slice of sliceBySize(records, MAX_PARTITION_BYTES, (r) => `${r.topic}:${r.message.partition}`)) {
      const acked = await this.#producer!.send(slice, ctx);
      for (const [tp, last] of acked) if (last > (this.#produced.get(tp) ?? -1n)) this.#produced.set(tp, last);
    }
  }

  #topic(t: TableRef): string {
    return topicFor(this.#prefix, t);
  }

  /** Waits until the stream's consumer group committed past everything this carrier produced. */
  async flush(ctx: ConnectorContext): Promise<void> {
    await this.#tail;
    for (;;) {
      if (this.#closed) throw new TransportClosedError(this.kind);
      if (ctx.signal.aborted) throw abortError(ctx.signal);
      const behind = [...this.#produced].filter(([tp, off]) => (this.#committed.get(tp) ?? -1n) <= off);
      if (behind.length === 0) return;
      // The group's members (here or elsewhere) committed what they wrote: ask Kafka.
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
      await sleep(POLL_MS * 4, ctx.signal);
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
    return groupLag(admin, this.#groupId, [...this.#partitions.keys()]);
  }

  /** Disconnects producer and admin (see clients.ts for the bounds). Idempotent. */
  close(): Promise<void> {
    this.#closed = true;
    this.#closing ??= this.#clients
      ? this.#clients.close([
          ['producer', () => this.#producer?.disconnect()],
          ['admin', () => this.#admin?.disconnect()],
        ])
      : Promise.resolve();
    this.#serde.close?.();
    return this.#closing;
  }
}
