/**
 * The sink end of the Kafka transport: the stream's consumer group (consumer.ts), which
 * reads the table topics and hands each partition batch to the sink stage, and the
 * stream's dead-letter topic (dead-letters.ts), where the run's record-error policy puts
 * what it skips.
 *
 * It is built from plain data (the stream spec and the Kafka settings) and handed its
 * stages (the sink, the record-error handling) at start; it opens its own clients and
 * needs nothing of the source side, not even its topics (it creates them if they are
 * missing). That is the boundary at which it can run in a worker thread or a process of
 * its own (issue 17), or on `--role sink` nodes whose members form the group (issue 20).
 */
import type { Admin } from 'kafkajs';
import { abortError, parseTableName, untilAborted, type ConnectorContext, type DeadLetterQueue, type StreamSpec } from '../../core';
import { TransportClosedError } from '../direct';
import { SluiceError } from '../../errors';
import type { SinkEnd, SinkStages } from '../types';
import { KafkaClients } from './clients';
import { SinkConsumer } from './consumer';
import { KafkaDeadLetters, deadLetterTopic, type Origins } from './dead-letters';
import { ReliableProducer } from './producer';
import { createSerde, type RecordSerde, type SerdeConfig } from './record-serde';
import { recordFormatOf } from './options';
import type { KafkaSettings } from './settings';
import { ensureTopics, groupIdOf, groupLag, topicFor, topicPrefixOf } from './topics';
import { readsTopics, topicsToRead } from './topics-source';

export class KafkaSinkEnd implements SinkEnd {
  readonly deadLetters: DeadLetterQueue;
  readonly #stream: StreamSpec;
  readonly #kafka: KafkaSettings;
  readonly #prefix: string;
  /** One serde for the consumer and the dead letters (schemas fetched once). */
  readonly #serde: RecordSerde;
  /** Where each decoded event came from, for its dead letter. */
  readonly #origins: Origins = new WeakMap();
  #clients: KafkaClients | undefined;
  #admin: Admin | undefined;
  #consumer: SinkConsumer | undefined;
  /** The topics read, once started. */
  #topics: string[] = [];
  /** Made on the first dead letter. */
  #letters: ReliableProducer | undefined;
  #closed = false;
  #closing: Promise<void> | undefined;
  #fatal: { error: unknown } | undefined;
  readonly #fatalListeners = new Set<(err: unknown) => void>();

  constructor(args: { stream: StreamSpec; kafka: KafkaSettings }) {
    this.#stream = args.stream;
    this.#kafka = args.kafka;
    this.#prefix = topicPrefixOf(args.stream);
    const config: SerdeConfig = { topicPrefix: this.#prefix, format: recordFormatOf(args.stream), ...(args.kafka.schemaRegistry ? { registry: args.kafka.schemaRegistry } : {}) };
    this.#serde = createSerde(config);
    this.deadLetters = new KafkaDeadLetters(
      deadLetterTopic(this.#prefix),
      this.#origins,
      this.#serde,
      (topic) => this.#ensure([topic]),
      async (records, ctx) => void (await this.#letterProducer().send(records, ctx)),
    );
  }

  get groupId(): string {
    return groupIdOf(this.#stream);
  }

  async start(stages: SinkStages, ctx: ConnectorContext): Promise<void> {
    if (this.#closed) throw new TransportClosedError('kafka');
    const clients = new KafkaClients(this.#kafka, this.#stream, ctx.logger.child({ component: 'kafka' }));
    this.#clients = clients;
    const { signal } = ctx;
    const step = <T>(op: Promise<T>): Promise<T> => untilAborted(op, signal);
    try {
      if (signal.aborted) throw abortError(signal);
      this.#admin = clients.kafka.admin();
      await step(this.#admin.connect());
      const topics = await step(this.#topicsToRead());
      this.#topics = topics;
      this.#consumer = new SinkConsumer({
        origins: this.#origins,
        ...(stages.records ? { records: stages.records } : {}),
        kafka: clients.kafka,
        groupId: this.groupId,
        sink: stages.sink,
        serde: this.#serde,
        ctx,
        onFatal: (err) => this.#setFatal(err, ctx),
      });
      await step(this.#consumer.start(topics));
    } catch (err) {
      await this.close().catch(() => undefined);
      if (signal.aborted) throw abortError(signal);
      if (err instanceof SluiceError && err.code === 'VALIDATION_FAILED') throw err;
      throw clients.setupError(err);
    }
  }

  /**
   * The stream's own table topics, or the existing topics it reads (topics-source.ts);
   * a named topic that does not exist yet is created, as the carrier would.
   */
  async #topicsToRead(): Promise<string[]> {
    const own = !readsTopics(this.#stream);
    const topics = own ? this.#stream.tables.map((t) => topicFor(this.#prefix, parseTableName(t))) : await topicsToRead(this.#admin!, this.#stream, [deadLetterTopic(this.#prefix)]);
    if (own || this.#stream.source.topics) await this.#ensure(topics);
    return topics;
  }

  /** Records in the topics read past what the stream's group committed; null before start. */
  async lag(): Promise<number | null> {
    if (!this.#admin || this.#closed) return null;
    return groupLag(this.#admin, this.groupId, [...this.#topics, ...(this.#consumer?.topics ?? [])]);
  }

  #ensure(topics: string[]): Promise<void> {
    return ensureTopics(this.#admin!, topics, this.#kafka.topicPartitions ?? 3, this.#kafka.replicationFactor ?? -1);
  }

  #letterProducer(): ReliableProducer {
    if (!this.#clients || this.#closed) throw new TransportClosedError('kafka');
    this.#letters ??= new ReliableProducer(this.#clients.kafka, this.#kafka.compression);
    return this.#letters;
  }

  follow(topics: string[]): Promise<void> {
    if (!this.#consumer) return Promise.reject(new TransportClosedError('kafka'));
    return this.#consumer.addTopics(topics);
  }

  onFatal(listener: (err: unknown) => void): () => void {
    if (this.#fatal) queueMicrotask(() => listener(this.#fatal!.error));
    else this.#fatalListeners.add(listener);
    return () => this.#fatalListeners.delete(listener);
  }

  #setFatal(err: unknown, ctx: ConnectorContext): void {
    if (this.#fatal) return;
    this.#fatal = { error: err };
    ctx.logger.error({ err }, 'the sink failed for good; the stream stops');
    for (const l of this.#fatalListeners) l(err);
    this.#fatalListeners.clear();
  }

  /** Disconnects the consumer, the dead-letter producer and the admin (see clients.ts for the bounds). Idempotent. */
  close(): Promise<void> {
    this.#closed = true;
    this.#closing ??= this.#clients
      ? this.#clients.close([
          ['consumer', () => this.#consumer?.close()],
          ['dead-letter producer', () => this.#letters?.disconnect()],
          ['admin', () => this.#admin?.disconnect()],
        ])
      : Promise.resolve();
    this.#serde.close?.();
    return this.#closing;
  }
}
