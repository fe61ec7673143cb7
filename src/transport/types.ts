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

/** What the pipeline hands the far end of a transport: the stages after it. */
export interface SinkStages {
  /** Maps rows to documents and writes them (the sink connector, wrapped by the record-error policy and the meter). Owned by the caller: a transport writes to it but never closes it. */
  sink: Sink;
  /** The run's record-error handling: records the far end cannot decode go here; without it they fail the stream. */
  records?: RecordErrorHandler;
}

/**
 * The far end of a two-ended transport (Kafka's consumer group): it reads what the
 * carrier carried and hands it to the sink stage. Built from plain data (the stream,
 * the transport's settings) and handed its stages at start, it needs nothing of the
 * source side, so it can run apart from it (a worker thread, a process, a `--role sink`
 * node); what crosses between the ends is `follow` (a new channel) and `onFatal`.
 */
export interface SinkEnd {
  /** Where the run's record-error policy puts dead letters on this transport (Kafka: the stream's dead-letter topic). */
  readonly deadLetters: DeadLetterQueue;
  start(stages: SinkStages, ctx: ConnectorContext): Promise<void>;
  /** Reads these channels (Kafka topics) too: the carrier made them after start. */
  follow(channels: string[]): Promise<void>;
  /** Calls `listener` once this end fails for good (the sink refused a record); returns the unsubscribe function. */
  onFatal(listener: (err: unknown) => void): () => void;
  /** Records in the channels it reads not yet committed (Kafka consumer lag); for a carrier that cannot tell. */
  lag?(): Promise<number | null>;
  close(): Promise<void>;
}

/** One stream's transport, as its kind builds it: the far end alone, and both ends in this process. */
export interface TransportEnds {
  readonly kind: string;
  /** The far end, for a transport that has one (Kafka); none when the carrier writes to the sink itself (direct). */
  sinkEnd?(): SinkEnd;
  /**
   * The plain data the far end is built from, when it runs apart from the source side (a
   * sink worker, src/runtime/sink-worker): `transportEnds(kind, stream, settings).sinkEnd()`
   * builds it again there. Absent: the far end runs in this process.
   */
  readonly apart?: { kind: string; settings: Record<string, unknown> };
  /**
   * The transport with both ends in this process: the carrier, joined to `far` (built by
   * sinkEnd(), or made here when left out), which is handed `stages` when it starts.
   * Without a far end the carrier writes to `stages.sink` itself.
   */
  open(far: SinkEnd | undefined, stages: SinkStages): Transport;
}

/** The transport of a stream whose spec names `kind` ('' for the daemon's default); throws TRANSPORT_UNAVAILABLE. */
/** Async where building the ends reads the state store (the stream's kafka connection). */
export type Transports = (kind: string, stream: StreamSpec) => TransportEnds | Promise<TransportEnds>;

export interface TransportFactoryArgs {
  /** Owned by the caller: a transport writes to it but never closes it. */
  sink: Sink;
  /** The stream being carried; a Kafka transport names its topics after it. */
  stream?: StreamSpec;
  /** Brokers and producer/topic settings (config kafka.*); required for kind 'kafka'. */
  kafka?: KafkaSettings;
  /** Records the far end cannot decode go here (errorHandling); without it they fail the stream. */
  records?: RecordErrorHandler;
}

/** What a transport calls with a record it cannot hand on (a Kafka record that does not decode). */
export interface RecordErrorHandler {
  /** Resolves once the record is dead-lettered; throws the error that fails the run. */
  reject(error: SluiceError, record: { event?: ChangeEvent; raw?: DeadLetter['raw']; table?: string | null }, ctx: ConnectorContext): Promise<void>;
}
