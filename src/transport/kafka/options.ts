/**
 * What the Kafka transport reads, declared once: a `kafka` connection's `options`
 * (producer and topic settings for the streams it carries; unset ones fall back to the
 * daemon's `kafka.*` configuration), a stream's `options` (its topic prefix) and the
 * fields of a stream's `transport` object (none yet: `format` joins it there). The
 * `kafka` connection kind is registered with this module (roles ['transport']).
 */
import { advancedOption, NO_OPTIONS, optionsObject, secretOption, type ConnectorModule, type PluginOptions, type StreamSpec } from '../../core';
import { readOptions } from '../../options';
import { tlsOption, type TlsOptions } from '../../connection-tls';
import type { KafkaSasl, KafkaSettings } from './settings';

export interface KafkaConnectionOptions {
  clientId?: string;
  topicPartitions?: number;
  replicationFactor?: number;
  compression?: 'none' | 'gzip';
  tombstones?: boolean;
  tls?: TlsOptions;
  sasl?: KafkaSasl;
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
    tls: {
      ...tlsOption('the Kafka brokers'),
      description:
        'TLS to the brokers (listeners SSL or SASL_SSL); present means on: {} trusts the system CAs. The certificate must name the broker address dialled (bootstrap and advertised), unless servername says which name it carries. ca/caFile, and cert/certFile with key/keyFile for mutual TLS, as PEM text or files inside secrets.fileDir.',
      example: { caFile: '/run/secrets/kafka-ca.pem' },
    },
    sasl: {
      type: 'object',
      additionalProperties: false,
      // password is not required by the schema: a PATCH that leaves it out keeps the stored one.
      required: ['mechanism', 'username'],
      description: 'SASL authentication (listeners SASL_SSL or SASL_PLAINTEXT; with PLAIN, use it with tls: PLAIN sends the password as it is).',
      example: { mechanism: 'scram-sha-512', username: 'sluice', password: '…' },
      properties: {
        mechanism: { type: 'string', enum: ['plain', 'scram-sha-256', 'scram-sha-512'], description: 'The SASL mechanism the listener enables: plain (Confluent Cloud: API key and secret), scram-sha-256 or scram-sha-512 (Amazon MSK, Aiven, Redpanda).' },
        username: { type: 'string', minLength: 1, maxLength: 1024, description: 'The SASL user (Confluent Cloud: the API key).' },
        password: secretOption({ type: 'string', minLength: 1, maxLength: 4096, description: 'The SASL password (Confluent Cloud: the API secret); write-only, stored encrypted. Needed when the connection is created (or passwordFile); left out of a PATCH, the stored one is kept.' }),
        passwordFile: { type: 'string', minLength: 1, maxLength: 4096, description: 'A file holding the SASL password, inside secrets.fileDir, read at each use (a mounted Kubernetes or Docker secret); instead of password.', example: '/run/secrets/kafka-password' },
      },
    },
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

/** The `kafka` connection kind: a broker list a stream's transport names; no source, no sink. */
export const kafkaConnectionModule: ConnectorModule = {
  kind: 'kafka',
  roles: ['transport'],
  options: kafkaOptions,
};

export function kafkaStreamOptions(stream: Pick<StreamSpec, 'options'>): KafkaStreamOptions {
  return readOptions<KafkaStreamOptions>(kafkaOptions.stream, stream.options ?? {});
}

/** The daemon's settings, overridden by what a kafka connection sets. */
export function kafkaConnectionSettings(defaults: KafkaSettings, options: Record<string, unknown> | undefined): KafkaSettings {
  const o = readOptions<KafkaConnectionOptions>(kafkaOptions.connection, options ?? {});
  return { ...defaults, ...o };
}
