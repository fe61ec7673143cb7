import type { TlsOptions } from '../../connection-tls';

export interface KafkaSasl {
  mechanism: 'plain' | 'scram-sha-256' | 'scram-sha-512';
  username: string;
  password: string;
}

/** Brokers and producer/topic settings of the Kafka transport (config kafka.*, or a stream's kafka connection). */
export interface KafkaSettings {
  /** "host:port,host:port" or a list. */
  brokers: string | string[];
  clientId?: string;
  topicPartitions?: number;
  replicationFactor?: number;
  compression?: 'none' | 'gzip';
  tombstones?: boolean;
  /** TLS to the brokers (PEM text, files already read); present means on. */
  tls?: TlsOptions;
  sasl?: KafkaSasl;
  /** The sink end (consumer, decoding, MongoDB writes) in a worker thread of its own (default), or in the daemon's thread when false (config kafka.sinkWorker). */
  sinkWorker?: boolean;
  /** The schema registry of the avro, json-schema and protobuf formats (Confluent API). */
  schemaRegistry?: RegistrySettings;
}

/** A Confluent-API schema registry; plain data, so a sink worker can be handed it. */
export interface RegistrySettings {
  url: string;
  username?: string;
  password?: string;
  /** Per-request bound, ms (default 10 s). */
  timeoutMs?: number;
}
