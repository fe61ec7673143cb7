/**
 * transport.format end to end, table-driven: for PostgreSQL and MariaDB, one daemon runs
 * the same type table (exact decimals, microsecond timestamps, JSON, UUID, arrays,
 * NULLs) through a stream per format (json, json-payload, avro, json-schema, protobuf)
 * at once, snapshot then CDC; every format must leave MongoDB with the documents json
 * leaves, and those equal the source. On PostgreSQL's registry streams (avro,
 * json-schema, protobuf): an ADD COLUMN under CDC registers version 2 and carries the
 * column through; a type change the registry refuses (BACKWARD) fails the stream with
 * SCHEMA_REGISTRY_INCOMPATIBLE, and once the subject's compatibility allows it, a
 * restart delivers the row (nothing lost). On the avro and protobuf streams
 * (errorHandling SKIP): a garbage record and one naming an unknown schema id go to the
 * dead-letter topic, and the stream goes on.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { BSON } from 'mongodb';
import { Kafka, logLevel } from 'kafkajs';
import { cdcRunning, createStream, E2E_ADMIN_KEY, mongoDb, openOrders, start, streamStatus, uid } from '../helpers/pipeline';
import { startDaemon, tmpDataDir, type RunningDaemon } from '../helpers/daemon';
import { kafkaBrokers, registryApi, schemaRegistryUrl, stackUrls } from '../helpers/stack';
import { waitFor } from '../helpers/wait-for';
import type { OrdersDb } from '../helpers/orders';

const FORMATS = ['json', 'json-payload', 'avro', 'json-schema', 'protobuf'] as const;
const REGISTRY_FORMATS = ['avro', 'json-schema', 'protobuf'] as const;
/** The streams that skip record errors: their dead-letter topics are checked. */
const SKIPPING = ['avro', 'protobuf'] as const;
const registry = schemaRegistryUrl();
// Apicurio on the stack runs without auth and ignores basic auth: this proves the secret is kept secret.
const REGISTRY_PASSWORD = 'registry-secret-0f3a9';

const reg = registryApi;

const SOURCES = {
  postgresql: {
    ddl: (t: string) =>
      `CREATE TABLE ${t} (id bigint PRIMARY KEY, amount numeric(20,6), anynum numeric, ts timestamp(6), tstz timestamptz, d date, doc jsonb, u uuid, tags text[], nums int8[], note text)`,
    rows: (t: string, from: number, n: number) =>
      `INSERT INTO ${t} SELECT g, 12345678901234.123456 + g, 3.14159265358979323846264338327950288, '2024-02-29 23:59:59.123456'::timestamp + g * interval '1 second', '2024-01-01 00:00:00.5+02', DATE '1969-07-20', ('{"a": [1, {"b": null}], "g": ' || g || '}')::jsonb, '123e4567-e89b-12d3-a456-426614174000', ARRAY['x', NULL, 'y'], ARRAY[9223372036854775807, -9223372036854775808]::int8[], CASE WHEN g % 2 = 0 THEN NULL ELSE 'héllo 😀' END FROM generate_series(${from}, ${from + n - 1}) g`,
    nulls: (t: string, id: number) => `INSERT INTO ${t} (id) VALUES (${id})`,
  },
  mysql: {
    ddl: (t: string) => `CREATE TABLE ${t} (id bigint PRIMARY KEY, amount decimal(20,6), ts datetime(6), d date, doc json, u char(36), note varchar(100))`,
    rows: (t: string, from: number, n: number) =>
      `INSERT INTO ${t} VALUES ` +
      Array.from({ length: n }, (_, i) => from + i)
        .map((g) => `(${g}, 12345678901234.123456 + ${g}, TIMESTAMP '2024-02-29 23:59:59.123456' + INTERVAL ${g} SECOND, DATE '1969-07-20', '{"a": [1, {"b": null}], "g": ${g}}', '123e4567-e89b-12d3-a456-426614174000', ${g % 2 === 0 ? 'NULL' : "'héllo 😀'"})`)
        .join(','),
    nulls: (t: string, id: number) => `INSERT INTO ${t} (id) VALUES (${id})`,
  },
} as const;

async function kafkaConnection(d: RunningDaemon, name: string): Promise<string> {
  const r = await d.api('/api/v1/connections', { method: 'POST', body: { name, kind: 'kafka', url: `kafka://${stackUrls().kafka}`, options: { schemaRegistry: { url: registry, timeoutMs: 5000, username: 'sluice', password: REGISTRY_PASSWORD } } } });
  assert.equal(r.status, 201, JSON.stringify(r.body));
  const got = await d.api(`/api/v1/connections/${r.body.id}`);
  assert.equal(got.body.options.schemaRegistry.url, registry);
  assert.ok(!JSON.stringify(got.body).includes(REGISTRY_PASSWORD), 'the registry password is write-only');
  return r.body.id;
}

/** The documents of a collection, canonical (EJSON, types kept), by _id. */
async function docs(db: import('mongodb').Db, coll: string): Promise<string[]> {
  const all = await db.collection(coll).find({}).sort({ _id: 1 }).toArray();
  return all.map((x) => JSON.stringify(BSON.EJSON.serialize(x, { relaxed: false })));
}

for (const kind of ['postgresql', 'mysql'] as const) {
  test(`${kind}: json, json-payload, avro, json-schema and protobuf streams of the type table leave MongoDB with the same documents, equal to the source, snapshot and CDC`, { timeout: 300000 }, async () => {
    const tag = `fmt_${kind === 'mysql' ? 'my' : 'pg'}_${uid()}`;
    const src: OrdersDb = await openOrders(kind);
    const s = SOURCES[kind];
    const table = src.table(tag);
    const mongo = await mongoDb(tag);
    const dbOf = (f: string) => mongo.client.db(`${tag}_${f.replace('-', '_')}`);
    const collection = table.split('.').pop()!;
    await src.exec(s.ddl(table));
    await src.exec(s.rows(table, 1, 20));
    await src.exec(s.nulls(table, 21));
    const d = await startDaemon(tmpDataDir(), { SLUICE_KAFKA_BROKERS: stackUrls().kafka }, { adminKey: E2E_ADMIN_KEY });
    const kafka = new Kafka({ clientId: `${tag}-test`, brokers: kafkaBrokers(), logLevel: logLevel.NOTHING });
    const subjects: string[] = [];
    const streams: Record<string, string> = {};
    try {
      const connectionId = await kafkaConnection(d, `${tag}-kafka`);
      for (const format of FORMATS) {
        const name = `${tag}-${format}`;
        const topic = `${name}.${table}`;
        subjects.push(`${topic}-value`, `${topic}-key`);
        if ((REGISTRY_FORMATS as readonly string[]).includes(format)) assert.equal((await reg('PUT', `/config/${topic}-value`, { compatibility: 'BACKWARD' })).status, 200);
        const { streamId, sourceId, sinkId } = await createStream(d, {
          name,
          mongoDb: `${tag}_${format.replace('-', '_')}`,
          tables: [table],
          sourceKind: kind,
          mode: 'CDC',
          options: { heartbeatIntervalMs: 1000, ...((SKIPPING as readonly string[]).includes(format) ? { errorHandling: 'SKIP', errorTolerance: 10 } : {}) },
          extra: { transport: { kind: 'kafka', connectionId, format } },
        });
        streams[format] = streamId;
        if (format === 'avro') {
          // Refused at create: a registry format on a kafka connection without a registry.
          const bare = await d.api('/api/v1/connections', { method: 'POST', body: { name: `${tag}-bare`, kind: 'kafka', url: `kafka://${stackUrls().kafka}` } });
          const refused = await d.api('/api/v1/streams', {
            method: 'POST',
            body: { name: `${tag}-refused`, source: { connectionId: sourceId }, sink: { connectionId: sinkId }, transport: { kind: 'kafka', connectionId: bare.body.id, format: 'avro' }, mode: 'CDC', tables: [table] },
          });
          assert.equal(refused.status, 400, JSON.stringify(refused.body));
          assert.match(refused.body.error.message, /transport\.format avro needs a schema registry/);
        }
      }
      for (const id of Object.values(streams)) await start(d, id);
      for (const id of Object.values(streams)) await cdcRunning(d, id);
      // CDC: inserts, an update, a delete, a row of NULLs.
      await src.exec(s.rows(table, 100, 5));
      await src.exec(`UPDATE ${table} SET amount = -0.000001, note = 'updated' WHERE id = 3`);
      await src.exec(`DELETE FROM ${table} WHERE id = 4`);
      await src.exec(s.nulls(table, 200));
      const want = 20 + 1 + 5 - 1 + 1;
      for (const f of FORMATS) {
        await waitFor(async () => (await dbOf(f).collection(collection).countDocuments()) === want && (await dbOf(f).collection(collection).countDocuments({ note: 'updated' })) === 1, {
          timeoutMs: 120000,
          intervalMs: 250,
          message: `${kind} ${f}: ${want} documents`,
        });
      }
      const base = await docs(dbOf('json'), collection);
      for (const f of FORMATS.slice(1)) assert.deepEqual(await docs(dbOf(f), collection), base, `${kind} ${f}: the documents json leaves`);
      // And json's equal the source: exact decimals, microsecond times as sluice keeps them (ms), JSON, UUID, arrays, NULLs.
      const doc = await dbOf('avro').collection(collection).findOne({ _id: 3 } as never);
      assert.ok(doc);
      assert.equal(String(doc.amount), '-0.000001');
      const doc7 = (await dbOf('avro').collection(collection).findOne({ _id: 7 } as never))!;
      assert.equal(String(doc7.amount), '12345678901241.123456');
      assert.equal((doc7.ts as Date).toISOString(), '2024-03-01T00:00:06.123Z');
      assert.deepEqual(doc7.doc, { a: [1, { b: null }], g: 7 });
      assert.equal(doc7.note, 'héllo 😀');
      assert.equal((doc7.d as Date).toISOString(), '1969-07-20T00:00:00.000Z');
      if (kind === 'postgresql') {
        assert.equal(String(doc7.anynum), '3.14159265358979323846264338327950288');
        assert.deepEqual(doc7.tags, ['x', null, 'y']);
        assert.deepEqual(doc7.nums.map(String), ['9223372036854775807', '-9223372036854775808']);
        assert.equal((doc7.tstz as Date).toISOString(), '2023-12-31T22:00:00.500Z');
      }
      const nullDoc = (await dbOf('avro').collection(collection).findOne({ _id: 200 } as never))!;
      assert.equal(nullDoc.amount, null);
      assert.equal(nullDoc.doc, null);
      for (const f of FORMATS) assert.equal((await streamStatus(d, streams[f]!)).failureError, null, f);
      // One registry version per table version, per registry format.
      for (const f of REGISTRY_FORMATS) assert.deepEqual((await reg('GET', `/subjects/${tag}-${f}.${table}-value/versions`)).json, [1], f);

      if (kind === 'postgresql') {
        // ---- DDL under CDC: ADD COLUMN registers version 2 and carries the column ----
        await src.exec(`ALTER TABLE ${table} ADD COLUMN extra int`);
        await src.exec(`INSERT INTO ${table} (id, extra) VALUES (300, 42)`);
        for (const f of FORMATS) {
          await waitFor(async () => (await dbOf(f).collection(collection).findOne({ _id: 300 } as never))?.extra === 42, { timeoutMs: 60000, intervalMs: 250, message: `${f}: the added column arrives` });
        }
        for (const f of REGISTRY_FORMATS) assert.deepEqual((await reg('GET', `/subjects/${tag}-${f}.${table}-value/versions`)).json, [1, 2], `${f}: version 2`);

        // ---- garbage and an unknown schema id on the avro and protobuf topics (SKIP): dead-letter topic ----
        for (const f of SKIPPING) {
          const topic = `${tag}-${f}.${table}`;
          const producer = kafka.producer();
          await producer.connect();
          const unknownId = Buffer.concat([Buffer.from([0, 0x7f, 0xff, 0xff, 0xf0]), Buffer.from('whatever')]);
          const garbage = `garbage, not ${f}`;
          await producer.send({ topic, acks: -1, messages: [{ key: null, value: Buffer.from(garbage) }, { key: null, value: unknownId }] });
          await producer.disconnect();
          const next = f === 'avro' ? 301 : 302;
          await src.exec(`INSERT INTO ${table} (id) VALUES (${next})`);
          await waitFor(async () => (await streamStatus(d, streams[f]!)).statistics.deadLettered === 2 && (await dbOf(f).collection(collection).countDocuments({ _id: next } as never)) === 1, {
            timeoutMs: 60000,
            intervalMs: 250,
            message: `${f}: 2 dead letters and the next row written`,
          }).catch(async (err: Error) => {
            throw new Error(`${err.message}; the stream: ${JSON.stringify(await streamStatus(d, streams[f]!))}; logs: ${JSON.stringify((await d.api(`/api/v1/streams/${streams[f]}/logs`)).body.items?.slice(0, 5))}`);
          });
          const consumer = kafka.consumer({ groupId: `${tag}-${f}-dlq` });
          const letters: Array<{ value: string; code: string | undefined; message: string | undefined }> = [];
          await consumer.connect();
          try {
            await consumer.subscribe({ topics: [`${tag}-${f}.__dlq`], fromBeginning: true });
            await consumer.run({ eachMessage: async ({ message: m }) => void letters.push({ value: m.value!.toString('latin1'), code: m.headers?.['__sluice.errors.code']?.toString(), message: m.headers?.['__connect.errors.exception.message']?.toString() }) });
            await waitFor(async () => letters.length >= 2, { timeoutMs: 30000, intervalMs: 200, message: `${f}: dead letters read` });
          } finally {
            await consumer.disconnect();
          }
          assert.deepEqual(letters.map((l) => l.code), ['KAFKA_DECODE_FAILED', 'KAFKA_DECODE_FAILED'], f);
          // Null keys: the two may sit on different partitions, in either order.
          const garbageLetter = letters.find((l) => l.value === garbage);
          const unknownLetter = letters.find((l) => l.value !== garbage);
          assert.ok(garbageLetter, `${f}: the garbage record, as it was`);
          assert.match(garbageLetter.message!, /not registry-framed/);
          assert.match(unknownLetter!.message!, /schema id 2147483632 is unknown/);
          assert.equal((await streamStatus(d, streams[f]!)).cdcStatus, 'RUNNING', f);
        }

        // ---- a type change BACKWARD refuses: the stream fails clearly; allowed, a restart delivers the row ----
        await src.exec(`ALTER TABLE ${table} ALTER COLUMN extra TYPE text`);
        await src.exec(`INSERT INTO ${table} (id, extra) VALUES (400, 'text now')`);
        for (const f of REGISTRY_FORMATS) {
          await waitFor(async () => (await streamStatus(d, streams[f]!)).state === 'FAILED', { timeoutMs: 60000, intervalMs: 250, message: `${f}: the stream fails on the refused schema` });
          const fe = (await streamStatus(d, streams[f]!)).failureError as { code: string; message: string; suggestion: string };
          assert.equal(fe.code, 'SCHEMA_REGISTRY_INCOMPATIBLE', f);
          assert.match(fe.message, new RegExp(`subject ${tag}-${f}\\.${table.replace('.', '\\.')}-value`), f);
          assert.match(fe.message, /ncompatible/, `${f}: the registry's message`);
          assert.match(fe.suggestion, /compatibility/);
          assert.equal(await dbOf(f).collection(collection).countDocuments({ _id: 400 } as never), 0);
        }
        await waitFor(async () => (await dbOf('json').collection(collection).countDocuments({ _id: 400 } as never)) === 1, { timeoutMs: 60000, intervalMs: 250, message: 'json carries the type change' });
        for (const f of REGISTRY_FORMATS) {
          assert.equal((await reg('PUT', `/config/${tag}-${f}.${table}-value`, { compatibility: 'NONE' })).status, 200);
          await start(d, streams[f]!);
          await waitFor(async () => (await dbOf(f).collection(collection).findOne({ _id: 400 } as never))?.extra === 'text now', { timeoutMs: 60000, intervalMs: 250, message: `${f}: after the restart the row arrives` });
        }
      }
      assert.ok(!d.output().includes(REGISTRY_PASSWORD), 'the registry password is never logged');
      for (const f of fs.readdirSync(d.dataDir).filter((x) => x.includes('.db'))) assert.ok(!fs.readFileSync(path.join(d.dataDir, f), 'latin1').includes(REGISTRY_PASSWORD), `stored encrypted (${f})`);
    } finally {
      for (const id of Object.values(streams)) {
        await d.api(`/api/v1/streams/${id}/stop`, { method: 'POST' }).catch(() => undefined);
        await d.api(`/api/v1/streams/${id}`, { method: 'DELETE' }).catch(() => undefined);
      }
      await d.stop('SIGTERM');
      await src.exec(`DROP TABLE IF EXISTS ${table}`).catch(() => undefined);
      for (const f of FORMATS) await dbOf(f).dropDatabase().catch(() => undefined);
      await mongo.client.close();
      await src.end().catch(() => undefined);
      for (const sub of subjects) await reg('DELETE', `/subjects/${sub}`).catch(() => undefined);
    }
  });
}
