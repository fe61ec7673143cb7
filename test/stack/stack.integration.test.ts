/**
 * Smoke test of the test stack: each server answers the project's own client and is
 * configured the way the connectors need (logical WAL, ROW/FULL binlog, acks=all with the
 * idempotent producer and consumer groups, MongoDB CRUD and bulkWrite), and the schema
 * registry answers the Confluent API. TLS and SASL: tls.integration.test.ts.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import { Client } from 'pg';
import mysql from 'mysql';
import { Kafka, logLevel } from 'kafkajs';
import { MongoClient } from 'mongodb';
import { kafkaBrokers, prometheusStack, schemaRegistryUrl, stackUrls } from '../helpers/stack';
import { waitFor } from '../helpers/wait-for';

const run = `${Date.now().toString(36)}_${crypto.randomBytes(3).toString('hex')}`;

test('postgres: logical WAL, table round trip', async () => {
  const pg = new Client({ connectionString: stackUrls().postgres });
  await pg.connect();
  try {
    assert.equal((await pg.query('SHOW wal_level')).rows[0].wal_level, 'logical');
    const slots = Number((await pg.query('SHOW max_replication_slots')).rows[0].max_replication_slots);
    assert.ok(slots >= 20, `max_replication_slots ${slots}`);
    const role = (await pg.query('SELECT rolsuper, rolreplication FROM pg_roles WHERE rolname = current_user')).rows[0];
    assert.deepEqual(role, { rolsuper: true, rolreplication: true });
    const table = `stack_smoke_${run}`;
    await pg.query(`CREATE TABLE ${table} (id int PRIMARY KEY, v text NOT NULL)`);
    try {
      await pg.query(`INSERT INTO ${table} VALUES (1, 'one'), (2, 'two')`);
      const r = await pg.query(`SELECT id, v FROM ${table} ORDER BY id`);
      assert.deepEqual(r.rows, [
        { id: 1, v: 'one' },
        { id: 2, v: 'two' },
      ]);
    } finally {
      await pg.query(`DROP TABLE ${table}`);
    }
  } finally {
    await pg.end();
  }
});

test('postgres: replication connection', async () => {
  // `replication` is a pg option that @types/pg does not declare.
  const config = { connectionString: stackUrls().postgres, replication: 'database' };
  const repl = new Client(config);
  await repl.connect();
  try {
    const r = await repl.query('IDENTIFY_SYSTEM');
    assert.equal(r.rows.length, 1);
    assert.match(String(r.rows[0].xlogpos), /^[0-9A-F]+\/[0-9A-F]+$/);
  } finally {
    await repl.end();
  }
});

function mysqlQuery(conn: mysql.Connection, sql: string, values?: unknown[]): Promise<any> {
  return new Promise((resolve, reject) => {
    conn.query(sql, values ?? [], (err, rows) => (err ? reject(err) : resolve(rows)));
  });
}

test('mariadb: ROW/FULL binlog, table round trip', async () => {
  const conn = mysql.createConnection(stackUrls().mysql);
  await new Promise<void>((resolve, reject) => conn.connect((err) => (err ? reject(err) : resolve())));
  try {
    const [vars] = await mysqlQuery(conn, 'SELECT @@binlog_format AS f, @@binlog_row_image AS i, @@log_bin AS b, @@server_id AS s');
    assert.deepEqual({ ...vars }, { f: 'ROW', i: 'FULL', b: 1, s: 1 });
    const table = `stack_smoke_${run}`;
    await mysqlQuery(conn, `CREATE TABLE ${table} (id INT PRIMARY KEY, v VARCHAR(20) NOT NULL)`);
    try {
      await mysqlQuery(conn, `INSERT INTO ${table} VALUES (?, ?), (?, ?)`, [1, 'one', 2, 'two']);
      const rows = await mysqlQuery(conn, `SELECT id, v FROM ${table} ORDER BY id`);
      assert.deepEqual(
        rows.map((r: { id: number; v: string }) => ({ ...r })),
        [
          { id: 1, v: 'one' },
          { id: 2, v: 'two' },
        ],
      );
      const status = await mysqlQuery(conn, 'SHOW MASTER STATUS');
      assert.equal(status.length, 1, 'binary log is on');
    } finally {
      await mysqlQuery(conn, `DROP TABLE ${table}`);
    }
  } finally {
    await new Promise<void>((resolve) => conn.end(() => resolve()));
  }
});

test('kafka: idempotent acks=all produce, consumer group reads it back', async () => {
  const kafka = new Kafka({ clientId: `stack-smoke-${run}`, brokers: kafkaBrokers(), logLevel: logLevel.NOTHING });
  const topic = `stack-smoke-${run}`;
  const admin = kafka.admin();
  const producer = kafka.producer({ idempotent: true, maxInFlightRequests: 1 });
  const consumer = kafka.consumer({ groupId: `stack-smoke-${run}` });
  await admin.connect();
  try {
    assert.equal(await admin.createTopics({ topics: [{ topic, numPartitions: 3 }], waitForLeaders: true }), true);
    await producer.connect();
    const sent = await producer.send({ topic, acks: -1, messages: [{ key: 'k1', value: 'hello' }] });
    assert.equal(sent.length, 1);
    assert.equal(sent[0].errorCode, 0);

    const received: { key: string; value: string }[] = [];
    await consumer.connect();
    await consumer.subscribe({ topic, fromBeginning: true });
    await consumer.run({
      eachMessage: async ({ message }) => {
        received.push({ key: String(message.key), value: String(message.value) });
      },
    });
    await waitFor(() => received.length > 0, { timeoutMs: 30_000, message: 'the message to come back' });
    assert.deepEqual(received, [{ key: 'k1', value: 'hello' }]);
  } finally {
    await consumer.disconnect();
    await producer.disconnect();
    await admin.deleteTopics({ topics: [topic] }).catch(() => undefined);
    await admin.disconnect();
  }
});

test('mongodb: insert, find, update, delete, bulkWrite', async () => {
  const client = new MongoClient(stackUrls().mongodb, { serverSelectionTimeoutMS: 10_000 });
  await client.connect();
  const db = client.db(`stack_smoke_${run}`);
  try {
    const c = db.collection<{ _id: number; v: string; n?: number; tags?: string[] }>('docs');
    await c.insertOne({ _id: 1, v: 'one' });
    assert.deepEqual(await c.findOne({ _id: 1 }), { _id: 1, v: 'one' });

    const u = await c.updateOne({ _id: 1 }, { $set: { v: 'uno' }, $inc: { n: 1 }, $push: { tags: { $each: ['a', 'b'] } } });
    assert.equal(u.modifiedCount, 1);
    assert.deepEqual(await c.findOne({ _id: 1 }), { _id: 1, v: 'uno', n: 1, tags: ['a', 'b'] });

    const bulk = await c.bulkWrite(
      [
        { replaceOne: { filter: { _id: 2 }, replacement: { v: 'two' }, upsert: true } },
        { updateOne: { filter: { _id: 3 }, update: { $set: { v: 'three' } }, upsert: true } },
        { replaceOne: { filter: { _id: 1 }, replacement: { v: 'one again' }, upsert: true } },
        { deleteOne: { filter: { _id: 2 } } },
      ],
      { ordered: true },
    );
    assert.equal(bulk.upsertedCount, 2);
    assert.equal(bulk.deletedCount, 1);
    assert.deepEqual(await c.find({}).sort({ _id: 1 }).toArray(), [
      { _id: 1, v: 'one again' },
      { _id: 3, v: 'three' },
    ]);

    const d = await c.deleteMany({});
    assert.equal(d.deletedCount, 2);
    assert.equal(await c.countDocuments({}), 0);
  } finally {
    await db.dropDatabase().catch(() => undefined);
    await client.close();
  }
});

test('prometheus: ready, watching the file_sd target directory, and evaluating the alert rules', async () => {
  const prom = prometheusStack();
  assert.equal((await fetch(`${prom.url}/-/ready`)).status, 200);
  const config = (await (await fetch(`${prom.url}/api/v1/status/config`)).json()) as { data: { yaml: string } };
  assert.ok(config.data.yaml.includes(`${prom.targetsDir}/*.json`), config.data.yaml);
  await waitFor(
    async () => {
      const rules = (await (await fetch(`${prom.url}/api/v1/rules`)).json()) as { data: { groups: Array<{ name: string; rules: Array<{ name: string; health: string }> }> } };
      const group = rules.data.groups.find((g) => g.name === 'sluice');
      return group !== undefined && group.rules.length === 5 && group.rules.every((r) => r.health === 'ok');
    },
    { timeoutMs: 20000, message: 'the sluice alert group loaded and evaluated without errors' },
  );
});

test('schema registry: the Confluent API registers a schema, returns it by id, and enforces BACKWARD once set', async () => {
  const url = schemaRegistryUrl();
  const subject = `stack-smoke-${run}-value`;
  const call = async (method: string, path: string, body?: unknown): Promise<{ status: number; json: any }> => {
    const r = await fetch(`${url}${path}`, {
      method,
      headers: { 'Content-Type': 'application/vnd.schemaregistry.v1+json' },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
      signal: AbortSignal.timeout(10_000),
    });
    return { status: r.status, json: await r.json().catch(() => null) };
  };
  const v1 = { type: 'record', name: 'Smoke', fields: [{ name: 'id', type: 'int' }] };
  try {
    // Apicurio's default is NONE, not Confluent's BACKWARD: tests that rely on it set it.
    assert.equal((await call('PUT', `/config/${subject}`, { compatibility: 'BACKWARD' })).status, 200);
    const reg = await call('POST', `/subjects/${subject}/versions`, { schema: JSON.stringify(v1) });
    assert.equal(reg.status, 200, JSON.stringify(reg.json));
    assert.ok(Number.isInteger(reg.json.id), JSON.stringify(reg.json));
    const byId = await call('GET', `/schemas/ids/${reg.json.id}`);
    assert.equal(byId.status, 200);
    assert.deepEqual(JSON.parse(byId.json.schema), v1);
    assert.deepEqual((await call('GET', `/subjects/${subject}/versions`)).json, [1]);
    // A new required field breaks BACKWARD: refused.
    const v2 = { ...v1, fields: [...v1.fields, { name: 'v', type: 'string' }] };
    assert.equal((await call('POST', `/subjects/${subject}/versions`, { schema: JSON.stringify(v2) })).status, 409);
  } finally {
    await call('DELETE', `/subjects/${subject}`).catch(() => undefined);
  }
});
