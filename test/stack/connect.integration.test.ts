/**
 * Smoke test of the stack's Kafka Connect worker (test/stack/connect.sh): Debezium's
 * PostgreSQL connector, run by it, captures a table into a topic (snapshot, then inserts,
 * updates and deletes with their tombstones), and after a worker restart the connector
 * resumes from its stored offsets instead of snapshotting again. It logs the worker's start
 * times (a first start when this test had to start it, and the restart), since CI pays them.
 */
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import { Client } from 'pg';
import { Kafka, logLevel } from 'kafkajs';
import { kafkaBrokers, stackUrls } from '../helpers/stack';
import { waitFor } from '../helpers/wait-for';
import { connectorStatus, debeziumPostgres, deleteConnector, ensureConnect, putConnector, readTopic, stopConnect, waitConnector, type TopicRecord } from '../helpers/connect';

const run = `${Date.now().toString(36)}_${crypto.randomBytes(3).toString('hex')}`;
const table = `connect_smoke_${run}`;
const prefix = `dbzsmoke_${run}`;
const topic = `${prefix}.public.${table}`;
const slot = `dbz_smoke_${run}`;
const connector = `smoke-pg-${run}`;
let startedHere = false;

after(async () => {
  const pg = new Client({ connectionString: stackUrls().postgres });
  await pg.connect();
  try {
    // The connector's walsender must be gone before its slot can be dropped.
    await pg.query('SELECT pg_terminate_backend(active_pid) FROM pg_replication_slots WHERE slot_name = $1 AND active_pid IS NOT NULL', [slot]);
    await pg.query('SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE slot_name = $1', [slot]).catch(() => undefined);
    await pg.query(`DROP PUBLICATION IF EXISTS ${slot}_pub`);
    await pg.query(`DROP TABLE IF EXISTS ${table}`);
  } finally {
    await pg.end();
  }
  const admin = new Kafka({ brokers: kafkaBrokers(), logLevel: logLevel.NOTHING }).admin();
  await admin.connect();
  await admin.deleteTopics({ topics: [topic], timeout: 10000 }).catch(() => undefined);
  await admin.disconnect();
  if (startedHere && process.env.SLUICE_TEST_KEEP_STACK !== '1') stopConnect();
});

const payload = (r: TopicRecord): any => (r.value === null ? null : JSON.parse(r.value).payload);
const ops = (records: TopicRecord[]): string[] => records.map((r) => payload(r)?.op ?? 'tombstone');

test('Debezium PostgreSQL connector on the stack worker captures a table, and resumes after a worker restart', { timeout: 600_000 }, async (t) => {
  const worker = ensureConnect();
  startedHere = worker.started;
  t.diagnostic(worker.started ? `Kafka Connect first start (JVM start to /health 200, jars cached or fetched): ${(worker.startMs / 1000).toFixed(1)} s` : 'Kafka Connect was already running: no first-start time');
  const pg = new Client({ connectionString: stackUrls().postgres });
  await pg.connect();
  try {
    await pg.query(`CREATE TABLE ${table} (id bigint PRIMARY KEY, n int NOT NULL, note text, amount numeric(14,2), at timestamptz NOT NULL)`);
    await pg.query(`INSERT INTO ${table} SELECT g, g % 7, 'row ' || g, g * 1.25, '2024-02-29 13:14:15.5+00' FROM generate_series(1, 3) g`);
    const t0 = performance.now();
    await putConnector(worker.url, connector, debeziumPostgres({ postgresUrl: stackUrls().postgres, topicPrefix: prefix, tables: [`public.${table}`], slot }));
    await waitConnector(worker.url, connector, 'RUNNING', 120000);
    const snap = await readTopic(kafkaBrokers(), topic, (r) => r.length >= 3, 120000);
    t.diagnostic(`connector created → 3 snapshot records in Kafka: ${((performance.now() - t0) / 1000).toFixed(1)} s`);
    assert.deepEqual(ops(snap), ['r', 'r', 'r']);
    const first = JSON.parse(snap[0]!.value!);
    assert.equal(first.schema.name, `${topic}.Envelope`);
    assert.deepEqual(JSON.parse(snap[0]!.key!), {
      schema: { type: 'struct', fields: [{ type: 'int64', optional: false, field: 'id' }], optional: false, name: `${topic}.Key` },
      payload: { id: 1 },
    });
    // numeric(14,2) as Connect Decimal (unscaled 125 = 0x7d, base64 "fQ=="), timestamptz as ZonedTimestamp text.
    assert.deepEqual(first.payload.after, { id: 1, n: 1, note: 'row 1', amount: 'fQ==', at: '2024-02-29T13:14:15.500000Z' });
    assert.equal(first.payload.source.connector, 'postgresql');
    assert.equal(first.payload.source.table, table);

    // Streaming: insert, update, delete (+ its tombstone).
    await pg.query(`INSERT INTO ${table} VALUES (4, 4, 'four', 5.00, now())`);
    await pg.query(`UPDATE ${table} SET n = 40 WHERE id = 4`);
    await pg.query(`DELETE FROM ${table} WHERE id = 1`);
    const live = await readTopic(kafkaBrokers(), topic, (r) => r.length >= 7, 60000);
    assert.deepEqual(ops(live), ['r', 'r', 'r', 'c', 'u', 'd', 'tombstone']);
    assert.equal(payload(live[4]!).after.n, 40);
    assert.deepEqual(payload(live[5]!).before, { id: 1, n: 0, note: null, amount: null, at: '1970-01-01T00:00:00Z' }, 'REPLICA IDENTITY DEFAULT: only the key in before, other columns at their defaults');
    assert.deepEqual(JSON.parse(live[6]!.key!).payload, { id: 1 });

    // A restarted worker resumes the connector from its offsets in Kafka: no second snapshot.
    stopConnect();
    const again = ensureConnect();
    assert.ok(again.started);
    const r0 = performance.now();
    await waitConnector(again.url, connector, 'RUNNING', 120000);
    t.diagnostic(`Kafka Connect restart (warm: connector config and offsets in Kafka): ${(again.startMs / 1000).toFixed(1)} s to /health, ${((again.startMs + performance.now() - r0) / 1000).toFixed(1)} s to the task RUNNING`);
    await pg.query(`INSERT INTO ${table} VALUES (5, 5, 'five', 6.25, now())`);
    const resumed = await readTopic(kafkaBrokers(), topic, (r) => r.some((x) => payload(x)?.after?.id === 5), 120000);
    assert.deepEqual(ops(resumed), ['r', 'r', 'r', 'c', 'u', 'd', 'tombstone', 'c'], 'no snapshot again, no event lost or repeated across the restart');
  } finally {
    const w = ensureConnect();
    await deleteConnector(w.url, connector);
    if (w.started) startedHere = true;
    await pg.end();
  }
  // Deletion is asynchronous in distributed mode: the status goes once the worker rebalanced.
  await waitFor(async () => (await connectorStatus(ensureConnect().url, connector)) === null, { timeoutMs: 30000, intervalMs: 200, message: 'connector deleted' });
});
