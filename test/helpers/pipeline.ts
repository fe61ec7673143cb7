/**
 * A PostgreSQL → MongoDB stream driven through the real daemon and its API, on
 * the test stack: the table, the connections, the stream, the comparison, and
 * control of the stack's servers for outage tests.
 */
import { untilStopped } from './writer';
import fs from 'node:fs';
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import crypto from 'node:crypto';
import { Client } from 'pg';
import { MongoClient, type Db } from 'mongodb';
import { stackUrls } from './stack';
import assert from 'node:assert/strict';
import { startDaemon, tmpDataDir, type RunningDaemon } from './daemon';
import { describe, diffRows, isEqual, norm, normaliseRow, sinkRows, type Difference, type Normalised } from './compare';
import { waitFor } from './wait-for';
import { knob, ORDER_COLUMNS, type OrdersDb, type SourceKind } from './orders';
import { myOrders } from './mysql-pipeline';

export { knob, ORDER_COLUMNS, type OrdersDb, type SourceKind };

export const E2E_ADMIN_KEY = 'e2e-admin-key-0123456789abcdef';

export const uid = (): string => crypto.randomBytes(4).toString('hex');

export async function pgClient(): Promise<Client> {
  const c = new Client({ connectionString: stackUrls().postgres });
  await c.connect();
  return c;
}

export async function createOrders(pg: Client, table: string, rows: number): Promise<void> {
  await pg.query(`CREATE TABLE ${table} (id bigint PRIMARY KEY, n int NOT NULL, note text, amount numeric(14,2), at timestamptz NOT NULL)`);
  if (rows > 0) {
    await pg.query(
      `INSERT INTO ${table} SELECT g, g % 1000, 'row ' || g, (g * 1.25)::numeric(14,2), date_trunc('milliseconds', now()) FROM generate_series(1, $1) g`,
      [rows],
    );
  }
}

export async function sourceOrders(pg: Client, table: string, params: unknown[] = []): Promise<Map<string, Normalised>> {
  const r = await pg.query(
    `SELECT id::text AS id, n::text AS n, note, amount::text AS amount,
            to_char(at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"') AS at FROM ${table}`,
    params,
  );
  return new Map(r.rows.map((row: Record<string, unknown>) => [row.id as string, normaliseRow(row, ORDER_COLUMNS)]));
}

/**
 * Random inserts, updates and deletes until `stop()`; every statement is its own
 * transaction. A failed statement ends the loop; `stop()` then rejects with it (never an
 * unhandled rejection that would hide the test's own failure).
 */
export function writeContinuously(pg: Client, table: string, firstNewId: number): { stop: () => Promise<number> } {
  let next = firstNewId;
  let count = 0;
  const writer = untilStopped(async () => {
    const pick = Math.random();
    if (pick < 0.5) {
      await pg.query(`INSERT INTO ${table} VALUES ($1, $2, $3, $4, date_trunc('milliseconds', now()))`, [next, next % 7, `new ${next}`, (next / 4).toFixed(2)]);
      next++;
    } else if (pick < 0.85) {
      await pg.query(`UPDATE ${table} SET n = n + 1, amount = amount + 0.01, at = date_trunc('milliseconds', now()) WHERE id = (SELECT id FROM ${table} ORDER BY random() LIMIT 1)`);
    } else {
      await pg.query(`DELETE FROM ${table} WHERE id = (SELECT id FROM ${table} ORDER BY random() LIMIT 1)`);
    }
    count++;
  });
  return { stop: async () => (await writer.stop(), count) };
}

/** The stack's PostgreSQL as an OrdersDb, on `pg` (or a connection of its own). */
export async function pgOrders(pg?: Client): Promise<OrdersDb & { pg: Client }> {
  const c = pg ?? (await pgClient());
  return {
    kind: 'postgresql',
    pg: c,
    table: (name) => `public.${name}`,
    create: (table, rows) => createOrders(c, table, rows),
    rows: (table) => sourceOrders(c, table),
    exec: async (sql, params) => {
      await c.query(sql, params);
    },
    writeContinuously: (table, firstNewId) => writeContinuously(c, table, firstNewId),
    end: () => c.end(),
  };
}

/** The orders table's database of the given kind, on a connection of its own. */
export const openOrders = (kind: SourceKind): Promise<OrdersDb> => (kind === 'mysql' ? myOrders() : pgOrders());

export async function mongoDb(name: string): Promise<{ client: MongoClient; db: Db }> {
  const client = new MongoClient(stackUrls().mongodb, { serverSelectionTimeoutMS: 5000 });
  await client.connect();
  return { client, db: client.db(name) };
}

/** A source given as a pg Client is the PostgreSQL one. */
const rowsOf = (src: Client | OrdersDb, table: string): Promise<Map<string, Normalised>> =>
  src instanceof Client ? sourceOrders(src, table) : src.rows(table);

export async function compareOrders(src: Client | OrdersDb, table: string, db: Db, collection: string): Promise<Difference> {
  return diffRows(await rowsOf(src, table), await sinkRows(db, collection, 'id', ORDER_COLUMNS));
}

/**
 * Compares only the rows with the given keys, each document fetched by `_id` equality
 * (the one lookup FerretDB v1 serves from an index): a row-by-row check of a sample,
 * for tables too large to read whole in test time.
 */
export async function compareOrdersSample(pg: Client, table: string, db: Db, collection: string, ids: number[]): Promise<Difference> {
  const all = await sourceOrders(pg, `(SELECT * FROM ${table} WHERE id = ANY($1::bigint[])) AS sample`, [ids]);
  const sink = new Map<string, Normalised>();
  for (const id of ids) {
    const doc = await db.collection(collection).findOne({ _id: id as never });
    if (doc) sink.set(norm(doc._id) as string, normaliseRow({ ...doc, id: doc._id }, ORDER_COLUMNS));
  }
  return diffRows(all, sink);
}

/**
 * Waits until MongoDB holds exactly the source table; the message says what still
 * differs. Each comparison reads both tables whole, so the pause between two grows with
 * its cost (twice its duration): polling must not starve the sink it is waiting for.
 */
export async function waitConverged(src: Client | OrdersDb, table: string, db: Db, collection: string, timeoutMs = 120000): Promise<Difference> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const t0 = Date.now();
    const last = await compareOrders(src, table, db, collection);
    if (isEqual(last)) return last;
    if (Date.now() >= deadline) throw new Error(`MongoDB ${collection} does not equal ${table} after ${timeoutMs} ms: ${describe(last)}`);
    await new Promise((r) => setTimeout(r, Math.min(Math.max(500, 2 * (Date.now() - t0)), Math.max(0, deadline - Date.now()))));
  }
}

export interface StreamIds {
  streamId: string;
  sourceId: string;
  sinkId: string;
}

/** Creates the connections and a stream over the API of a running daemon. */
export async function createStream(
  d: RunningDaemon,
  spec: {
    name: string;
    mongoDb: string;
    tables: string[];
    mode?: string;
    transport?: 'direct' | 'kafka';
    options?: Record<string, unknown>;
    sourceKind?: SourceKind;
    /** The source connection's URL (default: the stack's) and options (TLS, say). */
    sourceUrl?: string;
    sourceOptions?: Record<string, unknown>;
    /** More stream fields (relationalTableFilters, mapping). */
    extra?: Record<string, unknown>;
  },
): Promise<StreamIds> {
  const kind = spec.sourceKind ?? 'postgresql';
  const url = spec.sourceUrl ?? (kind === 'mysql' ? stackUrls().mysql : stackUrls().postgres);
  const src = await d.api('/api/v1/connections', { method: 'POST', body: { name: `${spec.name}-${kind === 'mysql' ? 'my' : 'pg'}`, kind, url, ...(spec.sourceOptions ? { options: spec.sourceOptions } : {}) } });
  if (src.status !== 201) throw new Error(`source connection: ${JSON.stringify(src.body)}`);
  const mongoUrl = new URL(stackUrls().mongodb);
  mongoUrl.pathname = `/${spec.mongoDb}`;
  const sink = await d.api('/api/v1/connections', { method: 'POST', body: { name: `${spec.name}-mongo`, kind: 'mongodb', url: mongoUrl.toString() } });
  if (sink.status !== 201) throw new Error(`sink connection: ${JSON.stringify(sink.body)}`);
  const stream = await d.api('/api/v1/streams', {
    method: 'POST',
    body: {
      name: spec.name,
      source: { connectionId: src.body.id },
      sink: { connectionId: sink.body.id },
      transport: { kind: spec.transport ?? 'direct' },
      mode: spec.mode ?? 'CDC',
      tables: spec.tables,
      options: spec.options ?? {},
      ...spec.extra,
    },
  });
  if (stream.status !== 201) throw new Error(`stream: ${JSON.stringify(stream.body)}`);
  return { streamId: stream.body.id, sourceId: src.body.id, sinkId: sink.body.id };
}

export async function streamStatus(d: RunningDaemon, id: string): Promise<{ state: string; status: string | null; cdcStatus: string; statistics: Record<string, number>; failureError: unknown }> {
  const r = await d.api(`/api/v1/streams/${id}`);
  if (r.status !== 200) throw new Error(`GET stream: ${r.status} ${JSON.stringify(r.body)}`);
  return r.body;
}

/** Stops or starts one server of the test stack (postgres, mariadb, kafka, ferretdb). */
export function stackServer(action: 'up' | 'down', server: 'kafka' | 'ferretdb' | 'postgres' | 'mariadb'): void {
  const script = path.resolve(__dirname, '../../../test/stack/stack.sh');
  const r = spawnSync('bash', [script, action], { env: { ...process.env, SLUICE_STACK_ONLY: server }, encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`stack.sh ${action} ${server} failed: ${r.stderr}`);
}

/** Resident set size of a process, from /proc, in bytes. */
export function rssBytes(pid: number): number {
  const status = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
  const m = /VmRSS:\s+(\d+) kB/.exec(status);
  return m ? Number(m[1]) * 1024 : 0;
}


export interface StreamFixture<K extends SourceKind = 'postgresql'> {
  d: RunningDaemon;
  streamId: string;
  table: string;
  collection: string;
  /** The source database, whichever kind. */
  src: OrdersDb;
  /** The PostgreSQL connection, for PostgreSQL streams. */
  pg: K extends 'postgresql' ? Client : never;
  db: Db;
  /** Kills the daemon (SIGKILL unless told) and starts it again on the same data dir; `d` of the fixture is then the new one. */
  restart: (signal?: NodeJS.Signals) => Promise<RunningDaemon>;
}

/** The daemon environment for a transport: Kafka gets the stack's brokers as the default. */
export const transportEnv = (transport: 'direct' | 'kafka' | undefined): Record<string, string> =>
  transport === 'kafka' ? { SLUICE_KAFKA_BROKERS: stackUrls().kafka } : {};

/**
 * A fresh orders table with `rows` rows in the `source` database (PostgreSQL unless
 * told), a daemon on a fresh data dir and a stream from the table to a database of its
 * own; `body` runs against it, then everything is torn down again (the stream deleted,
 * so a PostgreSQL slot is dropped).
 */
export async function withStream<K extends SourceKind = 'postgresql'>(
  opts: {
    source?: K;
    transport?: 'direct' | 'kafka';
    rows?: number;
    mode?: string;
    options?: Record<string, unknown>;
    extra?: (table: string) => Record<string, unknown>;
    /** The source connection's URL and options (createStream), and more daemon environment. */
    sourceUrl?: string;
    sourceOptions?: Record<string, unknown>;
    env?: Record<string, string>;
  },
  body: (f: StreamFixture<K>) => Promise<void>,
): Promise<void> {
  const kind: SourceKind = opts.source ?? 'postgresql';
  const collection = `stream_${uid()}`;
  const src = await openOrders(kind);
  const table = src.table(collection);
  const mongo = await mongoDb(collection);
  await src.create(table, opts.rows ?? 0);
  const env = { ...transportEnv(opts.transport), ...opts.env };
  let d = await startDaemon(tmpDataDir(), env, { adminKey: E2E_ADMIN_KEY });
  const restart = async (signal: NodeJS.Signals = 'SIGKILL'): Promise<RunningDaemon> => {
    await d.stop(signal);
    d = await startDaemon(d.dataDir, env, { adminKey: E2E_ADMIN_KEY });
    return d;
  };
  let streamId: string | undefined;
  try {
    const ids = await createStream(d, {
      name: collection,
      mongoDb: collection,
      tables: [table],
      sourceKind: kind,
      ...(opts.sourceUrl ? { sourceUrl: opts.sourceUrl } : {}),
      ...(opts.sourceOptions ? { sourceOptions: opts.sourceOptions } : {}),
      transport: opts.transport ?? 'direct',
      mode: opts.mode ?? 'CDC',
      options: { heartbeatIntervalMs: 1000, ...opts.options },
      extra: opts.extra?.(table),
    });
    streamId = ids.streamId;
    const pg = (src as Partial<{ pg: Client }>).pg as StreamFixture<K>['pg'];
    await body({ d, streamId, table, collection, src, pg, db: mongo.db, restart });
  } finally {
    if (streamId) {
      await d.api(`/api/v1/streams/${streamId}/stop`, { method: 'POST' }).catch(() => undefined);
      await d.api(`/api/v1/streams/${streamId}`, { method: 'DELETE' }).catch(() => undefined);
    }
    await d.stop('SIGTERM');
    await src.exec(`DROP TABLE IF EXISTS ${table}`).catch(() => undefined);
    await mongo.db.dropDatabase().catch(() => undefined);
    await mongo.client.close();
    await src.end().catch(() => undefined);
  }
}

/** Starts a stream over the API. */
export const start = async (d: RunningDaemon, id: string) => assert.equal((await d.api(`/api/v1/streams/${id}/start`, { method: 'POST' })).status, 202);
/** Waits until a stream streams changes (its snapshot, if any, is done). */
export const cdcRunning = (d: RunningDaemon, id: string) =>
  waitFor(async () => (await streamStatus(d, id)).cdcStatus === 'RUNNING', { timeoutMs: 300000, intervalMs: 200, message: 'CDC running' });
