/**
 * The Kafka transport, in two ends that Kafka alone ties together:
 * - the carrier (carrier.ts), on the source side: it publishes each batch to the stream's
 *   table topics and resolves once Kafka acknowledged it (producer.ts);
 * - the sink end (sink-end.ts): the stream's consumer group, which hands what it reads to
 *   the sink stage it is given and commits after the sink (consumer.ts), with the
 *   stream's dead-letter topic (dead-letters.ts).
 * Topics and the group are named in topics.ts, records encoded in serde.ts; clients.ts
 * and sockets.ts open and close each end's connections.
 */
import type { StreamSpec } from '../../core';
import { JoinedTransport } from '../joined';
import type { SinkEnd, SinkStages, TransportEnds } from '../types';
import { KafkaCarrier } from './carrier';
import { KafkaSinkEnd } from './sink-end';
import type { KafkaSettings } from './settings';
import { NoCarrier, readsTopics } from './topics-source';

export { KafkaCarrier } from './carrier';
export { KafkaSinkEnd } from './sink-end';
export { ABANDON_AFTER_MS, CLOSE_WAIT_MS } from './clients';
export { MAX_PARTITION_BYTES, classifyProduceError, sliceBySize, type ProduceFailure } from './producer';

/** Both ends of a stream's Kafka transport in this process. */
export class KafkaTransport extends JoinedTransport<KafkaCarrier, SinkEnd> {
  get topicPrefix(): string {
    return this.carrier.topicPrefix;
  }
  get groupId(): string {
    return this.carrier.groupId;
  }
}

/** A stream's Kafka transport: its sink end alone (built from plain data), or both ends joined. */
export function kafkaEnds(stream: StreamSpec, kafka: KafkaSettings): TransportEnds {
  const sinkEnd = (): SinkEnd => new KafkaSinkEnd({ stream, kafka });
  // Existing topics (topics-source.ts): the sink end alone reads them; nothing is carried.
  if (readsTopics(stream)) return { kind: 'kafka', sinkEnd, open: (far, stages) => new JoinedTransport(new NoCarrier(), far ?? sinkEnd(), stages) };
  return {
    kind: 'kafka',
    sinkEnd,
    // The sink end in a worker thread by default (kafka.sinkWorker); in process when false.
    ...(kafka.sinkWorker === false ? {} : { apart: { kind: 'kafka', settings: { kafka: { ...kafka, sinkWorker: false } } } }),
    open: (far, stages) => {
      const end = far ?? sinkEnd();
      return new KafkaTransport(new KafkaCarrier({ stream, kafka, follow: (topics) => end.follow(topics) }), end, stages);
    },
  };
}

export interface KafkaTransportArgs extends SinkStages {
  stream: StreamSpec;
  kafka: KafkaSettings;
}

/** Both ends in this process, the far end handed `sink` (and `records`). */
export function createKafkaTransport(args: KafkaTransportArgs): KafkaTransport {
  return kafkaEnds(args.stream, args.kafka).open(undefined, { sink: args.sink, ...(args.records ? { records: args.records } : {}) }) as KafkaTransport;
}
