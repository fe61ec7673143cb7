import type { ChangeEvent, ConnectorContext, DeadLetter, DeadLetterQueue, EventBatch, Sink, StreamSpec } from '../core';
import type { SluiceError } from '../errors';
import type { KafkaSettings } from './kafka/settings';

/**
 * The transport carries batches from a stream's source to its sink. `publish`
 * resolves only once the batch is durable in the transport (Kafka acks=all, or,
 * for the direct transport, written to the sink): only then may the source ack.
 * A slow or absent consumer makes `publish` wait: that is the back-pressure.
 */
export interface Transport {
  readonly kind: string;
  start(ctx: ConnectorContext): Promise<void>;
  publish(batch: EventBatch, ctx: ConnectorContext): Promise<void>;
  /**
   * Resolves once everything published so far has reached the sink (for Kafka:
   * the consumer group has written and committed it). SNAPSHOT mode calls it
   * before reporting COMPLETED. The direct transport is always flushed.
   */
  flush?(ctx: ConnectorContext): Promise<void>;
  /**
   * Registers a listener for a failure the transport cannot recover from on its
   * own side (the Kafka consumer's sink refused a record), so the run fails even
   * while the source is idle. Returns the unsubscribe function.
   */
  onFatal?(listener: (err: unknown) => void): () => void;
  /** Records published and not yet committed by the sink side (Kafka consumer lag); polled for metrics. */
  lag?(): Promise<number | null>;
  close(): Promise<void>;
}

export interface TransportFactoryArgs {
  /** Owned by the caller: a transport writes to it but never closes it. */
  sink: Sink;
  /** The stream being carried; a Kafka transport names its topics after it. */
  stream?: StreamSpec;
  /** Brokers and producer/topic settings (config kafka.*); required for kind 'kafka'. */
  kafka?: KafkaSettings;
  /**
   * The run's record-error policy: a transport hands it the records it cannot decode, and
   * may route dead letters to its own queue (Kafka: the stream's dead-letter topic).
   */
  records?: RecordErrorHandler;
}

/** `kind` is the stream's `transport.kind` ('direct', 'kafka'). */
export type TransportFactory = (kind: string, args: TransportFactoryArgs) => Transport;

/** What a transport calls with a record it cannot hand on (a Kafka record that does not decode). */
export interface RecordErrorHandler {
  /** Resolves once the record is dead-lettered; throws the error that fails the run. */
  reject(error: SluiceError, record: { event?: ChangeEvent; raw?: DeadLetter['raw']; table?: string | null }, ctx: ConnectorContext): Promise<void>;
  /** Lets the transport route dead letters elsewhere (the Kafka dead-letter topic). */
  useQueue(queue: DeadLetterQueue): void;
}
