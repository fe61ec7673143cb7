/**
 * What the Kafka transport reads, declared once: a `kafka` connection's `options`
 * (producer and topic settings for the streams it carries; unset ones fall back to the
 * daemon's `kafka.*` configuration), a stream's `options` (its topic prefix) and the
 * fields of a stream's `transport` object (none yet: `format` joins it there). The
 * `kafka` connection kind registers with these (module.ts).
 */
import { advancedOption, optionsObject, secretOption, type PluginOptions, type StreamSpec } from '../../core';
import { readOptions } from '../../options';
import { SluiceError } from '../../errors';
import { tlsOption, type TlsOptions } from '../../connection-tls';
import type { KafkaSasl, KafkaSettings, RegistrySettings } from './settings';

export interface KafkaConnectionOptions {
  clientId?: string;
  topicPartitions?: number;
  replicationFactor?: number;
  compression?: 'none' | 'gzip';
  tombstones?: boolean;
  tls?: TlsOptions;
  sasl?: KafkaSasl;
  schemaRegistry?: RegistrySettings;
}

/** How records are written to the table topics (README "Record formats"). */
export const RECORD_FORMATS = ['json', 'json-payload', 'avro', 'json-schema', 'protobuf'] as const;
export type RecordFormat = (typeof RECORD_FORMATS)[number];
/** The formats that need options.schemaRegistry on the kafka connection. */
export const REGISTRY_FORMATS: readonly RecordFormat[] = ['avro', 'json-schema', 'protobuf'];

export interface KafkaTransportFields {
  format?: RecordFormat;
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
    schemaRegistry: {
      type: 'object',
      additionalProperties: false,
      required: ['url'],
      description:
        'The schema registry (Confluent API: Confluent, Redpanda, Karapace, Apicurio under /apis/ccompat/v7) of the streams that carry this connection with transport.format avro, json-schema or protobuf. Subjects follow TopicNameStrategy (<topic>-key, <topic>-value).',
      example: { url: 'http://registry:8081', username: 'sluice', password: '…' },
      properties: {
        url: { type: 'string', pattern: '^https?://', minLength: 8, maxLength: 2048, description: 'The registry base URL (with its API root, e.g. http://registry:8080/apis/ccompat/v7 for Apicurio).' },
        username: { type: 'string', minLength: 1, maxLength: 1024, description: 'Basic-auth user (Confluent Cloud: the Schema Registry API key).' },
        password: secretOption({ type: 'string', minLength: 1, maxLength: 4096, description: 'Basic-auth password (Confluent Cloud: the API secret); write-only, stored encrypted. Left out of a PATCH, the stored one is kept.' }),
        timeoutMs: advancedOption({ type: 'integer', minimum: 100, maximum: 300000, description: 'Bound on each registry request, ms. Default 10000.' }),
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
  transport: optionsObject({
    format: {
      type: 'string',
      enum: [...RECORD_FORMATS],
      description:
        "How records are written (README \"Record formats\"): json, Debezium JSON with the Connect schema inline (JsonConverter schemas.enable=true; default); json-payload, the payload alone (schemas.enable=false; decimals as exact strings, types in payload.sluice.types); avro, json-schema or protobuf, registry-framed (magic byte, schema id; protobuf adds the message index) against the kafka connection's options.schemaRegistry.",
      example: 'avro',
    },
  }),
};

export function kafkaStreamOptions(stream: Pick<StreamSpec, 'options'>): KafkaStreamOptions {
  return readOptions<KafkaStreamOptions>(kafkaOptions.stream, stream.options ?? {});
}

/** The daemon's settings, overridden by what a kafka connection sets. */
export function kafkaConnectionSettings(defaults: KafkaSettings, options: Record<string, unknown> | undefined): KafkaSettings {
  const o = readOptions<KafkaConnectionOptions>(kafkaOptions.connection, options ?? {});
  return { ...defaults, ...o };
}

/** A stream's record format (its transport's `format`, json by default). */
export function recordFormatOf(stream: Pick<StreamSpec, 'transport'>): RecordFormat {
  return ((stream.transport as KafkaTransportFields | undefined)?.format ?? 'json') as RecordFormat;
}

export function registryMissing(format: string): SluiceError {
  return new SluiceError(
    'VALIDATION_FAILED',
    `transport.format ${format} needs a schema registry, and the stream's kafka connection has none`,
    { field: 'transport.format' },
    { suggestion: 'Set options.schemaRegistry {"url": …} on the kafka connection the stream names in transport.connectionId (PATCH /api/v1/connections/{id}), or choose transport.format json or json-payload.' },
  );
}

/**
 * A registry format needs a kafka connection with options.schemaRegistry: refused at
 * create and /validate (VALIDATION_FAILED naming transport.format), not at start.
 */
export function checkRecordFormat(stream: Pick<StreamSpec, 'transport'>, connectionOptions: (id: string) => Record<string, unknown> | undefined): void {
  const format = recordFormatOf(stream);
  if (!REGISTRY_FORMATS.includes(format)) return;
  const id = (stream.transport as { connectionId?: string } | undefined)?.connectionId;
  if (!id || !connectionOptions(id)?.schemaRegistry) throw registryMissing(format);
}
