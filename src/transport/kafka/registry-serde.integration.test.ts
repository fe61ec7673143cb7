/**
 * The registry formats against the stack's schema registry (Apicurio, Confluent API):
 * the type table round-trips in avro, json-schema and protobuf, a table version
 * registers once, a DDL registers version 2, an incompatible change is
 * SCHEMA_REGISTRY_INCOMPATIBLE, unknown ids and garbage are KAFKA_DECODE_FAILED, and a
 * record sluice wrote in avro (protobuf) reads with a plain Avro (Protobuf) decoder,
 * avsc (protobufjs), given the schema the registry holds for its id. In protobuf, DROP
 * COLUMN then ADD COLUMN of the same name never renumber the other columns.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as avsc from 'avsc';
import * as protobuf from 'protobufjs';
import { Decimal, type ChangeEvent, type TableSchema } from '../../core';
import { SluiceError } from '../../errors';
import { createSerde, type RecordSerde } from './record-serde';
import { registryApi, schemaRegistryUrl } from '../../../test/helpers/stack';

const url = schemaRegistryUrl();
const run = Date.now().toString(36);

const call = registryApi;

const v1: TableSchema = {
  key: ['id'],
  columns: [
    { name: 'id', type: 'int64', sourceType: 'int8', optional: false },
    { name: 'price', type: 'decimal', sourceType: 'numeric(30,4)', precision: 30, scale: 4, optional: true },
    { name: 'anynum', type: 'decimal', sourceType: 'numeric', optional: true },
    { name: 'ts', type: 'timestamp', sourceType: 'timestamp', optional: true },
    { name: 'tstz', type: 'timestamptz', sourceType: 'timestamptz', optional: true },
    { name: 'day', type: 'date', sourceType: 'date', optional: true },
    { name: 'doc', type: 'json', sourceType: 'jsonb', optional: true },
    { name: 'u', type: 'uuid', sourceType: 'uuid', optional: true },
    { name: 'tags', type: 'array', elementType: 'string', sourceType: 'text[]', optional: true },
    { name: 'nums', type: 'array', elementType: 'int64', sourceType: 'int8[]', optional: true },
    { name: 'small', type: 'int16', sourceType: 'int2', optional: true },
    { name: 'r', type: 'float32', sourceType: 'float4', optional: true },
    { name: 'blob', type: 'bytes', sourceType: 'bytea', optional: true },
    { name: 'note', type: 'string', sourceType: 'text', optional: true },
  ],
};

const row = (id: bigint): Record<string, unknown> => ({
  id,
  price: new Decimal('-12345678901234567890123456.7890'),
  anynum: new Decimal('3.14159265358979323846264338327950288'),
  ts: new Date(Date.UTC(1900, 0, 1, 12, 30, 45, 123)),
  tstz: new Date(Date.UTC(2024, 1, 29, 23, 59, 59, 999)),
  day: new Date(Date.UTC(1969, 6, 20)),
  doc: { a: [1, { b: null }], s: 'x' },
  u: '123e4567-e89b-12d3-a456-426614174000',
  tags: ['a', null, 'c'],
  nums: [2n ** 63n - 1n, -(2n ** 63n), 0n],
  small: -32768,
  r: Math.fround(1.1),
  blob: Buffer.from([0, 1, 255]),
  note: null,
});

function event(prefix: string, schema: TableSchema, after: Record<string, unknown>, op: ChangeEvent['op'] = 'c'): ChangeEvent {
  return {
    table: { schema: 'public', table: 'items' },
    op,
    key: { id: after.id },
    before: null,
    after,
    source: { connector: 'postgresql', name: prefix, db: 'app', schema: 'public', table: 'items', ts_ms: 1700000000123, snapshot: 'false', lsn: '16/B374D848', txId: 771 },
    ts_ms: 1700000000456,
    schema,
  };
}

async function roundTrip(serde: RecordSerde, e: ChangeEvent, topic: string): Promise<{ out: ChangeEvent; key: Buffer; value: Buffer }> {
  await serde.prepare([e]);
  const key = Buffer.from(serde.encodeKey(e));
  const value = Buffer.from(serde.encodeValue(e));
  await serde.prepareDecode(topic, [{ key, value }]);
  const out = serde.decode({ topic, partition: 0, offset: '0' }, key, value);
  assert.ok(out);
  return { out, key, value };
}

for (const format of ['avro', 'json-schema', 'protobuf'] as const) {
  test(`${format}: the type table round-trips through the registry; a DDL registers version 2; an incompatible change is refused with SCHEMA_REGISTRY_INCOMPATIBLE`, async () => {
    const prefix = `rs_${format.replace('-', '_')}_${run}`;
    const topic = `${prefix}.public.items`;
    const subject = `${topic}-value`;
    const writer = createSerde({ topicPrefix: prefix, format, registry: { url, timeoutMs: 5000 } });
    const reader = createSerde({ topicPrefix: prefix, format, registry: { url, timeoutMs: 5000 } });
    try {
      assert.equal((await call('PUT', `/config/${subject}`, { compatibility: 'BACKWARD' })).status, 200);
      const e = event(prefix, v1, row(2n ** 63n - 1n));
      const { out, value } = await roundTrip(writer, e, topic);
      assert.equal(value[0], 0, 'magic byte');
      assert.deepEqual(out.after, e.after);
      assert.deepEqual(out.key, { id: 2n ** 63n - 1n });
      assert.deepEqual(out.source, e.source);
      assert.deepEqual(out.schema!.columns.map((c) => [c.name, c.type]), v1.columns.map((c) => [c.name, c.type]));
      // Through another serde (a sink end): by id, fetched from the registry.
      await reader.prepareDecode(topic, [{ value }]);
      assert.deepEqual(reader.decode({ topic }, null, value)!.after, e.after);
      // NULLs everywhere and a TOASTed (unavailable) timestamp (the sidecar).
      const nulls = { ...Object.fromEntries(v1.columns.map((c) => [c.name, null])), id: 5n, ts: undefined };
      const n = await roundTrip(writer, event(prefix, v1, nulls, 'u'), topic);
      assert.deepEqual(n.out.after, nulls);
      assert.ok('ts' in n.out.after!);
      assert.deepEqual((await call('GET', `/subjects/${subject}/versions`)).json, [1], 'one version for one table version');

      // ADD COLUMN (optional): BACKWARD-compatible, version 2.
      const v2: TableSchema = { key: ['id'], columns: [...v1.columns, { name: 'added', type: 'int32', sourceType: 'int4', optional: true }] };
      const e2 = event(prefix, v2, { ...row(7n), added: 42 });
      assert.deepEqual((await roundTrip(writer, e2, topic)).out.after, e2.after);
      assert.deepEqual((await call('GET', `/subjects/${subject}/versions`)).json, [1, 2]);

      // A type change int4 → text of `added` is not BACKWARD-compatible: refused, clearly.
      const v3: TableSchema = { key: ['id'], columns: [...v1.columns, { name: 'added', type: 'string', sourceType: 'text', optional: true }] };
      const e3 = event(prefix, v3, { ...row(8n), added: 'x' });
      await assert.rejects(Promise.resolve(writer.prepare([e3])), (err: unknown) => {
        assert.ok(err instanceof SluiceError, String(err));
        assert.equal(err.code, 'SCHEMA_REGISTRY_INCOMPATIBLE');
        assert.equal(err.retriable, false);
        assert.equal(err.detail.subject, subject);
        assert.match(err.message, new RegExp(subject.replace(/\./g, '\\.')));
        assert.match(err.suggestion, /compatibility/);
        return true;
      });
      assert.throws(() => writer.encodeValue(e3), /not registered/, 'nothing of the refused version can be written');
      assert.deepEqual((await call('GET', `/subjects/${subject}/versions`)).json, [1, 2]);

      // Unknown schema id and garbage: KAFKA_DECODE_FAILED (record errors).
      const unknown = Buffer.from(value);
      unknown.writeUInt32BE(0x7ffffff0, 1);
      await reader.prepareDecode(topic, [{ value: unknown }]);
      assert.throws(() => reader.decode({ topic, partition: 1, offset: '9' }, null, unknown), (err: unknown) => err instanceof SluiceError && err.code === 'KAFKA_DECODE_FAILED' && /schema id 2147483632 is unknown/.test(err.message) && /1@9/.test(err.message));
      const garbage = Buffer.from('not a record at all');
      assert.equal(reader.prepareDecode(topic, [{ value: garbage }]), undefined);
      assert.throws(() => reader.decode({ topic }, null, garbage), (err: unknown) => err instanceof SluiceError && err.code === 'KAFKA_DECODE_FAILED');
      const truncated = value.subarray(0, value.length - 3);
      assert.throws(() => reader.decode({ topic }, null, truncated), (err: unknown) => err instanceof SluiceError && err.code === 'KAFKA_DECODE_FAILED');
    } finally {
      writer.close?.();
      reader.close?.();
      await call('DELETE', `/subjects/${subject}`).catch(() => undefined);
      await call('DELETE', `/subjects/${topic}-key`).catch(() => undefined);
    }
  });
}

test('avro interop: a record sluice wrote decodes with plain avsc and the schema the registry returns for its id, with Debezium names and logical types', async () => {
  const prefix = `rs_interop_${run}`;
  const topic = `${prefix}.public.items`;
  const writer = createSerde({ topicPrefix: prefix, format: 'avro', registry: { url } });
  try {
    const e = event(prefix, v1, { ...row(3n), nums: [1n, -2n] }); // avsc's plain long is a JS number
    await writer.prepare([e]);
    const value = Buffer.from(writer.encodeValue(e));
    const id = value.readUInt32BE(1);
    const got = await call('GET', `/schemas/ids/${id}`);
    assert.equal(got.status, 200);
    const schema = JSON.parse(got.json.schema);
    assert.equal(schema.type, 'record');
    assert.equal(schema.name, 'Envelope');
    assert.equal(schema.namespace, `${prefix}.public.items`);
    assert.deepEqual(schema.fields.slice(0, 5).map((f: { name: string }) => f.name), ['before', 'after', 'source', 'op', 'ts_ms']);
    const valueRecord = schema.fields[0].type[1];
    const field = (n: string) => valueRecord.fields.find((f: { name: string }) => f.name === n).type;
    assert.deepEqual(field('price')[1], {
      type: 'bytes',
      'connect.version': 1,
      'connect.parameters': { scale: '4', 'connect.decimal.precision': '30', '__debezium.source.column.type': 'numeric(30,4)', '__debezium.source.column.length': '30', '__debezium.source.column.scale': '4' },
      'connect.name': 'org.apache.kafka.connect.data.Decimal',
      logicalType: 'decimal',
      scale: 4,
      precision: 30,
    });
    assert.equal(field('ts')[1]['connect.name'], 'io.debezium.time.MicroTimestamp');
    assert.equal(field('ts')[1].type, 'long');
    assert.equal(field('tstz')[1]['connect.name'], 'io.debezium.time.ZonedTimestamp');
    assert.equal(field('day')[1]['connect.name'], 'io.debezium.time.Date');
    assert.equal(field('doc')[1]['connect.name'], 'io.debezium.data.Json');
    assert.equal(field('u')[1]['connect.name'], 'io.debezium.data.Uuid');
    assert.equal(field('anynum')[1]['connect.name'], 'io.debezium.data.VariableScaleDecimal');
    // A standard decoder, no sluice code: avsc with its own logical-type-free reading.
    const type = avsc.Type.forSchema(schema, { wrapUnions: true });
    const datum = type.fromBuffer(value.subarray(5)) as any;
    assert.equal(datum.op, 'c');
    const after = datum.after[`${prefix}.public.items.Value`];
    assert.equal(after.id, 3);
    assert.equal(after.ts.long, Date.UTC(1900, 0, 1, 12, 30, 45, 123) * 1000, 'MicroTimestamp: microseconds since the epoch');
    assert.equal(after.tstz.string, '2024-02-29T23:59:59.999000Z');
    assert.equal(after.day.int, Math.floor(Date.UTC(1969, 6, 20) / 86_400_000));
    assert.equal(after.u.string, '123e4567-e89b-12d3-a456-426614174000');
    assert.deepEqual(JSON.parse(after.doc.string), { a: [1, { b: null }], s: 'x' });
    // Decimal bytes: big-endian two's complement of the unscaled value, scale 4.
    const unscaled = BigInt.asIntN(after.price.bytes.length * 8, BigInt('0x' + after.price.bytes.toString('hex')));
    assert.equal(unscaled, -123456789012345678901234567890n);
    assert.equal(datum.source['io.debezium.connector.postgresql.Source'] ?? datum.source, datum.source);
  } finally {
    writer.close?.();
    await call('DELETE', `/subjects/${topic}-value`).catch(() => undefined);
    await call('DELETE', `/subjects/${topic}-key`).catch(() => undefined);
  }
});

test('protobuf interop: a record sluice wrote decodes with plain protobufjs and the .proto the registry returns for its id, with Debezium names and logical types', async () => {
  const prefix = `rs_pbinterop_${run}`;
  const topic = `${prefix}.public.items`;
  const writer = createSerde({ topicPrefix: prefix, format: 'protobuf', registry: { url } });
  try {
    const e = event(prefix, v1, row(3n));
    await writer.prepare([e]);
    const value = Buffer.from(writer.encodeValue(e));
    const key = Buffer.from(writer.encodeKey(e));
    assert.equal(value[0], 0, 'magic byte');
    assert.equal(value[5], 0, 'message-index array: the first message');
    const got = await call('GET', `/schemas/ids/${value.readUInt32BE(1)}`);
    assert.equal(got.status, 200);
    assert.equal(got.json.schemaType, 'PROTOBUF');
    const text: string = got.json.schema;
    assert.match(text, /import "confluent\/type\/decimal\.proto";/);
    // A standard decoder, no sluice code: protobufjs with Confluent's Decimal message defined by hand.
    const root = new protobuf.Root();
    protobuf.parse('syntax = "proto3"; package confluent.type; message Decimal { bytes value = 1; uint32 precision = 2; int32 scale = 3; }', root, { keepCase: true });
    const parsed = protobuf.parse(text, root, { keepCase: true });
    root.resolveAll();
    const Envelope = root.lookupType(`${parsed.package}.Envelope`);
    assert.deepEqual(Envelope.fieldsArray.map((f) => f.name), ['before', 'after', 'source', 'op', 'ts_ms', 'sluice']);
    const m = Envelope.toObject(Envelope.decode(value.subarray(6)), { longs: String, bytes: Buffer }) as any;
    assert.equal(m.op, 'c');
    assert.equal(m.ts_ms, '1700000000456');
    assert.equal(m.source.lsn, String(0x16b374d848n));
    assert.equal(m.source.connector, 'postgresql');
    const a = m.after;
    assert.equal(a.id, '3');
    assert.equal(a.ts, String(BigInt(Date.UTC(1900, 0, 1, 12, 30, 45, 123)) * 1000n), 'MicroTimestamp: microseconds since the epoch');
    assert.equal(a.tstz, '2024-02-29T23:59:59.999000Z');
    assert.equal(a.day, Math.floor(Date.UTC(1969, 6, 20) / 86_400_000));
    assert.equal(a.u, '123e4567-e89b-12d3-a456-426614174000');
    assert.deepEqual(JSON.parse(a.doc), { a: [1, { b: null }], s: 'x' });
    // confluent.type.Decimal: big-endian two's complement of the unscaled value, with precision and scale.
    assert.equal(a.price.scale, 4);
    assert.equal(a.price.precision, 30);
    assert.equal(BigInt.asIntN(a.price.value.length * 8, BigInt('0x' + a.price.value.toString('hex'))), -123456789012345678901234567890n);
    assert.deepEqual(a.tags, { items: ['a', '', 'c'], nulls: [1] }, 'a NULL element: the zero value, its position in nulls');
    assert.deepEqual(a.nums.items, [String(2n ** 63n - 1n), String(-(2n ** 63n)), '0']);
    assert.equal(a.note, undefined, 'NULL: absent');
    // The logical types in confluent.field_meta.
    const Value = root.lookupType(`${parsed.package}.Value`);
    const meta = (f: string) => Object.fromEntries(((Value.fields[f]!.parsedOptions ?? []) as any[]).flatMap((o) => [o['(confluent.field_meta)']?.params ?? []].flat()).map((p: any) => [p.key, p.value]));
    assert.equal(meta('ts')['connect.name'], 'io.debezium.time.MicroTimestamp');
    assert.equal(meta('tstz')['connect.name'], 'io.debezium.time.ZonedTimestamp');
    assert.equal(meta('day')['connect.name'], 'io.debezium.time.Date');
    assert.equal(meta('doc')['connect.name'], 'io.debezium.data.Json');
    assert.equal(meta('u')['connect.name'], 'io.debezium.data.Uuid');
    assert.equal(meta('price')['connect.name'], 'org.apache.kafka.connect.data.Decimal');
    assert.equal(meta('price').scale, '4');
    assert.equal(Value.fields.anynum!.type, 'VariableScaleDecimal');
    // The key, from its own subject.
    const keyText = (await call('GET', `/schemas/ids/${key.readUInt32BE(1)}`)).json.schema;
    const kr = new protobuf.Root();
    const kp = protobuf.parse(keyText, kr, { keepCase: true });
    kr.resolveAll();
    const Key = kr.lookupType(`${kp.package}.Key`);
    assert.equal((Key.toObject(Key.decode(key.subarray(6)), { longs: String }) as any).id, '3');
  } finally {
    writer.close?.();
    await call('DELETE', `/subjects/${topic}-value`).catch(() => undefined);
    await call('DELETE', `/subjects/${topic}-key`).catch(() => undefined);
  }
});

test('protobuf: DROP COLUMN is refused under BACKWARD (Apicurio, even with the number and name reserved); allowed, DROP then ADD of the same name register versions 2 and 3, keep every other field number and never reuse the dropped one; a fresh writer continues the numbering from the registry', async () => {
  const prefix = `rs_pbdrop_${run}`;
  const topic = `${prefix}.public.items`;
  const subject = `${topic}-value`;
  const writer = createSerde({ topicPrefix: prefix, format: 'protobuf', registry: { url } });
  const reader = createSerde({ topicPrefix: prefix, format: 'protobuf', registry: { url } });
  const later = createSerde({ topicPrefix: prefix, format: 'protobuf', registry: { url } });
  const numberOf = async (id: number, field: string) => {
    const text: string = (await call('GET', `/schemas/ids/${id}`)).json.schema;
    return Number(new RegExp(` ${field} = (\\d+)`).exec(text)?.[1]);
  };
  try {
    assert.equal((await call('PUT', `/config/${subject}`, { compatibility: 'BACKWARD' })).status, 200);
    const { value: v1value } = await roundTrip(writer, event(prefix, v1, row(1n)), topic);
    const withoutNote: TableSchema = { key: ['id'], columns: v1.columns.filter((c) => c.name !== 'note' && c.name !== 'small') };
    const e2 = event(prefix, withoutNote, { ...row(2n), note: undefined, small: undefined });
    delete e2.after!.note;
    delete e2.after!.small;
    await assert.rejects(Promise.resolve(writer.prepare([e2])), (err: unknown) => err instanceof SluiceError && err.code === 'SCHEMA_REGISTRY_INCOMPATIBLE');
    assert.equal((await call('PUT', `/config/${subject}`, { compatibility: 'NONE' })).status, 200);
    const { out: o2, value: v2value } = await roundTrip(writer, e2, topic);
    assert.deepEqual(o2.after, e2.after);
    const readded: TableSchema = { key: ['id'], columns: [...withoutNote.columns, { name: 'note', type: 'int32', sourceType: 'int4', optional: true }] };
    const e3 = event(prefix, readded, { ...e2.after!, id: 3n, note: 7 });
    const { value: v3value } = await roundTrip(writer, e3, topic);
    assert.deepEqual((await call('GET', `/subjects/${subject}/versions`)).json, [1, 2, 3]);
    const [id1, id2, id3] = [v1value, v2value, v3value].map((b) => b.readUInt32BE(1));
    assert.equal(await numberOf(id1!, 'r'), await numberOf(id3!, 'r'), 'r keeps its number');
    assert.equal(await numberOf(id2!, 'blob'), await numberOf(id1!, 'blob'));
    assert.equal(await numberOf(id3!, 'note_15'), 15, 'note comes back with a new number and field name (sluice.column "note")');
    assert.match((await call('GET', `/schemas/ids/${id3}`)).json.schema, /reserved 11, 14;\s+reserved "note", "small";/);
    // A v1 record still reads (by its id) after the changes, the old note included.
    await reader.prepareDecode(topic, [{ value: v1value }]);
    assert.equal(reader.decode({ topic }, null, v1value)!.after!.note, null);
    // A writer started later (a restart) reads the subject's latest version and numbers the same way: no new version.
    await later.prepare([e3]);
    assert.equal(Buffer.from(later.encodeValue(e3)).readUInt32BE(1), id3);
    assert.deepEqual((await call('GET', `/subjects/${subject}/versions`)).json, [1, 2, 3]);
  } finally {
    writer.close?.();
    reader.close?.();
    later.close?.();
    await call('DELETE', `/subjects/${subject}`).catch(() => undefined);
    await call('DELETE', `/subjects/${topic}-key`).catch(() => undefined);
  }
});
