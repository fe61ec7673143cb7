/**
 * What the Kafka transport reads, declared once: a `kafka` connection's `options`
 * (producer and topic settings for the streams it carries; unset ones fall back to the
 * daemon's `kafka.*` configuration), a stream's `options` (its topic prefix) and the
 * fields of a stream's `transport` object (none yet: `format` joins it there). The
 * `kafka` connection kind registers with these (module.ts).
 */
import { advancedOption, NO_OPTIONS, optionsObject, type PluginOptions, type StreamSpec } from '../../core';
import { readOptions } from '../../options';
import type { KafkaSettings } from './settings';

export interface KafkaConnectionOptions {
  clientId?: string;
  topicPartitions?: number;
  replicationFactor?: number;
  compression?: 'none' | 'gzip';
  tombstones?: boolean;
}

export interface KafkaStreamOptions {
  topicPrefix?: string;
}

export const kafkaOptions: PluginOptions = {
  connection: optionsObject({
    clientId: advancedOption({ type: 'string', minLength: 1, maxLength: 200, description: "Kafka client id prefix. Default: the daemon's kafka.clientId (SLUICE_KAFKA_CLIENT_ID, sluice).", example: 'sluice-eu' }),
    topicPartitions: {
      type: 'integer',
      minimum: 1,
      maximum: 10000,
      description: "Partitions of each topic sluice creates (one topic per table); order is kept per key. Default: the daemon's kafka.topicPartitions (SLUICE_KAFKA_TOPIC_PARTITIONS, 3). Existing topics are left as they are.",
      example: 6,
    },
    replicationFactor: advancedOption({
      type: 'integer',
      minimum: -1,
      maximum: 32767,
      description: "Replication factor of the topics sluice creates; -1 takes the broker's default. Default: the daemon's kafka.replicationFactor (SLUICE_KAFKA_REPLICATION_FACTOR, -1).",
    }),
    compression: { type: 'string', enum: ['none', 'gzip'], description: "Producer compression. Default: the daemon's kafka.compression (SLUICE_KAFKA_COMPRESSION, none)." },
    tombstones: { type: 'boolean', description: "Write a tombstone (key, null value) after each delete, for log compaction. Default: the daemon's kafka.tombstones (SLUICE_KAFKA_TOMBSTONES, true)." },
  }),
  stream: optionsObject({
    topicPrefix: {
      type: 'string',
      pattern: '^[A-Za-z0-9._-]+$',
      minLength: 1,
      maxLength: 200,
      description: 'Kafka topic prefix: topics are <prefix>.<schema>.<table>, the dead-letter topic <prefix>.__dlq. Default: the stream name (characters Kafka refuses become _).',
      example: 'shop',
    },
  }),
  transport: NO_OPTIONS,
};

export function kafkaStreamOptions(stream: Pick<StreamSpec, 'options'>): KafkaStreamOptions {
  return readOptions<KafkaStreamOptions>(kafkaOptions.stream, stream.options ?? {});
}

/** The daemon's settings, overridden by what a kafka connection sets. */
export function kafkaConnectionSettings(defaults: KafkaSettings, options: Record<string, unknown> | undefined): KafkaSettings {
  const o = readOptions<KafkaConnectionOptions>(kafkaOptions.connection, options ?? {});
  return { ...defaults, ...o };
}
