/**
 * The Kafka transport against the test stack's real Kafka: what the sink receives,
 * when offsets move, and what a restart or a failing sink does.
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import pino from 'pino';
import { Kafka, logLevel } from 'kafkajs';
import { Writable } from 'node:stream';
import { stackUrls } from '../../../test/helpers/stack';
import { waitFor } from '../../../test/helpers/wait-for';
import { Decimal, type ChangeEvent, type ConnectorContext, type EventBatch, type Sink, type StreamSpec, type TableSchema } from '../../core';
import { SluiceError } from '../../errors';
import { createTransport } from '../index';
import { MAX_PARTITION_BYTES, type KafkaTransport } from './index';
import { partitionOf as partitionOfKey } from './partition';
import { DebeziumSerde } from './serde';

const brokers = stackUrls().kafka;
const run = randomUUID().slice(0, 8);
const logger = pino({ level: process.env.SLUICE_TEST_LOG ?? 'silent' });
const admin = new Kafka({ brokers: [brokers], logLevel: logLevel.NOTHING, clientId: 'sluice-test' }).admin();
const opened: KafkaTransport[] = [];
const WAIT = { timeoutMs: 60_000, intervalMs: 50 };

after(async () => {
  await Promise.all(opened.map((t) => t.close().catch(() => undefined)));
  await admin.disconnect();
});

const schema: TableSchema = {
  key: ['id'],
  columns: [
    { name: 'id', type: 'int64', sourceType: 'int8', optional: false },
    { name: 'ok', type: 'boolean', sourceType: 'bool', optional: true },
    { name: 'n', type: 'int32', sourceType: 'int4', optional: true },
    { name: 'f', type: 'float64', sourceType: 'float8', optional: true },
    { name: 'price', type: 'decimal', sourceType: 'numeric(20,6)', precision: 20, scale: 6, optional: true },
    { name: 'any', type: 'decimal', sourceType: 'numeric', optional: true },
    { name: 'name', type: 'string', sourceType: 'text', optional: true },
    { name: 'u', type: 'uuid', sourceType: 'uuid', optional: true },
    { name: 'mood', type: 'enum', sourceType: 'mood', enumValues: ['sad', 'happy'], optional: true },
    { name: 'doc', type: 'json', sourceType: 'jsonb', optional: true },
    { name: 'blob', type: 'bytes', sourceType: 'bytea', optional: true },
    { name: 'day', type: 'date', sourceType: 'date', optional: true },
    { name: 'ts', type: 'timestamp', sourceType: 'timestamp', optional: true },
    { name: 'tstz', type: 'timestamptz', sourceType: 'timestamptz', optional: true },
    { name: 't', type: 'time', sourceType: 'time', optional: true },
    { name: 'iv', type: 'interval', sourceType: 'interval', optional: true },
    { name: 'tags', type: 'array', elementType: 'string', sourceType: 'text[]', optional: true },
  ],
};

let seq = 0;
function change(id: bigint, op: ChangeEvent['op'], version: number): ChangeEvent {
  const row = {
    id,
    ok: version % 2 === 0,
    n: version,
    f: version / 3,
    price: new Decimal(`${version}.000001`),
    any: new Decimal('-98765432109876543210.0123456789'),
    name: `v${version}`,
    u: '123e4567-e89b-12d3-a456-426614174000',
    mood: 'happy',
    doc: { v: version, nested: [1, 'two', null] },
    blob: Buffer.from([version & 255, 0, 255]),
    day: new Date(Date.UTC(1960, 1, 29)),
    ts: new Date(Date.UTC(2020, 0, 1, 0, 0, 0, version % 1000)),
    tstz: new Date(Date.UTC(2024, 5, 1, 12, 0, 0, 1)),
    t: '08:30:00.123456',
    iv: 'P1DT2H',
    tags: ['a', null],
  };
  return {
    table: { schema: 'public', table: 'items' },
    op,
    key: { id },
    before: op === 'c' || op === 'r' ? null : { ...row, name: 'old', doc: undefined },
    after: op === 'd' ? null : row,
    source: { connector: 'postgresql', name: 'pg', db: 'app', schema: 'public', table: 'items', ts_ms: 1_700_000_000_000 + ++seq, snapshot: 'false', lsn: `0/${(0x1000 + seq).toString(16).toUpperCase()}`, txId: seq },
    ts_ms: 1_700_000_000_000 + seq,
    schema,
  };
}

function streamSpec(name: string): StreamSpec {
  return {
    id: `it-${run}-${name}`,
    name,
    source: { connectionId: 'src' },
    sink: { connectionId: 'snk' },
    transport: { kind: 'kafka' },
    mode: 'CDC',
    tables: ['public.items'],
    options: { topicPrefix: `it.${run}.${name}` },
  };
}

/** Records what it wrote; `gate` (when set) holds each write until the test opens it. */
function recordingSink() {
  const events: ChangeEvent[] = [];
  let calls = 0;
  let gate: Promise<void> | null = null;
  let open: () => void = () => undefined;
  let fail: unknown = null;
  const sink: Sink = {
    async write(batch: EventBatch, ctx: ConnectorContext) {
      calls++;
      if (fail) throw fail;
      if (gate) {
        await Promise.race([
          gate,
          new Promise((_, reject) => ctx.signal.addEventListener('abort', () => reject(Object.assign(new Error('aborted'), { name: 'AbortError' })), { once: true })),
        ]);
      }
      events.push(...batch.events);
    },
    close: async () => undefined,
  };
  return {
    sink,
    events,
    calls: () => calls,
    hold() {
      gate = new Promise((r) => (open = r));
    },
    release() {
      gate = null;
      open();
    },
    failWith(err: unknown) {
      fail = err;
    },
  };
}

function context(): ConnectorContext & { abort(): void } {
  const ac = new AbortController();
  return { streamId: 's', runId: 'r', logger, signal: ac.signal, abort: () => ac.abort() };
}

async function open(spec: StreamSpec, sink: Sink, ctx: ConnectorContext, tombstones = true, compression: 'gzip' | 'none' = 'gzip'): Promise<KafkaTransport> {
  const t = createTransport('kafka', { sink, stream: spec, kafka: { brokers, clientId: 'sluice-it', topicPartitions: 3, replicationFactor: 1, compression, tombstones } }) as KafkaTransport;
  opened.push(t);
  await t.start(ctx);
  return t;
}

async function committed(groupId: string, topic: string): Promise<bigint> {
  const [t] = await admin.fetchOffsets({ groupId, topics: [topic] });
  return t!.partitions.reduce((sum, p) => sum + (BigInt(p.offset) < 0n ? 0n : BigInt(p.offset)), 0n);
}

const topicOf = (spec: StreamSpec) => `${spec.options.topicPrefix}.public.items`;

test('the sink receives every event decoded equal to the original, in per-key order', async () => {
  await admin.connect();
  const spec = streamSpec('roundtrip');
  const rec = recordingSink();
  const ctx = context();
  const t = await open(spec, rec.sink, ctx);
  const published: ChangeEvent[] = [];
  for (let b = 0; b < 5; b++) {
    const events = [1n, 2n, 2n ** 62n + 7n, 4n].map((id, i) => change(id, b === 0 ? 'c' : b === 4 && i === 0 ? 'd' : 'u', b * 10 + i));
    published.push(...events);
    await t.publish({ events, position: { b } }, ctx);
  }
  await waitFor(() => rec.events.length >= published.length, { ...WAIT, message: 'all events reach the sink' });
  for (const id of [1n, 2n, 2n ** 62n + 7n, 4n]) {
    const sent = published.filter((e) => e.key.id === id);
    const got = rec.events.filter((e) => e.key.id === id);
    assert.deepEqual(got, sent, `key ${id}: same events, same order`);
  }
  await t.flush(ctx);
  await t.close();
});

test('offsets are committed only after the sink resolved; flush waits for the sink', async () => {
  const spec = streamSpec('commit');
  const rec = recordingSink();
  rec.hold();
  const ctx = context();
  const t = await open(spec, rec.sink, ctx);
  await t.publish({ events: [change(1n, 'c', 1), change(2n, 'c', 2)], position: null }, ctx);
  let flushed = false;
  const flushing = t.flush(ctx).then(() => (flushed = true));
  await waitFor(() => rec.calls() > 0, { ...WAIT, message: 'the sink was called' });
  // The consumer is inside sink.write: nothing may be committed, and flush must wait.
  assert.equal(await committed(t.groupId, topicOf(spec)), 0n);
  assert.equal(flushed, false);
  rec.release();
  await flushing;
  assert.equal(await committed(t.groupId, topicOf(spec)), 2n);
  await t.close();
});

test('no record lost across a restart: a new transport resumes from the committed offset', async () => {
  const spec = streamSpec('restart');
  const rec1 = recordingSink();
  const ctx1 = context();
  const t1 = await open(spec, rec1.sink, ctx1);
  await t1.publish({ events: [change(1n, 'c', 1)], position: null }, ctx1);
  await t1.flush(ctx1);
  rec1.hold();
  await t1.publish({ events: [change(2n, 'c', 2), change(3n, 'c', 3)], position: null }, ctx1);
  await waitFor(() => rec1.calls() > 1, { ...WAIT, message: 'second batch in the sink' });
  ctx1.abort(); // a stop while the sink holds the batch: it stays uncommitted
  await t1.close();
  const committedBefore = await committed(t1.groupId, topicOf(spec));
  assert.equal(committedBefore, 1n);

  const rec2 = recordingSink();
  const ctx2 = context();
  const t2 = await open(spec, rec2.sink, ctx2);
  await t2.publish({ events: [change(4n, 'c', 4)], position: null }, ctx2);
  await waitFor(() => rec2.events.length >= 3, { ...WAIT, message: 'uncommitted and new records delivered' });
  assert.deepEqual(rec2.events.map((e) => e.key.id).sort(), [2n, 3n, 4n], 'committed record not redelivered, uncommitted ones are');
  await t2.flush(ctx2);
  await t2.close();
});

test('a tombstone follows each delete on the same partition', async () => {
  const spec = streamSpec('tombstones');
  const rec = recordingSink();
  const ctx = context();
  const t = await open(spec, rec.sink, ctx);
  await t.publish({ events: [change(7n, 'c', 1), change(7n, 'd', 2)], position: null }, ctx);
  await t.flush(ctx);
  assert.deepEqual(rec.events.map((e) => e.op), ['c', 'd'], 'tombstones are not handed to the sink');
  const raw: Array<{ key: string; value: string | null }> = [];
  const reader = new Kafka({ brokers: [brokers], logLevel: logLevel.NOTHING }).consumer({ groupId: `it-${run}-reader` });
  await reader.connect();
  await reader.subscribe({ topic: topicOf(spec), fromBeginning: true });
  await reader.run({ eachMessage: async ({ message }) => void raw.push({ key: message.key!.toString(), value: message.value?.toString() ?? null }) });
  await waitFor(() => raw.length >= 3, { ...WAIT, message: 'three records on the topic' });
  await reader.disconnect();
  assert.equal(raw.length, 3);
  assert.equal(JSON.parse(raw[1]!.value!).payload.op, 'd');
  assert.equal(raw[2]!.value, null);
  assert.equal(raw[2]!.key, raw[1]!.key);
  await t.close();
});

test('a sink that fails for good makes publish and flush reject with its error', async () => {
  const spec = streamSpec('fatal');
  const rec = recordingSink();
  const boom = new SluiceError('SINK_WRITE_FAILED', 'duplicate key in a unique index', { table: 'items' });
  rec.failWith(boom);
  const ctx = context();
  const t = await open(spec, rec.sink, ctx);
  const seen: unknown[] = [];
  t.onFatal((e) => seen.push(e));
  await t.publish({ events: [change(1n, 'c', 1)], position: null }, ctx);
  await assert.rejects(t.flush(ctx), (e) => e === boom);
  assert.deepEqual(seen, [boom]);
  await assert.rejects(t.publish({ events: [change(2n, 'c', 2)], position: null }, ctx), (e) => e === boom);
  assert.equal(await committed(t.groupId, topicOf(spec)), 0n, 'nothing committed for the failed batch');
  await t.close();
  await t.close(); // idempotent
});

/** A context whose logger keeps what it logged at warn and above. */
function loggingContext(): ConnectorContext & { warnings: Array<Record<string, unknown>> } {
  const warnings: Array<Record<string, unknown>> = [];
  const sinkStream = new Writable({
    write(chunk, _enc, done) {
      warnings.push(JSON.parse(chunk.toString()));
      done();
    },
  });
  return { streamId: 's', runId: 'r', logger: pino({ level: 'warn' }, sinkStream), signal: new AbortController().signal, warnings };
}

/** Creates the stream's topic beforehand with a small max.message.bytes (ensureTopics leaves it as it is). */
async function smallTopic(spec: StreamSpec, maxMessageBytes: number): Promise<void> {
  await admin.createTopics({
    waitForLeaders: true,
    topics: [{ topic: topicOf(spec), numPartitions: 3, replicationFactor: 1, configEntries: [{ name: 'max.message.bytes', value: String(maxMessageBytes) }] }],
  });
}

test('a batch over message.max.bytes per partition goes out in slices and arrives whole', { timeout: 120_000 }, async () => {
  const spec = streamSpec('large');
  const rec = recordingSink();
  const ctx = context();
  // Uncompressed, as the daemon sends by default: ~5 KiB a record, ~2 MiB a partition.
  const t = await open(spec, rec.sink, ctx, true, 'none');
  const pad = 'x'.repeat(2000);
  const events = Array.from({ length: 1200 }, (_, i) => {
    const e = change(BigInt(i + 1), 'r', i);
    return { ...e, after: { ...e.after!, name: pad } };
  });
  await t.publish({ events, position: null }, ctx);
  await t.flush(ctx);
  assert.equal(rec.events.length, events.length);
  assert.deepEqual(new Set(rec.events.map((e) => e.key.id)).size, events.length);
  await t.close();
});

test('a record Kafka will never take fails the publish with KAFKA_PUBLISH_FAILED, it does not retry forever', { timeout: 120_000 }, async () => {
  const spec = streamSpec('toolarge');
  await smallTopic(spec, 20_000);
  const rec = recordingSink();
  const ctx = context();
  const t = await open(spec, rec.sink, ctx, true, 'none');
  const e = change(1n, 'c', 1);
  const huge = { ...e, after: { ...e.after!, name: 'x'.repeat(50_000) } };
  await assert.rejects(t.publish({ events: [change(2n, 'c', 2), huge], position: null }, ctx), (err) => err instanceof SluiceError && err.code === 'KAFKA_PUBLISH_FAILED');
  await t.close();
});

test('a partial failure that puts the idempotent producer out of sequence is recovered with a new producer', { timeout: 120_000 }, async () => {
  // One request, two partitions: A's record batch is over the topic's limit, B's is
  // accepted. kafkajs rolls back the sequence numbers of both, so when the halves go
  // out, B's first batch reuses sequences the broker already has with another range:
  // OUT_OF_ORDER_SEQUENCE_NUMBER, for good on that producer. Only a new one gets on.
  const spec = streamSpec('sequence');
  const limit = 100_000;
  await smallTopic(spec, limit);
  const [meta] = (await admin.fetchTopicMetadata({ topics: [topicOf(spec)] })).topics;
  const serde = new DebeziumSerde(spec.options.topicPrefix as string);
  const partitionOf = (e: ChangeEvent) => partitionOfKey(Buffer.from(serde.encodeKey(e)), meta!.partitions.length);
  const a = 1n;
  let b = 2n;
  while (partitionOf(change(b, 'c', 0)) === partitionOf(change(a, 'c', 0))) b++;
  const size = Buffer.byteLength(serde.encodeValue(change(a, 'u', 1)));
  const n = Math.ceil((1.5 * limit) / size); // A: 1.5 × the limit; each half fits
  assert.ok(n * size < MAX_PARTITION_BYTES, 'the whole batch is one request');
  const events = [
    ...Array.from({ length: Math.floor(n / 2) }, (_, i) => change(a, 'u', i)),
    ...Array.from({ length: 4 }, (_, i) => change(b, 'u', 1000 + i)),
    ...Array.from({ length: Math.ceil(n / 2) }, (_, i) => change(a, 'u', 2000 + i)),
  ];
  const rec = recordingSink();
  const ctx = loggingContext();
  const t = await open(spec, rec.sink, ctx, true, 'none');
  await t.publish({ events, position: null }, ctx);
  await t.flush(ctx);
  assert.ok(
    ctx.warnings.some((w) => w.newProducer === true),
    `the producer was replaced; warnings: ${JSON.stringify(ctx.warnings.map((w) => [w.msg, (w.err as { type?: string } | undefined)?.type]))}`,
  );
  // Everything arrived, duplicates at most, and each key ends on its last version.
  const versions = (id: bigint) => rec.events.filter((e) => e.key.id === id).map((e) => e.after!.n as number);
  assert.deepEqual([...new Set(versions(a))].sort((x, y) => x - y), events.filter((e) => e.key.id === a).map((e) => e.after!.n as number).sort((x, y) => x - y));
  assert.deepEqual([...new Set(versions(b))].sort((x, y) => x - y), [1000, 1001, 1002, 1003]);
  assert.equal(versions(a).at(-1), 2000 + Math.ceil(n / 2) - 1);
  assert.equal(versions(b).at(-1), 1003);
  await t.close();
});
