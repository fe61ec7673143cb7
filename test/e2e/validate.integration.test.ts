/**
 * POST /api/v1/validate against the real servers, through a real daemon: a good spec
 * passes every check (PostgreSQL on Kafka, MariaDB direct), a spec with every kind of
 * problem fails each named check with a suggestion and skips what depends on a failed
 * one, and nothing is ever created (no stream, no slot, no publication, no probe topic left).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Kafka, logLevel } from 'kafkajs';
import { createOrders, E2E_ADMIN_KEY, pgClient, uid } from '../helpers/pipeline';
import { myClient, createMyOrders, myDatabase } from '../helpers/mysql-pipeline';
import { stackUrls } from '../helpers/stack';
import { startDaemon, tmpDataDir, type RunningDaemon } from '../helpers/daemon';

interface Check {
  name: string;
  ok: boolean;
  skipped?: boolean;
  message: string;
  suggestion?: string;
  detail?: Record<string, unknown>;
}

const mongoUrl = (db: string): string => {
  const u = new URL(stackUrls().mongodb);
  u.pathname = `/${db}`;
  return u.toString();
};

async function conn(d: RunningDaemon, body: Record<string, unknown>): Promise<string> {
  const r = await d.api('/api/v1/connections', { method: 'POST', body });
  assert.equal(r.status, 201, JSON.stringify(r.body));
  return r.body.id as string;
}

async function validate(d: RunningDaemon, body: Record<string, unknown>): Promise<{ ok: boolean; checks: Check[] }> {
  const r = await d.api('/api/v1/validate', { method: 'POST', body });
  assert.equal(r.status, 200, JSON.stringify(r.body));
  return r.body;
}

const byName = (checks: Check[]) => new Map(checks.map((c) => [c.name, c]));
const failedNames = (checks: Check[]) => checks.filter((c) => !c.ok).map((c) => c.name);

test('validate: a good PostgreSQL → Kafka → MongoDB spec passes every check and creates nothing', async () => {
  const name = `val_${uid()}`;
  const pg = await pgClient();
  await createOrders(pg, `public.${name}`, 3);
  const d = await startDaemon(tmpDataDir(), { SLUICE_KAFKA_BROKERS: stackUrls().kafka }, { adminKey: E2E_ADMIN_KEY });
  try {
    const source = await conn(d, { name: `${name}-pg`, kind: 'postgresql', url: stackUrls().postgres });
    const sink = await conn(d, { name: `${name}-mongo`, kind: 'mongodb', url: mongoUrl(name) });
    const slotsBefore = (await pg.query('SELECT slot_name FROM pg_replication_slots')).rows.length;
    const res = await validate(d, {
      name,
      source: { connectionId: source },
      sink: { connectionId: sink },
      transport: { kind: 'kafka' },
      tables: [`public.${name}`],
      relationalTableFilters: { public: { [name]: { whereClause: 'amount > 1' } } },
    });
    assert.deepEqual(failedNames(res.checks), [], JSON.stringify(res.checks, null, 1));
    assert.equal(res.ok, true);
    const checks = byName(res.checks);
    for (const n of ['source.connection', 'source.reachable', 'source.version', 'source.wal_level', 'source.replication_privilege', 'filters', 'source.tables', `source.table public.${name}`, `source.filter public.${name}`, 'sink.connection', 'sink.connect', 'sink.write', 'kafka.brokers', 'kafka.topics']) {
      assert.ok(checks.get(n)?.ok, `check ${n}: ${JSON.stringify(checks.get(n))}`);
    }
    assert.match(checks.get(`source.table public.${name}`)!.message, /key \(id\)/);
    // Nothing was created: no stream, no slot, no probe topic left behind.
    assert.equal((await d.api('/api/v1/streams')).body.total ?? (await d.api('/api/v1/streams')).body.items.length, 0);
    assert.equal((await pg.query('SELECT slot_name FROM pg_replication_slots')).rows.length <= slotsBefore, true);
    assert.equal((await pg.query("SELECT 1 FROM pg_publication WHERE pubname LIKE '%validate%'")).rows.length, 0);
    const probe = /probe topic (\S+)/.exec(checks.get('kafka.topics')!.message)![1]!;
    const admin = new Kafka({ brokers: [stackUrls().kafka], logLevel: logLevel.NOTHING }).admin();
    await admin.connect();
    try {
      assert.ok(!(await admin.listTopics()).includes(probe), `probe topic ${probe} was deleted`);
    } finally {
      await admin.disconnect();
    }
  } finally {
    await d.stop('SIGTERM');
    await pg.query(`DROP TABLE IF EXISTS public.${name}`);
    await pg.end();
  }
});

test('validate: every problem is a failed check with a suggestion, dependent checks are skipped, the answer is still 200', async () => {
  const name = `val_${uid()}`;
  const pg = await pgClient();
  await createOrders(pg, `public.${name}`, 1);
  await pg.query(`CREATE TABLE public.${name}_nokey (a int, b text)`);
  const d = await startDaemon(tmpDataDir(), {}, { adminKey: E2E_ADMIN_KEY });
  try {
    const source = await conn(d, { name: `${name}-pg`, kind: 'postgresql', url: stackUrls().postgres });
    const noDb = await conn(d, { name: `${name}-mongo`, kind: 'mongodb', url: stackUrls().mongodb });
    const kafka = await conn(d, { name: `${name}-kafka`, kind: 'kafka', url: '127.0.0.1:1' });
    const res = await validate(d, {
      name,
      source: { connectionId: source },
      sink: { connectionId: noDb },
      transport: { kind: 'kafka', connectionId: kafka },
      tables: [`public.${name}`, `public.${name}_nokey`, `public.${name}_missing`],
      relationalTableFilters: { public: { [name]: { whereClause: 'no_such_column = 1' }, [`${name}_missing`]: { whereClause: 'a = 1' } } },
    });
    assert.equal(res.ok, false);
    const checks = byName(res.checks);
    assert.equal(checks.get('source.reachable')?.ok, true);
    assert.equal(checks.get('filters')?.ok, true, 'the clauses parse; the column is checked against the table');
    const unknownColumn = checks.get(`source.filter public.${name}`)!;
    assert.equal(unknownColumn.ok, false);
    assert.equal(unknownColumn.detail?.code, 'FILTER_COLUMN_UNKNOWN');
    const nokey = checks.get(`source.table public.${name}_nokey`)!;
    assert.equal(nokey.ok, false);
    assert.equal(nokey.detail?.code, 'SOURCE_TABLE_NO_KEY');
    assert.match(nokey.suggestion!, /PRIMARY KEY|REPLICA IDENTITY FULL/);
    const missing = checks.get(`source.table public.${name}_missing`)!;
    assert.equal(missing.detail?.code, 'SOURCE_TABLE_NOT_FOUND');
    assert.equal(checks.get(`source.filter public.${name}_missing`)?.skipped, true);
    assert.equal(checks.get('sink.database')?.ok, false);
    assert.ok(checks.get('sink.database')?.suggestion);
    assert.equal(checks.get('kafka.brokers')?.ok, false);
    assert.ok(checks.get('kafka.brokers')?.suggestion);
    assert.equal(checks.get('kafka.topics')?.skipped, true);
    for (const c of res.checks.filter((x) => !x.ok && !x.skipped)) assert.ok(c.suggestion, `failed check ${c.name} has a suggestion`);

    // A syntax error fails the spec-level filter check.
    const bad = await validate(d, { name, source: { connectionId: source }, sink: { connectionId: noDb }, transport: { kind: 'direct' }, tables: [`public.${name}`], relationalTableFilters: { public: { [name]: { whereClause: 'amount >' } } } });
    assert.equal(byName(bad.checks).get('filters')?.ok, false);
    assert.equal(byName(bad.checks).get('filters')?.detail?.code, 'FILTER_CLAUSE_INVALID');

    // An unreachable source: its test fails, the tables are skipped, not omitted.
    const down = await conn(d, { name: `${name}-down`, kind: 'postgresql', url: 'postgresql://sluice:sluice@127.0.0.1:1/sluice' });
    const unreachable = byName((await validate(d, { name, source: { connectionId: down }, sink: { connectionId: noDb }, transport: { kind: 'direct' }, tables: [`public.${name}`] })).checks);
    assert.equal(unreachable.get('source.reachable')?.ok, false);
    assert.equal(unreachable.get('source.tables')?.skipped, true);
    // An unknown connection is a failed check, not a 404.
    const unknown = byName((await validate(d, { name, source: { connectionId: 'nope' }, sink: { connectionId: noDb }, tables: [] })).checks);
    assert.equal(unknown.get('source.connection')?.ok, false);
    assert.equal(unknown.get('source.tables')?.skipped, true);
    // Malformed: 400.
    const malformed = await d.api('/api/v1/validate', { method: 'POST', body: { name, source: { connectionId: source }, sink: { connectionId: noDb }, bogus: 1 } });
    assert.equal(malformed.status, 400);
    assert.equal((await d.api('/api/v1/streams')).body.items.length, 0, 'validate created no stream');
  } finally {
    await d.stop('SIGTERM');
    await pg.query(`DROP TABLE IF EXISTS public.${name}; DROP TABLE IF EXISTS public.${name}_nokey`);
    await pg.end();
  }
});

test('validate: MariaDB binlog settings, privileges and keys; a savePassword:false connection needs its password in the body', async () => {
  const name = `val_${uid()}`;
  const my = await myClient();
  const table = `${myDatabase()}.${name}`;
  await createMyOrders(my, table, 2);
  const d = await startDaemon(tmpDataDir(), {}, { adminKey: E2E_ADMIN_KEY });
  try {
    const url = new URL(stackUrls().mysql);
    const password = decodeURIComponent(url.password);
    const source = await conn(d, { name: `${name}-my`, kind: 'mysql', url: url.toString(), savePassword: false });
    const sink = await conn(d, { name: `${name}-mongo`, kind: 'mongodb', url: mongoUrl(name) });
    const spec = { name, source: { connectionId: source }, sink: { connectionId: sink }, transport: { kind: 'direct' }, tables: [table] };
    const without = byName((await validate(d, spec)).checks);
    assert.equal(without.get('source.connection')?.ok, false);
    assert.equal(without.get('source.connection')?.detail?.code, 'CONNECTION_PASSWORD_REQUIRED');
    assert.equal(without.get('source.tables')?.skipped, true);

    const res = await validate(d, { ...spec, passwords: { [source]: password } });
    assert.deepEqual(failedNames(res.checks), [], JSON.stringify(res.checks, null, 1));
    const checks = byName(res.checks);
    for (const n of ['source.log_bin', 'source.binlog_format', 'source.binlog_row_image', 'source.privileges', `source.table ${table}`, 'sink.write', 'transport']) {
      assert.ok(checks.get(n)?.ok, `check ${n}`);
    }
  } finally {
    await d.stop('SIGTERM');
    await my.query(`DROP TABLE IF EXISTS ${table}`);
    await my.end();
  }
});

test('validate: a PostgreSQL user without REPLICATION and without SELECT on the table is told what to grant', async () => {
  const name = `val_${uid()}`;
  const user = `valuser_${uid()}`;
  const pw = `pw-${uid()}`;
  const pg = await pgClient();
  await createOrders(pg, `public.${name}`, 1);
  await pg.query(`CREATE ROLE ${user} LOGIN PASSWORD '${pw}'`);
  const d = await startDaemon(tmpDataDir(), {}, { adminKey: E2E_ADMIN_KEY });
  try {
    const url = new URL(stackUrls().postgres);
    url.username = user;
    url.password = pw;
    const source = await conn(d, { name: `${name}-pg`, kind: 'postgresql', url: url.toString() });
    const sink = await conn(d, { name: `${name}-mongo`, kind: 'mongodb', url: mongoUrl(name) });
    const res = await validate(d, { name, source: { connectionId: source }, sink: { connectionId: sink }, transport: { kind: 'direct' }, tables: [`public.${name}`] });
    assert.equal(res.ok, false);
    const checks = byName(res.checks);
    assert.equal(checks.get('source.reachable')?.ok, true);
    assert.equal(checks.get('source.replication_privilege')?.ok, false);
    assert.match(checks.get('source.replication_privilege')!.suggestion!, /WITH REPLICATION/);
    const t = checks.get(`source.table public.${name}`)!;
    assert.equal(t.ok, false);
    assert.match(t.message, /SELECT ON/);
    assert.match(t.suggestion!, /GRANT SELECT ON public\./);
  } finally {
    await d.stop('SIGTERM');
    await pg.query(`DROP TABLE IF EXISTS public.${name}`);
    await pg.query(`SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = $1`, [user]).catch(() => undefined);
    await pg.query(`DROP ROLE IF EXISTS ${user}`).catch(() => undefined);
    await pg.end();
  }
});
