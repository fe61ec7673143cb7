/**
 * The registry formats: records framed as Confluent's serializers frame them (magic
 * byte 0, the schema id as 4 bytes big-endian, the payload), subjects by
 * TopicNameStrategy (`<topic>-key`, `<topic>-value`).
 *
 * Writing: a table version's Connect schemas (serde.ts builds them, one object per
 * version) are converted (avro.ts, json-schema.ts, protobuf.ts) and registered on first use; the
 * ids are kept per version, so the registry is asked once per table version, never per
 * record. A DDL is a new version: its schemas are registered before its first record
 * is written, and a registry that refuses them fails the publish with
 * SCHEMA_REGISTRY_INCOMPATIBLE before anything of the batch reached Kafka.
 *
 * The envelope carries one field beyond Debezium's: `sluice`, an optional string (JSON)
 * for what a column's type cannot hold in band (serde.ts's sidecar); null on nearly
 * every record, and ignored by readers that do not know it.
 *
 * Protobuf records carry Confluent's message-index array after the id (one zero byte:
 * the file's first message). Its field numbers continue the subject's previous version
 * (protobuf.ts): the subject's latest .proto is read once per subject and process, then
 * each version sluice registers is the next one's base.
 *
 * Reading goes by the id in each record and the type the registry gives that id (AVRO,
 * JSON or PROTOBUF), whatever the stream's own format: an unknown id or bytes that do
 * not decode are KAFKA_DECODE_FAILED, a record error under the stream's policy.
 */
import type avsc from 'avsc';
import type { ChangeEvent } from '../../core';
import { SluiceError } from '../../errors';
import type { ConnectSchema } from './columns';
import { avroToConnect, avroType, connectToAvro, fromDatum, toDatum } from './avro';
import { connectToJsonSchema, jsonSchemaToConnect } from './json-schema';
import { connectToProto, protoNumbering, protoToConnect, protoType, type Numbering } from './protobuf';
import { FIRST_MESSAGE, protoCodec, readMessageIndexes, type ProtoCodec } from './protobuf-values';
import { DebeziumSerde, decodeFailed, parseJson, toBuf, type Where } from './serde';
import { Registry } from './registry';
import type { RegistrySettings } from './settings';
import { topicFor } from './topics';

export type RegistryFormat = 'avro' | 'json-schema' | 'protobuf';

const MAGIC = 0;
const SIDECAR: ConnectSchema = { type: 'string', optional: true, field: 'sluice' };

/** One registered (or read) schema: its Connect form and, for Avro, its avsc type; for Protobuf, a codec per message-index path. */
interface Known {
  id: number;
  connect: ConnectSchema;
  avro?: avsc.Type;
  proto?: { text: string; codecs: Map<string, ProtoCodec> };
}

export class RegistrySerde {
  readonly format: RegistryFormat;
  readonly #prefix: string;
  readonly #json: DebeziumSerde;
  readonly #registry: Registry;
  /** Per table version (serde.ts's schema object): what was registered for it. */
  readonly #written = new WeakMap<ConnectSchema, Known>();
  /** Per schema id: what records name; null for an id the registry does not have. */
  readonly #read = new Map<number, Known | null>();
  /** Per subject: the numbering of the last Protobuf version registered (or found) there. */
  readonly #numbering = new Map<string, Numbering | undefined>();

  constructor(topicPrefix: string, format: RegistryFormat, registry: RegistrySettings) {
    this.format = format;
    this.#prefix = topicPrefix;
    this.#json = new DebeziumSerde(topicPrefix, 'json');
    this.#registry = new Registry(registry);
  }

  prepare(events: readonly ChangeEvent[]): Promise<void> | undefined {
    let todo: Array<{ event: ChangeEvent; schema: ConnectSchema; part: 'key' | 'value' }> | undefined;
    const seen = new Set<ConnectSchema>();
    for (const e of events) {
      const s = this.#json.schemasOf(e);
      for (const [part, schema] of [['value', s.value], ['key', s.key]] as const) {
        if (this.#written.has(schema) || seen.has(schema)) continue;
        seen.add(schema);
        (todo ??= []).push({ event: e, schema, part });
      }
    }
    if (!todo) return undefined;
    return (async () => {
      // Value first: an incompatible value schema is the change that matters.
      for (const t of todo.sort((a, b) => (a.part === b.part ? 0 : a.part === 'value' ? -1 : 1))) {
        const subject = `${topicFor(this.#prefix, t.event.table)}-${t.part}`;
        const connect = t.part === 'value' ? { ...t.schema, fields: [...(t.schema.fields ?? []), SIDECAR] } : t.schema;
        if (this.format === 'avro') {
          const schema = connectToAvro(connect);
          const id = await this.#registry.register(subject, 'AVRO', JSON.stringify(schema));
          this.#written.set(t.schema, { id, connect, avro: avroType(schema) });
        } else if (this.format === 'protobuf') {
          if (!this.#numbering.has(subject)) {
            const latest = await this.#registry.latest(subject);
            this.#numbering.set(subject, latest?.schemaType === 'PROTOBUF' ? protoNumbering(latest.schema) : undefined);
          }
          const proto = connectToProto(connect, this.#numbering.get(subject));
          const id = await this.#registry.register(subject, 'PROTOBUF', proto.text);
          this.#numbering.set(subject, proto.numbering);
          this.#written.set(t.schema, { id, connect, proto: { text: proto.text, codecs: new Map([['0', protoCodec(protoType(proto.text))]]) } });
        } else {
          const id = await this.#registry.register(subject, 'JSON', JSON.stringify(connectToJsonSchema(connect)));
          this.#written.set(t.schema, { id, connect });
        }
      }
    })();
  }

  encodeKey(event: ChangeEvent): Buffer {
    return this.#encode(event, 'key');
  }

  encodeValue(event: ChangeEvent): Buffer {
    return this.#encode(event, 'value');
  }

  #encode(event: ChangeEvent, part: 'key' | 'value'): Buffer {
    const { schema, payload } = this.#json.connectOf(event, part);
    const known = this.#written.get(schema);
    if (!known) throw new SluiceError('INTERNAL', `the ${part} schema of ${event.table.schema}.${event.table.table} was not registered before its record was written`);
    let body: Buffer | Uint8Array;
    if (known.avro || known.proto) {
      const p = parseJson(payload) as Record<string, unknown>;
      if (part === 'value') p.sluice = p.sluice === undefined ? null : JSON.stringify(p.sluice);
      if (known.avro) body = known.avro.toBuffer(toDatum(known.connect, p));
      else return Buffer.concat([head(known.id), FIRST_MESSAGE, known.proto!.codecs.get('0')!.encode(p)]);
    } else {
      // The sidecar travels as a string here too (the schema says so); it is the payload's last field.
      const at = part === 'value' ? payload.lastIndexOf(',"sluice":') : -1;
      body = Buffer.from(at < 0 ? payload : payload.slice(0, at) + ',"sluice":' + JSON.stringify(payload.slice(at + 10, -1)) + '}');
    }
    return Buffer.concat([head(known.id), body]);
  }

  prepareDecode(topic: string, records: ReadonlyArray<{ key?: Buffer | null; value?: Buffer | null }>): Promise<void> | undefined {
    let ids: Map<number, string> | undefined;
    for (const r of records) {
      for (const [part, b] of [['value', r.value], ['key', r.key]] as const) {
        if (!b || b.length < 5 || b[0] !== MAGIC) continue;
        const id = b.readUInt32BE(1);
        if (!this.#read.has(id)) (ids ??= new Map()).set(id, `${topic}-${part}`);
      }
    }
    if (!ids) return undefined;
    return (async () => {
      for (const [id, subject] of ids) {
        const info = await this.#registry.schema(id, subject);
        if (!info) {
          this.#read.set(id, null);
          continue;
        }
        try {
          if (info.schemaType === 'PROTOBUF') {
            const codec = protoCodec(protoType(info.schema));
            this.#read.set(id, { id, connect: protoToConnect(codec.type), proto: { text: info.schema, codecs: new Map([['0', codec]]) } });
            continue;
          }
          const text = JSON.parse(info.schema) as Record<string, unknown>;
          if ((info.schemaType ?? 'AVRO') === 'AVRO') this.#read.set(id, { id, connect: avroToConnect(text), avro: avroType(text) });
          else if (info.schemaType === 'JSON') this.#read.set(id, { id, connect: jsonSchemaToConnect(text) });
          else this.#read.set(id, null);
        } catch {
          this.#read.set(id, null); // a schema sluice cannot read: its records are record errors
        }
      }
    })();
  }

  decode(where: Where, key: Buffer | string | null, value: Buffer | string | null): ChangeEvent | null {
    if (value === null || value.length === 0) return null;
    try {
      const v = this.#payload(toBuf(value), 'value');
      if (typeof v.payload.sluice === 'string') v.payload.sluice = JSON.parse(v.payload.sluice);
      else if (v.payload.sluice === null) delete v.payload.sluice;
      const k = key === null || key.length === 0 ? undefined : this.#payload(toBuf(key), 'key');
      return this.#json.fromConnect(v, k);
    } catch (err) {
      throw decodeFailed(where, err);
    }
  }

  #payload(buf: Buffer, part: string): { schema: ConnectSchema; payload: Record<string, unknown> } {
    if (buf.length < 5 || buf[0] !== MAGIC) throw new Error(`the ${part} is not registry-framed (no magic byte 0 and schema id)`);
    const id = buf.readUInt32BE(1);
    const known = this.#read.get(id);
    if (!known) throw new Error(`the ${part}'s schema id ${id} is unknown to the schema registry`);
    let schema = known.connect;
    let payload: unknown;
    if (known.avro) payload = fromDatum(known.connect, known.avro.fromBuffer(buf.subarray(5)));
    else if (known.proto) {
      const { indexes, start } = readMessageIndexes(buf, 5);
      const path = indexes.join('.');
      let codec = known.proto.codecs.get(path);
      if (!codec) known.proto.codecs.set(path, (codec = protoCodec(protoType(known.proto.text, indexes))));
      if (path !== '0') schema = protoToConnect(codec.type);
      payload = codec.decode(buf.subarray(start));
    } else payload = parseJson(buf.toString('utf8', 5));
    if (!payload || typeof payload !== 'object') throw new Error(`the ${part} is not an object`);
    return { schema, payload: payload as Record<string, unknown> };
  }

  close(): void {
    this.#registry.close();
  }
}

function head(id: number): Buffer {
  const b = Buffer.allocUnsafe(5);
  b[0] = MAGIC;
  b.writeUInt32BE(id, 1);
  return b;
}
