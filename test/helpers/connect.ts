/**
 * Kafka Connect with Debezium (test/stack/connect.sh) for the tests and the bench that
 * compare sluice with it or feed one into the other: start the worker on demand, drive
 * connectors through its REST API, and build Debezium connector configs that read the
 * stack's servers.
 *
 * The worker is not part of `stack.sh up`: `ensureConnect()` starts it (and says whether it
 * did, so the caller can stop it again with `stopConnect()`). SLUICE_TEST_CONNECT_URL names a
 * worker of your own instead; the stack then neither starts nor stops one.
 */
import fs from 'node:fs';
import path from 'node:path';
import { spawnSync } from 'node:child_process';

const STACK = path.resolve(__dirname, '../../../test/stack/stack.sh');

export interface ConnectWorker {
  /** REST base URL, e.g. http://127.0.0.1:58083 */
  url: string;
  /** The worker JVM's pid when the stack runs it (for CPU and RSS readings), else null. */
  pid: number | null;
  /** This call started it (stop it again when done, unless the caller keeps the stack). */
  started: boolean;
  /** Wall time of the `up` that started it, ms (0 when it was running already). */
  startMs: number;
}

function stack(action: string, only?: string, timeoutMs = 600000): { status: number | null; stdout: string; stderr: string } {
  const r = spawnSync('bash', [STACK, action, ...(action === 'status' ? ['--json'] : [])], {
    env: { ...process.env, ...(only ? { SLUICE_STACK_ONLY: only } : {}) },
    encoding: 'utf8',
    timeout: timeoutMs,
  });
  return { status: r.status, stdout: r.stdout ?? '', stderr: r.stderr ?? '' };
}

function status(): { connect?: string; stateDir: string } {
  const r = stack('status');
  if (r.status !== 0) throw new Error(`stack.sh status failed: ${r.stderr}`);
  return JSON.parse(r.stdout);
}

function workerPid(stateDir: string): number | null {
  try {
    const pid = Number(fs.readFileSync(path.join(stateDir, 'connect', 'connect.pid'), 'utf8').trim());
    return Number.isInteger(pid) && fs.existsSync(`/proc/${pid}`) ? pid : null;
  } catch {
    return null;
  }
}

/** The running worker, started (with the stack's Kafka if needed) when it is not running. */
export function ensureConnect(): ConnectWorker {
  const external = process.env.SLUICE_TEST_CONNECT_URL?.trim();
  const before = status();
  if (external && external.replace(/\/$/, '') !== before.connect) return { url: external.replace(/\/$/, ''), pid: null, started: false, startMs: 0 };
  if (before.connect) return { url: before.connect, pid: workerPid(before.stateDir), started: false, startMs: 0 };
  const t0 = performance.now();
  const up = stack('up', 'connect');
  if (up.status !== 0) throw new Error(`Kafka Connect did not start (SLUICE_STACK_ONLY=connect stack.sh up):\n${up.stderr.slice(-4000)}`);
  const startMs = performance.now() - t0;
  const after = status();
  if (!after.connect) throw new Error('stack.sh up connect succeeded but status --json has no "connect"');
  return { url: after.connect, pid: workerPid(after.stateDir), started: true, startMs };
}

/** Stops the stack's worker (connectors and their offsets stay in Kafka for the next start). */
export function stopConnect(): void {
  const r = stack('down', 'connect', 120000);
  if (r.status !== 0) throw new Error(`stack.sh down connect failed: ${r.stderr}`);
}

async function rest(url: string, pathname: string, init: { method?: string; body?: unknown } = {}): Promise<{ status: number; body: any }> {
  const call = () =>
    fetch(url + pathname, {
      method: init.method ?? 'GET',
      headers: init.body === undefined ? {} : { 'content-type': 'application/json' },
      body: init.body === undefined ? undefined : JSON.stringify(init.body),
      signal: AbortSignal.timeout(30000),
    });
  // Every call here is idempotent. After a worker restart, fetch may first pick a pooled
  // keep-alive socket to the old worker ("other side closed"): one retry takes a new one.
  const r = await call().catch(() => call());
  const text = await r.text();
  let body: unknown = text;
  try {
    body = text ? JSON.parse(text) : undefined;
  } catch {
    /* not JSON: keep the text */
  }
  return { status: r.status, body };
}

/** Creates or reconfigures a connector (PUT /connectors/{name}/config). */
export async function putConnector(url: string, name: string, config: Record<string, string>): Promise<void> {
  const r = await rest(url, `/connectors/${encodeURIComponent(name)}/config`, { method: 'PUT', body: config });
  if (r.status !== 200 && r.status !== 201) throw new Error(`PUT connector ${name}: ${r.status} ${JSON.stringify(r.body)}`);
}

export async function deleteConnector(url: string, name: string): Promise<void> {
  const r = await rest(url, `/connectors/${encodeURIComponent(name)}`, { method: 'DELETE' });
  if (r.status !== 204 && r.status !== 404) throw new Error(`DELETE connector ${name}: ${r.status} ${JSON.stringify(r.body)}`);
}

export async function listConnectors(url: string): Promise<string[]> {
  const r = await rest(url, '/connectors');
  if (r.status !== 200) throw new Error(`GET /connectors: ${r.status} ${JSON.stringify(r.body)}`);
  return r.body as string[];
}

/**
 * Asks the plugin to validate a config against the live servers (Connect's
 * /connector-plugins/{class}/config/validate); returns each error as "key: message".
 */
export async function validateConnector(url: string, config: Record<string, string>): Promise<string[]> {
  const cls = config['connector.class'] ?? '';
  const r = await rest(url, `/connector-plugins/${encodeURIComponent(cls)}/config/validate`, { method: 'PUT', body: { name: 'validate', ...config } });
  if (r.status !== 200) throw new Error(`validate ${cls}: ${r.status} ${JSON.stringify(r.body)}`);
  const configs = (r.body as { configs: Array<{ value?: { name: string; errors: string[] } }> }).configs;
  return configs.flatMap((c) => (c.value?.errors ?? []).map((e) => `${c.value!.name}: ${e}`));
}

export async function pauseConnector(url: string, name: string, pause: boolean): Promise<void> {
  const r = await rest(url, `/connectors/${encodeURIComponent(name)}/${pause ? 'pause' : 'resume'}`, { method: 'PUT' });
  if (r.status !== 202) throw new Error(`${pause ? 'pause' : 'resume'} connector ${name}: ${r.status} ${JSON.stringify(r.body)}`);
}

export interface ConnectorStatus {
  connector: { state: string; trace?: string };
  tasks: Array<{ id: number; state: string; trace?: string }>;
}

export async function connectorStatus(url: string, name: string): Promise<ConnectorStatus | null> {
  const r = await rest(url, `/connectors/${encodeURIComponent(name)}/status`);
  return r.status === 200 ? (r.body as ConnectorStatus) : null;
}

/** Waits until the connector and all its tasks are in `state` (RUNNING or PAUSED); a FAILED one throws at once, with its trace. */
export async function waitConnector(url: string, name: string, state: 'RUNNING' | 'PAUSED' = 'RUNNING', timeoutMs = 60000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let last: ConnectorStatus | null = null;
  while (Date.now() < deadline) {
    last = await connectorStatus(url, name);
    const failed = last?.connector.state === 'FAILED' ? last.connector : last?.tasks.find((t) => t.state === 'FAILED');
    if (failed) throw new Error(`connector ${name} FAILED: ${failed.trace?.split('\n').slice(0, 8).join('\n')}`);
    if (last && last.connector.state === state && last.tasks.length > 0 && last.tasks.every((t) => t.state === state)) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`connector ${name} not ${state} within ${timeoutMs} ms (last status: ${JSON.stringify(last)})`);
}

/**
 * The converter both sides use. `json`: Kafka Connect's JsonConverter with schemas inline
 * (sluice's default transport format). `avro` is the parameter left for the registry
 * formats: it needs the stack's schema registry, which is not there yet.
 */
export type ConverterKind = 'json' | 'avro';

export function converterConfig(kind: ConverterKind, registryUrl?: string): Record<string, string> {
  if (kind === 'json') {
    return {
      'key.converter': 'org.apache.kafka.connect.json.JsonConverter',
      'key.converter.schemas.enable': 'true',
      'value.converter': 'org.apache.kafka.connect.json.JsonConverter',
      'value.converter.schemas.enable': 'true',
    };
  }
  if (!registryUrl) throw new Error('the avro converter needs a schema registry URL (the stack has none yet)');
  // Confluent's AvroConverter is not on Maven Central; Apicurio's converter is the candidate.
  throw new Error('the avro converter is not wired yet: add its jars to test/stack/connect/pom.xml first');
}

/** How Debezium writes numeric/decimal columns: `precise` (Connect Decimal, its default) or `string`. */
export type DecimalMode = 'precise' | 'string' | 'double';

/** A Debezium PostgreSQL source on the stack's PostgreSQL (pgoutput, a publication of its own tables). */
export function debeziumPostgres(opts: {
  postgresUrl: string;
  topicPrefix: string;
  tables: string[];
  slot: string;
  snapshot?: 'initial' | 'no_data' | 'initial_only';
  decimalMode?: DecimalMode;
  converter?: ConverterKind;
  partitions?: number;
}): Record<string, string> {
  const u = new URL(opts.postgresUrl);
  return {
    'connector.class': 'io.debezium.connector.postgresql.PostgresConnector',
    'tasks.max': '1',
    'database.hostname': u.hostname,
    'database.port': u.port || '5432',
    'database.user': decodeURIComponent(u.username),
    'database.password': decodeURIComponent(u.password),
    'database.dbname': u.pathname.slice(1),
    'topic.prefix': opts.topicPrefix,
    'plugin.name': 'pgoutput',
    'slot.name': opts.slot,
    'publication.name': `${opts.slot}_pub`,
    'publication.autocreate.mode': 'filtered',
    'table.include.list': opts.tables.join(','),
    'snapshot.mode': opts.snapshot ?? 'initial',
    'decimal.handling.mode': opts.decimalMode ?? 'precise',
    'topic.creation.default.partitions': String(opts.partitions ?? 1),
    'topic.creation.default.replication.factor': '-1',
    ...converterConfig(opts.converter ?? 'json'),
  };
}

/**
 * A Debezium MySQL source on the stack's MariaDB. Debezium 3.x reads MariaDB with its own
 * debezium-connector-mariadb, which Maven Central does not serve at 3.6.1.Final; the MySQL
 * connector reads MariaDB 10.11's binlog by file and position (MariaDB has no GTID_MODE, so
 * it takes GTIDs as off).
 */
export function debeziumMysql(opts: {
  mysqlUrl: string;
  kafkaBrokers: string;
  topicPrefix: string;
  tables: string[];
  serverId: number;
  snapshot?: 'initial' | 'no_data' | 'initial_only';
  decimalMode?: DecimalMode;
  converter?: ConverterKind;
  partitions?: number;
}): Record<string, string> {
  const u = new URL(opts.mysqlUrl);
  const db = u.pathname.slice(1);
  return {
    'connector.class': 'io.debezium.connector.mysql.MySqlConnector',
    'tasks.max': '1',
    'database.hostname': u.hostname,
    'database.port': u.port || '3306',
    'database.user': decodeURIComponent(u.username),
    'database.password': decodeURIComponent(u.password),
    'database.server.id': String(opts.serverId),
    'database.include.list': db,
    'table.include.list': opts.tables.join(','),
    'topic.prefix': opts.topicPrefix,
    'snapshot.mode': opts.snapshot ?? 'initial',
    'snapshot.locking.mode': 'none',
    'decimal.handling.mode': opts.decimalMode ?? 'precise',
    'schema.history.internal.kafka.bootstrap.servers': opts.kafkaBrokers,
    'schema.history.internal.kafka.topic': `${opts.topicPrefix}._schema_history`,
    'include.schema.changes': 'false',
    'topic.creation.default.partitions': String(opts.partitions ?? 1),
    'topic.creation.default.replication.factor': '-1',
    ...converterConfig(opts.converter ?? 'json'),
  };
}

/**
 * Debezium's MongoDB sink (io.debezium.connector.mongodb.MongoDbSinkConnector): one collection
 * per topic, named by `collectionFormat` (`${source.table}` takes the table name from the
 * envelope's source block; the default `${topic}` is the topic with dots as underscores).
 * Tombstones are filtered out before the sink (Kafka's Filter transform with the
 * RecordIsTombstone predicate): Debezium 3.6.1's sink throws on a tombstone outside its
 * per-record error handling, and its put() swallows the exception, so every record of that
 * poll (the delete before the tombstone included) is lost while the offsets are committed.
 */
export function debeziumMongoSink(opts: {
  mongoUrl: string;
  database: string;
  topics: string[];
  collectionFormat?: string;
  batchSize?: number;
  converter?: ConverterKind;
  /** Keep the RecordIsTombstone filter (default true); false shows the bug. */
  dropTombstones?: boolean;
}): Record<string, string> {
  const filter: Record<string, string> =
    opts.dropTombstones === false
      ? {}
      : {
          transforms: 'dropTombstones',
          'transforms.dropTombstones.type': 'org.apache.kafka.connect.transforms.Filter',
          'transforms.dropTombstones.predicate': 'isTombstone',
          predicates: 'isTombstone',
          'predicates.isTombstone.type': 'org.apache.kafka.connect.transforms.predicates.RecordIsTombstone',
        };
  return {
    ...filter,
    'connector.class': 'io.debezium.connector.mongodb.MongoDbSinkConnector',
    'tasks.max': '1',
    'mongodb.connection.string': opts.mongoUrl,
    'sink.database': opts.database,
    topics: opts.topics.join(','),
    'collection.name.format': opts.collectionFormat ?? '${source.table}',
    'batch.size': String(opts.batchSize ?? 500),
    'consumer.override.auto.offset.reset': 'earliest',
    ...converterConfig(opts.converter ?? 'json'),
  };
}

/** One Kafka record as text. */
export interface TopicRecord {
  partition: number;
  offset: string;
  key: string | null;
  value: string | null;
}

/**
 * Reads a topic from its beginning until `until(records)` holds (or `timeoutMs` passes:
 * then it rejects with what it has read), with a consumer group of its own.
 */
export async function readTopic(brokers: string[], topic: string, until: (records: TopicRecord[]) => boolean, timeoutMs = 60000): Promise<TopicRecord[]> {
  const { Kafka, logLevel } = await import('kafkajs');
  const kafka = new Kafka({ brokers, logLevel: logLevel.NOTHING, clientId: 'sluice-test-reader' });
  // kafkajs cannot subscribe to a topic that does not exist yet: wait for the producer to create it.
  const deadline = Date.now() + timeoutMs;
  const admin = kafka.admin();
  await admin.connect();
  try {
    while (!(await admin.listTopics()).includes(topic)) {
      if (Date.now() > deadline) throw new Error(`topic ${topic} does not exist after ${timeoutMs} ms`);
      await new Promise((r) => setTimeout(r, 200));
    }
  } finally {
    await admin.disconnect();
  }
  const consumer = kafka.consumer({ groupId: `sluice-test-reader-${Date.now()}-${Math.random().toString(36).slice(2)}` });
  const records: TopicRecord[] = [];
  let done!: () => void;
  const finished = new Promise<void>((resolve) => (done = resolve));
  const timer = setTimeout(() => done(), Math.max(0, deadline - Date.now()));
  try {
    await consumer.connect();
    await consumer.subscribe({ topics: [topic], fromBeginning: true });
    await consumer.run({
      eachMessage: async ({ partition, message }) => {
        records.push({ partition, offset: message.offset, key: message.key?.toString() ?? null, value: message.value?.toString() ?? null });
        if (until(records)) done();
      },
    });
    await finished;
  } finally {
    clearTimeout(timer);
    await consumer.disconnect().catch(() => undefined);
  }
  if (!until(records)) throw new Error(`topic ${topic}: condition not met within ${timeoutMs} ms after ${records.length} records`);
  return records;
}
