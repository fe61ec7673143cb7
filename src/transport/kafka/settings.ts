/** Brokers and producer/topic settings of the Kafka transport (config kafka.*, or a stream's kafka connection). */
export interface KafkaSettings {
  /** "host:port,host:port" or a list. */
  brokers: string | string[];
  clientId?: string;
  topicPartitions?: number;
  replicationFactor?: number;
  compression?: 'none' | 'gzip';
  tombstones?: boolean;
}
