/**
 * The protobuf format's schema generation and values, without a registry: the type
 * table round-trips through the .proto sluice generates, field numbers stay put across
 * table versions (ADD, DROP, DROP then ADD of the same name), names Protobuf refuses are
 * adjusted and kept, arrays keep NULL and NULL elements apart, bytes cut short are refused.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Decimal, type ChangeEvent, type ColumnSpec, type TableSchema } from '../../core';
import { DebeziumSerde, parseJson } from './serde';
import type { ConnectSchema } from './columns';
import { connectToProto, numberColumns, protoNumbering, protoToConnect, protoType, type Numbering } from './protobuf';
import { protoCodec, readMessageIndexes } from './protobuf-values';

const SIDECAR: ConnectSchema = { type: 'string', optional: true, field: 'sluice' };

const col = (name: string, type: ColumnSpec['type'], sourceType: string, extra: Partial<ColumnSpec> = {}): ColumnSpec => ({ name, type, sourceType, optional: true, ...extra });

const types: TableSchema = {
  key: ['id'],
  columns: [
    col('id', 'int64', 'int8', { optional: false }),
    col('flag', 'boolean', 'bool'),
    col('small', 'int16', 'int2'),
    col('n', 'int32', 'int4'),
    col('r', 'float32', 'float4'),
    col('d', 'float64', 'float8'),
    col('price', 'decimal', 'numeric(30,4)', { precision: 30, scale: 4 }),
    col('anynum', 'decimal', 'numeric'),
    col('txt', 'string', 'text'),
    col('u', 'uuid', 'uuid'),
    col('mood', 'enum', 'mood', { enumValues: ['sad', 'happy'] }),
    col('doc', 'json', 'jsonb'),
    col('blob', 'bytes', 'bytea'),
    col('day', 'date', 'date'),
    col('ts', 'timestamp', 'timestamp'),
    col('tstz', 'timestamptz', 'timestamptz'),
    col('t', 'time', 'time'),
    col('tags', 'array', 'text[]', { elementType: 'string' }),
    col('nums', 'array', 'int8[]', { elementType: 'int64' }),
    col('amounts', 'array', 'numeric(10,2)[]', { elementType: 'decimal', scale: 2, precision: 10 }),
  ],
};

const MAX = 2n ** 63n - 1n;
const full = (id: bigint): Record<string, unknown> => ({
  id,
  flag: false,
  small: -32768,
  n: 0,
  r: Math.fround(1.1),
  d: Number.NaN,
  price: new Decimal('-12345678901234567890123456.7890'),
  anynum: new Decimal('3.14159265358979323846264338327950288'),
  txt: 'héllo "world"\n😀',
  u: '123e4567-e89b-12d3-a456-426614174000',
  mood: 'happy',
  doc: { a: [1, { b: null }], s: 'x' },
  blob: Buffer.from([0, 1, 255]),
  day: new Date(Date.UTC(1969, 6, 20)),
  ts: new Date(Date.UTC(1900, 0, 1, 12, 30, 45, 123)),
  tstz: new Date(Date.UTC(2024, 1, 29, 23, 59, 59, 999)),
  t: '23:59:59.999999',
  tags: ['a', null, ''],
  nums: [MAX, -MAX - 1n, 0n],
  amounts: [null, new Decimal('1.50'), new Decimal('-0.01')],
});

function event(schema: TableSchema, after: Record<string, unknown> | null, before: Record<string, unknown> | null = null): ChangeEvent {
  return {
    table: { schema: 'public', table: 'orders' },
    op: after ? (before ? 'u' : 'c') : 'd',
    key: { id: (after ?? before)!.id },
    before,
    after,
    source: { connector: 'postgresql', name: 'src', db: 'app', schema: 'public', table: 'orders', ts_ms: 1700000000123, snapshot: 'false', lsn: '16/B374D848', txId: 771 },
    ts_ms: 1700000000456,
    schema,
  };
}

/** An event through .proto text sluice generates, encoded and decoded as the registry serde does (no registry). */
function protoRoundTrip(e: ChangeEvent, previous?: Numbering): { out: ChangeEvent; text: string; numbering: Numbering; bytes: Uint8Array } {
  const json = new DebeziumSerde('shop', 'json');
  const v = json.connectOf(e, 'value');
  const k = json.connectOf(e, 'key');
  const value = connectToProto({ ...v.schema, fields: [...v.schema.fields!, SIDECAR] }, previous);
  const key = connectToProto(k.schema);
  const vc = protoCodec(protoType(value.text));
  const kc = protoCodec(protoType(key.text));
  const payload = parseJson(v.payload) as Record<string, unknown>;
  payload.sluice = null;
  const bytes = vc.encode(payload);
  const decoded = vc.decode(bytes);
  delete decoded.sluice;
  const out = json.fromConnect({ schema: protoToConnect(vc.type), payload: decoded }, { schema: protoToConnect(kc.type), payload: kc.decode(kc.encode(parseJson(k.payload) as Record<string, unknown>)) });
  return { out, text: value.text, numbering: value.numbering, bytes };
}

test('protobuf: every logical type round-trips exactly through the generated .proto (int64 at both ends, exact decimals, NaN, arrays with NULL elements)', () => {
  const e = event(types, full(MAX));
  const { out, text } = protoRoundTrip(e);
  assert.deepEqual(out.after, e.after);
  assert.deepEqual(out.key, { id: MAX });
  assert.deepEqual(out.source, e.source);
  assert.equal(out.ts_ms, e.ts_ms);
  assert.deepEqual(out.schema!.columns.map((c) => [c.name, c.type, c.elementType]), types.columns.map((c) => [c.name, c.type, c.elementType]));
  // Debezium's shapes, for a consumer reading the .proto.
  assert.match(text, /^syntax = "proto3";\npackage shop\.public\.orders;/);
  assert.match(text, /import "confluent\/type\/decimal\.proto";/);
  const envelope = text.slice(text.indexOf('message Envelope {'), text.indexOf('\n}\n', text.indexOf('message Envelope {')));
  assert.deepEqual(
    envelope.split('\n').slice(2).map((l) => l.replace(/ \[.*\];$/, ';').trim()),
    ['Value before = 1;', 'Value after = 2;', 'Source source = 3;', 'string op = 4;', 'optional int64 ts_ms = 5;', 'optional string sluice = 6;'],
  );
  assert.ok(text.indexOf('message Envelope {') < text.indexOf('message Value {'), 'the Envelope is the first message (message index 0)');
  assert.match(text, /confluent\.type\.Decimal price = 7 \[\(confluent\.field_meta\) = \{[^\]]*key: "scale", value: "4"[^\]]*key: "connect\.decimal\.precision", value: "30"[^\]]*key: "connect\.name", value: "org\.apache\.kafka\.connect\.data\.Decimal"/);
  assert.match(text, /optional int64 ts = 15 \[\(confluent\.field_meta\) = \{[^\]]*value: "io\.debezium\.time\.MicroTimestamp"/);
  assert.match(text, /optional string doc = 12 \[[^\]]*value: "io\.debezium\.data\.Json"/);
  assert.match(text, /optional string u = 10 \[[^\]]*value: "io\.debezium\.data\.Uuid"/);
  assert.match(text, /optional int32 small = 3 \[[^\]]*key: "connect\.type", value: "int16"/);
  assert.match(text, /optional int64 id = 1 \[[^\]]*key: "connect\.optional", value: "false"/, 'a required column: optional in the .proto (labels never change), required in connect.optional');
  assert.match(text, /message TagsArray \{\n {4}repeated string items = 1;\n {4}repeated uint32 nulls = 2;\n {2}\}/);
});

test('protobuf: NULL and zero differ, and a NULL array, an empty array and an array of NULLs stay apart', () => {
  const zero = { ...Object.fromEntries(types.columns.map((c) => [c.name, null])), id: 0n, n: 0, flag: false, txt: '', tags: [], nums: [null, null], amounts: null };
  const { out } = protoRoundTrip(event(types, zero));
  assert.deepEqual(out.after, zero);
  const nulls = { ...Object.fromEntries(types.columns.map((c) => [c.name, null])), id: 1n };
  assert.deepEqual(protoRoundTrip(event(types, nulls)).out.after, nulls);
  // A delete: before only, after null.
  const del = protoRoundTrip(event(types, null, full(2n))).out;
  assert.equal(del.op, 'd');
  assert.equal(del.after, null);
  assert.deepEqual(del.before, full(2n));
});

test('protobuf field numbers stay put across table versions: ADD takes a new number, DROP reserves its number, DROP then ADD of the same name never reuses it', () => {
  const v1 = numberColumns(['id', 'a', 'b', 'c']);
  assert.deepEqual([...v1.fields], [['id', 1], ['a', 2], ['b', 3], ['c', 4]]);
  const added = numberColumns(['id', 'a', 'x', 'b', 'c'], v1); // a column added in the middle (MariaDB AFTER a)
  assert.deepEqual([...added.fields], [['id', 1], ['a', 2], ['x', 5], ['b', 3], ['c', 4]]);
  const dropped = numberColumns(['id', 'a', 'x', 'c'], added);
  assert.deepEqual([...dropped.fields], [['id', 1], ['a', 2], ['x', 5], ['c', 4]]);
  assert.deepEqual(dropped.reserved, [3]);
  assert.deepEqual(dropped.reservedNames, ['b']);
  const readded = numberColumns(['id', 'a', 'x', 'c', 'b'], dropped);
  assert.equal(readded.fields.get('b'), 6, 'b comes back with a new number: old b values are not read as the new b');
  assert.equal(readded.names.get('b'), 'b_6', 'and a new field name: the old one stays reserved');
  assert.deepEqual(readded.reserved, [3]);
  assert.deepEqual(readded.reservedNames, ['b']);
  // Through the .proto text the registry holds: the numbering read back is the one written.
  const t = (cols: string[]): TableSchema => ({ key: ['id'], columns: cols.map((c) => col(c, c === 'id' ? 'int64' : 'int32', c === 'id' ? 'int8' : 'int4', { optional: c !== 'id' })) });
  const r1 = protoRoundTrip(event(t(['id', 'a', 'b', 'c']), { id: 1n, a: 1, b: 2, c: 3 }));
  const r2 = protoRoundTrip(event(t(['id', 'a', 'c']), { id: 1n, a: 1, c: 3 }), protoNumbering(r1.text));
  assert.match(r2.text, /optional int32 c = 4 /);
  assert.match(r2.text, /\n {2}reserved 3;\n {2}reserved "b";\n/);
  assert.deepEqual(protoNumbering(r2.text), r2.numbering);
  const r3 = protoRoundTrip(event(t(['id', 'a', 'c', 'b']), { id: 1n, a: 1, c: 3, b: 9 }), protoNumbering(r2.text));
  assert.match(r3.text, /optional int32 b_5 = 5 \[[^\]]*key: "sluice\.column", value: "b"/);
  assert.deepEqual(r3.out.after, { id: 1n, a: 1, c: 3, b: 9 });
  // A v1 record read with v3's schema (what a consumer holding the new schema sees): b's old number is not the new b.
  const v3 = protoCodec(protoType(r3.text)).decode(r1.bytes);
  assert.equal((v3.after as Record<string, unknown>).b, null);
  assert.equal((v3.after as Record<string, unknown>).c, 3);
});

test('protobuf: column names that are keywords or not identifiers get adjusted field names, deterministically, and keep their own in sluice.column', () => {
  const odd: TableSchema = {
    key: ['id'],
    columns: [col('id', 'int64', 'int8', { optional: false }), col('message', 'string', 'text'), col('order id', 'int32', 'int4'), col('order_id', 'int32', 'int4'), col('1st', 'string', 'text'), col('toJSON', 'string', 'text'), col('größe', 'string', 'text'), col('tags list', 'array', 'text[]', { elementType: 'string' })],
  };
  const row = { id: 1n, message: 'm', 'order id': 1, order_id: 2, '1st': 'first', toJSON: 'j', größe: 'xl', 'tags list': ['a', null] };
  const { out, text } = protoRoundTrip(event(odd, row));
  assert.deepEqual(out.after, row);
  assert.deepEqual(out.schema!.columns.map((c) => c.name), odd.columns.map((c) => c.name));
  assert.match(text, /optional string message_ = 2 \[[^\]]*key: "sluice\.column", value: "message"/);
  assert.match(text, /optional int32 order_id_3 = 3 \[[^\]]*key: "sluice\.column", value: "order id"/, 'a clash with a real column name takes the field number');
  assert.match(text, /optional int32 order_id = 4 /);
  assert.match(text, /optional string _1st = 5 /);
  assert.match(text, /optional string toJSON_ = 6 /);
  assert.match(text, /optional string gr__e = 7 /);
  assert.match(text, /TagsListArray tags_list = 8 /);
  assert.equal(protoRoundTrip(event(odd, row)).text, text, 'the same table version gives the same text (one registry version)');
});

test('protobuf: bytes cut short, or a wire type sluice does not write, are refused rather than read as other values', () => {
  const { text, bytes } = protoRoundTrip(event(types, full(3n)));
  const codec = protoCodec(protoType(text));
  // The last field is ts_ms (a tag and a 6-byte varint): every cut inside it is refused.
  // (Cut 7, the whole field, leaves a shorter valid message: Protobuf cannot tell.)
  for (let cut = 1; cut <= 6; cut++) assert.throws(() => codec.decode(bytes.subarray(0, bytes.length - cut)), /cut short/, `cut ${cut}`);
  assert.throws(() => codec.decode(Buffer.from([0x0b, 0x0c])), /wire type 3/);
  assert.throws(() => codec.decode(Buffer.from([0x00, 0x01])), /field number 0/);
});

test("Confluent's message-index array: one zero byte for the first message, zigzag varints otherwise", () => {
  assert.deepEqual(readMessageIndexes(Buffer.from([9, 0, 7]), 1), { indexes: [0], start: 2 });
  assert.deepEqual(readMessageIndexes(Buffer.from([4, 2, 6, 7]), 0), { indexes: [1, 3], start: 3 });
  assert.throws(() => readMessageIndexes(Buffer.from([4, 2]), 0), /cut short/);
  const { text } = protoRoundTrip(event(types, full(3n)));
  assert.equal(protoType(text).name, 'Envelope');
  assert.equal(protoType(text, [1]).name, 'Value');
});
