/**
 * The record formats of the Kafka transport behind one interface, built from plain data
 * (SerdeConfig), so that the carrier, the sink end and a sink worker in another thread
 * each build their own: `json` and `json-payload` (serde.ts), `avro`, `json-schema` and
 * `protobuf` through a schema registry (registry-serde.ts).
 *
 * The registry formats need I/O before a record can be written or read (a table
 * version's schema registered, a schema fetched by id): `prepare` and `prepareDecode`
 * do it once per table version or id and resolve at once (undefined) when nothing is
 * new; encode and decode then stay synchronous.
 */
import type { ChangeEvent } from '../../core';
import { SluiceError } from '../../errors';
import { DebeziumSerde, type Where } from './serde';
import { RegistrySerde, type RegistryFormat } from './registry-serde';
import { REGISTRY_FORMATS, registryMissing, type RecordFormat } from './options';
import type { RegistrySettings } from './settings';

export interface RecordSerde {
  readonly format: RecordFormat;
  /** Registers what these events' table versions need; undefined when nothing is new. */
  prepare(events: readonly ChangeEvent[]): Promise<void> | undefined;
  encodeKey(event: ChangeEvent): string | Buffer;
  encodeValue(event: ChangeEvent): string | Buffer;
  /** Fetches the schemas these records name; undefined when all are known. */
  prepareDecode(topic: string, records: ReadonlyArray<{ key?: Buffer | null; value?: Buffer | null }>): Promise<void> | undefined;
  /** A record back to a ChangeEvent; null for a tombstone; KAFKA_DECODE_FAILED otherwise. */
  decode(where: Where, key: Buffer | string | null, value: Buffer | string | null): ChangeEvent | null;
  close?(): void;
}

/** Plain data: what a serde is built from (in this thread or a worker's). */
export interface SerdeConfig {
  topicPrefix: string;
  format: RecordFormat;
  registry?: RegistrySettings;
}

export function createSerde(config: SerdeConfig): RecordSerde {
  const { format } = config;
  if (format === 'json' || format === 'json-payload') return new DebeziumSerde(config.topicPrefix, format);
  if (!REGISTRY_FORMATS.includes(format)) throw new SluiceError('VALIDATION_FAILED', `unknown transport.format ${String(format)}`, { field: 'transport.format' });
  if (!config.registry) throw registryMissing(format);
  return new RegistrySerde(config.topicPrefix, format as RegistryFormat, config.registry);
}
