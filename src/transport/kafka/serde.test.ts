import { test } from 'node:test';
import assert from 'node:assert/strict';
import { DebeziumSerde, UNAVAILABLE } from './serde';
import { bigIntToBytes, bytesToBigInt } from './columns';
import { Decimal, InvalidJson, type ChangeEvent, type TableSchema } from '../../core';
import { SluiceError } from '../../errors';

const schema: TableSchema = {
  key: ['id'],
  columns: [
    { name: 'id', type: 'int64', sourceType: 'int8', optional: false },
    { name: 'flag', type: 'boolean', sourceType: 'bool', optional: true },
    { name: 'small', type: 'int16', sourceType: 'int2', optional: true },
    { name: 'n', type: 'int32', sourceType: 'int4', optional: true },
    { name: 'r', type: 'float32', sourceType: 'float4', optional: true },
    { name: 'd', type: 'float64', sourceType: 'float8', optional: true },
    { name: 'price', type: 'decimal', sourceType: 'numeric(30,4)', precision: 30, scale: 4, optional: true },
    { name: 'hundreds', type: 'decimal', sourceType: 'numeric(5,-2)', precision: 5, scale: -2, optional: true },
    { name: 'anynum', type: 'decimal', sourceType: 'numeric', optional: true },
    { name: 'txt', type: 'string', sourceType: 'text', optional: true },
    { name: 'u', type: 'uuid', sourceType: 'uuid', optional: true },
    { name: 'mood', type: 'enum', sourceType: 'mood', enumValues: ['sad', 'ok', 'happy'], optional: true },
    { name: 'doc', type: 'json', sourceType: 'jsonb', optional: true },
    { name: 'blob', type: 'bytes', sourceType: 'bytea', optional: true },
    { name: 'day', type: 'date', sourceType: 'date', optional: true },
    { name: 'ts', type: 'timestamp', sourceType: 'timestamp', optional: true },
    { name: 'tstz', type: 'timestamptz', sourceType: 'timestamptz', optional: true },
    { name: 't', type: 'time', sourceType: 'time', optional: true },
    { name: 'ttz', type: 'time', sourceType: 'timetz', optional: true },
    { name: 'iv', type: 'interval', sourceType: 'interval', optional: true },
    { name: 'tags', type: 'array', elementType: 'string', sourceType: 'text[]', optional: true },
    { name: 'nums', type: 'array', elementType: 'int64', sourceType: 'int8[]', optional: true },
    { name: 'amounts', type: 'array', elementType: 'decimal', sourceType: 'numeric(10,2)[]', scale: 2, precision: 10, optional: true },
  ],
};

const MAX = 2n ** 63n - 1n;

function fullRow(id: bigint): Record<string, unknown> {
  return {
    id,
    flag: true,
    small: -32768,
    n: 2147483647,
    r: Math.fround(1.1),
    d: 0.12345678901234568,
    price: new Decimal('-12345678901234567890123456.7890'),
    hundreds: new Decimal('-12300'),
    anynum: new Decimal('3.14159265358979323846264338327950288'),
    txt: 'héllo "world"\n\u0000',
    u: '123e4567-e89b-12d3-a456-426614174000',
    mood: 'happy',
    doc: { a: [1, 2, { b: null }], s: 'x' },
    blob: Buffer.from([0, 1, 2, 255, 254]),
    day: new Date(Date.UTC(1969, 6, 20)),
    ts: new Date(Date.UTC(1900, 0, 1, 12, 30, 45, 123)),
    tstz: new Date(Date.UTC(2024, 1, 29, 23, 59, 59, 999)),
    t: '23:59:59.999999',
    ttz: '12:34:56+02',
    iv: 'P1Y2M3DT4H5M6.789S',
    tags: ['a', null, 'c'],
    nums: [MAX, -MAX - 1n, 0n],
    amounts: [new Decimal('1.50'), null, new Decimal('-0.01')],
  };
}

function event(op: ChangeEvent['op'], before: Record<string, unknown> | null, after: Record<string, unknown> | null): ChangeEvent {
  const id = (after ?? before)!.id;
  return {
    table: { schema: 'public', table: 'orders' },
    op,
    key: { id },
    before,
    after,
    source: { connector: 'postgresql', name: 'src', db: 'app', schema: 'public', table: 'orders', ts_ms: 1700000000123, snapshot: 'false', lsn: '16/B374D848', txId: 771 },
    ts_ms: 1700000000456,
    schema,
  };
}

function roundTrip(serde: DebeziumSerde, e: ChangeEvent): ChangeEvent {
  const out = serde.decode({ topic: 't', partition: 0, offset: '1' }, Buffer.from(serde.encodeKey(e)), Buffer.from(serde.encodeValue(e)));
  assert.ok(out);
  return out;
}

test('every logical type round-trips exactly, int64 at ±(2^63-1) included', () => {
  const serde = new DebeziumSerde('sluice');
  for (const id of [MAX, -MAX, 0n, 1n]) {
    const e = event('u', fullRow(id), { ...fullRow(id), txt: 'after' });
    const out = roundTrip(serde, e);
    assert.deepEqual(out.after, e.after);
    assert.deepEqual(out.before, e.before);
    assert.deepEqual(out.key, { id });
    assert.deepEqual(out.source, e.source);
    assert.equal(out.op, 'u');
    assert.equal(out.ts_ms, e.ts_ms);
    assert.deepEqual(out.schema, schema, 'the TableSchema is rebuilt from the Connect schema');
  }
});

test("a PostgreSQL timestamptz is written as Debezium's PostgreSQL connector writes it: six fraction digits", () => {
  const serde = new DebeziumSerde('sluice');
  const value = JSON.parse(serde.encodeValue(event('c', null, fullRow(1n))));
  assert.equal(value.payload.after.tstz, '2024-02-29T23:59:59.999000Z');
  const mysqlTs = new DebeziumSerde('sluice').encodeValue({ ...event('c', null, { id: 1n, ts: new Date(Date.UTC(2024, 0, 1)) }), schema: { columns: [{ name: 'id', type: 'int64', sourceType: 'bigint', optional: false }, { name: 'ts', type: 'timestamptz', sourceType: 'timestamp', optional: true }], key: ['id'] } });
  assert.equal(JSON.parse(mysqlTs).payload.after.ts, '2024-01-01T00:00:00.000Z', 'other sources keep the ISO text');
});

test('second decode on a topic reuses the schema and returns the shared TableSchema', () => {
  const serde = new DebeziumSerde('sluice');
  const a = roundTrip(serde, event('c', null, fullRow(1n)));
  const b = roundTrip(serde, event('c', null, fullRow(2n)));
  assert.equal(a.schema, b.schema);
  assert.deepEqual(b.after, fullRow(2n));
});

test('nulls everywhere and deletes round-trip', () => {
  const serde = new DebeziumSerde('sluice');
  const nulls = Object.fromEntries(schema.columns.map((c) => [c.name, null]));
  const e = event('d', { ...nulls, id: 5n }, null);
  const out = roundTrip(serde, e);
  assert.deepEqual(out.before, e.before);
  assert.equal(out.after, null);
});

test('unavailable (unchanged TOAST) values come back as undefined, in every column type', () => {
  const serde = new DebeziumSerde('sluice');
  const undef = Object.fromEntries(schema.columns.map((c) => [c.name, undefined]));
  const e = event('u', null, { ...undef, id: 9n });
  const value = serde.encodeValue(e);
  // Debezium's in-band placeholders where the type can carry one.
  assert.match(value, new RegExp(`"txt":"${UNAVAILABLE}"`));
  assert.match(value, new RegExp(`"blob":"${Buffer.from(UNAVAILABLE).toString('base64')}"`));
  assert.match(value, new RegExp(`"tags":\\["${UNAVAILABLE}"\\]`));
  assert.match(value, new RegExp(`"nums":\\[${[...Buffer.from(UNAVAILABLE)].join(',')}\\]`));
  const out = roundTrip(serde, e);
  assert.deepEqual(out.after, e.after);
  for (const c of schema.columns) if (c.name !== 'id') assert.ok(c.name in out.after! && out.after![c.name] === undefined, c.name);
});

test('NaN and ±Infinity survive: decimals through the sidecar, floats as Jackson strings', () => {
  const serde = new DebeziumSerde('sluice');
  const e = event('c', null, { ...fullRow(3n), price: new Decimal('NaN'), anynum: new Decimal('-Infinity'), d: Number.NaN, r: Number.NEGATIVE_INFINITY });
  const out = roundTrip(serde, e);
  assert.deepEqual(out.after, e.after);
  const minus0 = roundTrip(serde, event('c', null, { ...fullRow(4n), d: -0 }));
  assert.ok(Object.is(minus0.after!.d, -0));
});

test('decimal encoding is Connect Decimal: base64 of big-endian two\'s complement, scale in parameters', () => {
  for (const n of [0n, 1n, -1n, 127n, 128n, -128n, -129n, 255n, 256n, MAX, -MAX - 1n, 10n ** 40n, -(10n ** 40n)]) {
    assert.equal(bytesToBigInt(bigIntToBytes(n)), n);
  }
  assert.equal(bigIntToBytes(-1n).toString('hex'), 'ff');
  assert.equal(bigIntToBytes(128n).toString('hex'), '0080');
  const serde = new DebeziumSerde('p');
  const v = JSON.parse(serde.encodeValue(event('c', null, { ...fullRow(1n), price: new Decimal('1.5') })));
  const priceSchema = v.schema.fields[1].fields.find((f: { field: string }) => f.field === 'price');
  assert.equal(priceSchema.name, 'org.apache.kafka.connect.data.Decimal');
  assert.equal(priceSchema.parameters.scale, '4');
  assert.equal(v.payload.after.price, Buffer.from([0x3a, 0x98]).toString('base64')); // 15000
  assert.equal(v.schema.name, 'p.public.orders.Envelope');
  assert.equal(BigInt(v.payload.source.lsn), (0x16n << 32n) | 0xb374d848n, 'lsn as the Debezium int64');
});

test('a value that does not fit the column scale is rejected, not rounded', () => {
  const serde = new DebeziumSerde('p');
  assert.throws(() => serde.encodeValue(event('c', null, { ...fullRow(1n), price: new Decimal('1.23456') })), (e: unknown) => e instanceof SluiceError && e.code === 'SINK_RECORD_REJECTED');
});

test('key encoding is stable: same key, same bytes, whatever the row holds', () => {
  const serde = new DebeziumSerde('p');
  const a = serde.encodeKey(event('c', null, fullRow(42n)));
  const b = serde.encodeKey(event('u', fullRow(42n), { ...fullRow(42n), txt: 'other' }));
  const c = new DebeziumSerde('p').encodeKey(event('d', fullRow(42n), null));
  assert.equal(a, b);
  assert.equal(a, c);
  assert.deepEqual(JSON.parse(a).payload, { id: 42 });
  assert.equal(JSON.parse(a).schema.name, 'p.public.orders.Key');
});

test('events without a TableSchema are typed from their values', () => {
  const serde = new DebeziumSerde('m');
  const e: ChangeEvent = {
    table: { schema: '', table: 'things' },
    op: 'r',
    key: { id: 'k1' },
    before: null,
    after: { id: 'k1', n: 1.5, big: 2n ** 62n, when: new Date(0), doc: { x: 1 }, b: Buffer.from('hi'), dec: new Decimal('1.10') },
    source: { connector: 'memory', name: 'mem', db: 'memory', schema: '', table: 'things', ts_ms: 1, snapshot: 'true', pos: 7 },
    ts_ms: 2,
  };
  const out = roundTrip(serde, e);
  assert.deepEqual(out.after, e.after);
  assert.deepEqual(out.key, e.key);
  assert.deepEqual(out.source, e.source);
});

test('a literal Debezium PostgreSQL message decodes', () => {
  const key = '{"schema":{"type":"struct","fields":[{"type":"int32","optional":false,"field":"id"}],"optional":false,"name":"dbserver1.inventory.customers.Key"},"payload":{"id":1004}}';
  const value = JSON.stringify({
    schema: {
      type: 'struct',
      fields: [
        { type: 'struct', fields: [{ type: 'int32', optional: false, field: 'id' }, { type: 'string', optional: false, field: 'email' }, { type: 'int64', optional: true, name: 'io.debezium.time.MicroTimestamp', version: 1, field: 'seen' }, { type: 'struct', fields: [{ type: 'int32', optional: false, field: 'scale' }, { type: 'bytes', optional: false, field: 'value' }], optional: true, name: 'io.debezium.data.VariableScaleDecimal', version: 1, field: 'balance' }, { type: 'int32', optional: true, name: 'io.debezium.time.Date', version: 1, field: 'born' }, { type: 'string', optional: true, field: 'notes' }], optional: true, name: 'dbserver1.inventory.customers.Value', field: 'before' },
        { type: 'struct', fields: [{ type: 'int32', optional: false, field: 'id' }, { type: 'string', optional: false, field: 'email' }, { type: 'int64', optional: true, name: 'io.debezium.time.MicroTimestamp', version: 1, field: 'seen' }, { type: 'struct', fields: [{ type: 'int32', optional: false, field: 'scale' }, { type: 'bytes', optional: false, field: 'value' }], optional: true, name: 'io.debezium.data.VariableScaleDecimal', version: 1, field: 'balance' }, { type: 'int32', optional: true, name: 'io.debezium.time.Date', version: 1, field: 'born' }, { type: 'string', optional: true, field: 'notes' }], optional: true, name: 'dbserver1.inventory.customers.Value', field: 'after' },
        { type: 'struct', fields: [{ type: 'string', optional: false, field: 'version' }, { type: 'string', optional: false, field: 'connector' }, { type: 'string', optional: false, field: 'name' }, { type: 'int64', optional: false, field: 'ts_ms' }, { type: 'string', optional: true, name: 'io.debezium.data.Enum', version: 1, parameters: { allowed: 'true,last,false,incremental' }, default: 'false', field: 'snapshot' }, { type: 'string', optional: false, field: 'db' }, { type: 'string', optional: false, field: 'schema' }, { type: 'string', optional: false, field: 'table' }, { type: 'int64', optional: true, field: 'txId' }, { type: 'int64', optional: true, field: 'lsn' }], optional: false, name: 'io.debezium.connector.postgresql.Source', field: 'source' },
        { type: 'string', optional: false, field: 'op' },
        { type: 'int64', optional: true, field: 'ts_ms' },
      ],
      optional: false,
      name: 'dbserver1.inventory.customers.Envelope',
    },
    payload: {
      before: null,
      after: { id: 1004, email: 'annek@noanswer.org', seen: 1559033904863123, balance: { scale: 2, value: 'MDk=' }, born: -1, notes: UNAVAILABLE },
      source: { version: '2.5.0.Final', connector: 'postgresql', name: 'dbserver1', ts_ms: 1559033904863, snapshot: 'false', db: 'postgres', schema: 'inventory', table: 'customers', txId: 555, lsn: 24023128 },
      op: 'c',
      ts_ms: 1559033904863,
    },
  });
  const out = new DebeziumSerde('x').decode({ topic: 'dbserver1.inventory.customers' }, key, value)!;
  assert.deepEqual(out.key, { id: 1004 });
  assert.deepEqual(out.table, { schema: 'inventory', table: 'customers' });
  assert.deepEqual(out.after, { id: 1004, email: 'annek@noanswer.org', seen: new Date(1559033904863), balance: new Decimal('123.45'), born: new Date(Date.UTC(1969, 11, 31)), notes: undefined });
  assert.equal(out.source.lsn, '0/16E9058');
  assert.equal(out.source.txId, 555);
  assert.deepEqual(out.schema!.key, ['id']);
  assert.equal(out.schema!.columns.find((c) => c.name === 'balance')!.type, 'decimal');
});

test('tombstones decode to null; garbage fails with KAFKA_DECODE_FAILED naming topic, partition and offset', () => {
  const serde = new DebeziumSerde('x');
  assert.equal(serde.decode({ topic: 't' }, '{"id":1}', null), null);
  for (const bad of ['not json', '{"schema":null,"payload":{"op":"x"}}', '[1,2]']) {
    assert.throws(
      () => serde.decode({ topic: 't', partition: 3, offset: '17' }, null, bad),
      (e: unknown) => e instanceof SluiceError && e.code === 'KAFKA_DECODE_FAILED' && e.detail.partition === 3 && e.detail.offset === '17',
    );
  }
});

test('a JSON column holding text that is not JSON travels as that text (io.debezium.data.Json) and decodes back to InvalidJson', () => {
  const serde = new DebeziumSerde('sluice');
  const raw = '{"a": [1, 2';
  const e = event('c', null, { ...fullRow(7n), doc: new InvalidJson(raw, 'Unexpected end of JSON input') });
  const value = JSON.parse(serde.encodeValue(e).toString()) as { payload: { after: { doc: unknown } } };
  assert.equal(value.payload.after.doc, raw, 'the raw text, not a JSON string of it');
  const out = roundTrip(serde, e);
  assert.ok(out.after!.doc instanceof InvalidJson);
  assert.equal((out.after!.doc as InvalidJson).text, raw);
  // and another producer's record whose io.debezium.data.Json string is not JSON decodes the same way
  const other = event('c', null, fullRow(8n));
  const v = JSON.parse(serde.encodeValue(other)) as { payload: { after: { doc: unknown } } };
  v.payload.after.doc = 'not json {';
  const decoded = serde.decode({ topic: 't', partition: 0, offset: '2' }, Buffer.from(serde.encodeKey(other)), Buffer.from(JSON.stringify(v)));
  assert.ok(decoded?.after!.doc instanceof InvalidJson);
  assert.equal((decoded.after!.doc as InvalidJson).text, 'not json {');
});

test('json-payload: the payload alone, decimals as exact strings, types in payload.sluice.types; decodes to the same event as json', () => {
  const json = new DebeziumSerde('sluice');
  const payload = new DebeziumSerde('sluice', 'json-payload');
  for (const id of [MAX, 1n]) {
    const e = event('u', fullRow(id), { ...fullRow(id), txt: 'after', anynum: new Decimal('NaN') });
    const text = payload.encodeValue(e);
    const v = JSON.parse(text);
    assert.equal(v.schema, undefined, 'no inline schema');
    assert.equal(v.after.price, '-12345678901234567890123456.7890', 'an exact decimal is a string with its digits');
    assert.equal(v.after.anynum, 'NaN');
    assert.deepEqual(v.after.amounts, ['1.50', null, '-0.01']);
    assert.equal(v.after.ts, Date.UTC(1900, 0, 1, 12, 30, 45, 123) * 1000, 'timestamps are MicroTimestamp microseconds');
    assert.equal(v.after.tstz, '2024-02-29T23:59:59.999000Z');
    assert.equal(v.sluice.types.price, 'decimal');
    assert.equal(v.sluice.types.ttz, 'timetz');
    assert.equal(v.sluice.types.amounts, 'array<decimal>');
    assert.equal(v.sluice.types.txt, undefined, 'plain strings need no type');
    assert.ok(text.length < json.encodeValue(e).length / 2, 'far smaller than json');
    const a = roundTrip(payload, e);
    const b = roundTrip(json, { ...e, after: { ...e.after!, anynum: new Decimal('NaN') } });
    assert.deepEqual(a.after, b.after, 'the same values as from json');
    assert.deepEqual(a.before, e.before);
    assert.deepEqual(a.key, { id }, 'key types come from the value');
    assert.deepEqual(a.source, e.source);
    assert.deepEqual(a.schema!.key, ['id']);
    assert.deepEqual(
      a.schema!.columns.map((c) => [c.name, c.type, c.elementType]),
      schema.columns.map((c) => [c.name, c.type, c.elementType]),
    );
  }
  // Unavailable values keep their sidecar entries beside the types.
  const toast = payload.decode({ topic: 't' }, null, payload.encodeValue(event('u', null, { ...fullRow(3n), ts: undefined, blob: undefined })));
  assert.equal(toast!.after!.ts, undefined);
  assert.ok('ts' in toast!.after!);
  assert.equal(toast!.after!.blob, undefined);
});
