/**
 * Hostile input against a real daemon on the test stack (issue 22):
 *
 * - every connection kind pointed at every stack port of another kind (MariaDB,
 *   PostgreSQL, Kafka, FerretDB, Prometheus), all at once: each test answers within a
 *   time bound with a failed check carrying a code, and the daemon's heap stays under a
 *   bound (it ran with a capped heap, so the old behaviour, 4.6 GB within 20 s, kills it
 *   and fails the test at once). Browsing and /validate reach the same guard; a viewer's
 *   failed browse says "unreachable" without the driver's reason;
 * - system schemas (pg_catalog.pg_authid, mysql.global_priv, performance_schema) are
 *   neither listed, described nor previewed, nor validated, unless allowed;
 * - the failed-authentication limit keeps a valid key working while an attacker from
 *   the same address (127.0.0.1) is limited.
 *
 * Size knobs: SLUICE_E2E_HOSTILE_HEAP_MB (heap bound, default 200), SLUICE_E2E_HOSTILE_TEST_MS
 * (time bound per connection test, default 30000).
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { E2E_ADMIN_KEY, knob, pgClient, uid } from '../helpers/pipeline';
import { startDaemon, tmpDataDir, type RunningDaemon } from '../helpers/daemon';
import { stackUrls } from '../helpers/stack';
import { myClient } from '../helpers/mysql-pipeline';

const HEAP_MB = knob('SLUICE_E2E_HOSTILE_HEAP_MB', 200);
const TEST_MS = knob('SLUICE_E2E_HOSTILE_TEST_MS', 30000);

let d: RunningDaemon;
let operator: string;
let viewer: string;

before(async () => {
  // A capped heap: a guard that fails makes the daemon die of it, not the machine.
  d = await startDaemon(tmpDataDir(), {}, { adminKey: E2E_ADMIN_KEY, nodeArgs: ['--max-old-space-size=384'] });
  operator = (await d.api('/api/v1/api-keys', { method: 'POST', body: { name: 'hostile-operator', role: 'operator' } })).body.key;
  viewer = (await d.api('/api/v1/api-keys', { method: 'POST', body: { name: 'hostile-viewer', role: 'viewer' } })).body.key;
});
after(async () => {
  await d?.stop('SIGTERM');
});

/** `p`, or a rejection once `ms` have passed: a call the daemon never answers fails the test instead of hanging it. */
function bounded<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  return Promise.race([p, new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`${what}: no answer within ${ms} ms`)), ms)))]).finally(() => clearTimeout(timer));
}

const hostPort = (url: string): { host: string; port: number } => {
  const m = /^(?:[a-z]+:\/\/)?(?:[^@/]*@)?([^:/,]+):(\d+)/.exec(url)!;
  return { host: m[1]!, port: Number(m[2]) };
};

async function heapMb(): Promise<number> {
  const text = await fetch(`${d.base}/metrics`).then((r) => r.text());
  const line = text.split('\n').find((l) => l.startsWith('nodejs_heap_size_used_bytes '));
  return Number(line?.split(' ')[1]) / 1e6;
}

const made = async (body: Record<string, unknown>): Promise<string> => {
  const r = await d.api('/api/v1/connections', { method: 'POST', body });
  assert.equal(r.status, 201, JSON.stringify(r.body));
  return r.body.id as string;
};

test('a connection test against every stack port of another kind answers in bounded time with a code, and the daemon\'s heap stays bounded', async () => {
  const urls = stackUrls();
  const servers: Record<string, { host: string; port: number }> = {
    postgresql: hostPort(urls.postgres),
    mysql: hostPort(urls.mysql),
    kafka: hostPort(urls.kafka),
    mongodb: hostPort(urls.mongodb),
  };
  if (process.env.SLUICE_TEST_PROMETHEUS_URL) servers.prometheus = hostPort(process.env.SLUICE_TEST_PROMETHEUS_URL);
  const urlOf = (kind: string, at: { host: string; port: number }): string =>
    kind === 'postgresql' ? `postgresql://sluice:wrong@${at.host}:${at.port}/sluice`
    : kind === 'mysql' ? `mysql://sluice:wrong@${at.host}:${at.port}/sluice`
    : kind === 'mongodb' ? `mongodb://${at.host}:${at.port}/hostile`
    : `${at.host}:${at.port}`;
  const id = uid();
  const combos: Array<{ kind: string; server: string; conn: string }> = [];
  for (const kind of ['mongodb', 'postgresql', 'mysql', 'kafka']) {
    for (const [server, at] of Object.entries(servers)) {
      if (server === kind) continue;
      const conn = await made({ name: `${kind}-on-${server}-${id}`, kind, url: urlOf(kind, at), ...(kind === 'postgresql' || kind === 'mysql' ? { options: { connectTimeoutMs: 5000 } } : {}) });
      combos.push({ kind, server, conn });
    }
  }
  const heap0 = await heapMb();
  const codes = new Map<string, string>();
  let peak = heap0;
  const sampler = setInterval(() => void heapMb().then((h) => (peak = Math.max(peak, h)), () => undefined), 250);
  try {
    await Promise.all(
      combos.map(async ({ kind, server, conn }) => {
        const t0 = Date.now();
        const r = await bounded(d.api(`/api/v1/connections/${conn}/test`, { method: 'POST', body: {}, key: operator }), TEST_MS, `test of ${kind} on ${server}`);
        const ms = Date.now() - t0;
        assert.equal(r.status, 200, `${kind} on ${server}: ${JSON.stringify(r.body)}`);
        assert.ok(ms < TEST_MS, `${kind} on ${server}: the test took ${ms} ms`);
        assert.equal(r.body.ok, false, `${kind} on ${server}`);
        const failed = (r.body.checks as Array<{ ok: boolean; code?: string; message: string }>).find((c) => !c.ok)!;
        assert.ok(['CONNECTION_PROTOCOL_MISMATCH', 'SOURCE_UNREACHABLE', 'SINK_UNREACHABLE', 'KAFKA_UNREACHABLE'].includes(failed.code ?? ''), `${kind} on ${server}: ${JSON.stringify(failed)}`);
        codes.set(`${kind}@${server}`, failed.code!);
      }),
    );
    // Browsing and /validate go through the same guards, also all at once.
    const pgSource = await made({ name: `pg-real-${id}`, kind: 'postgresql', url: urls.postgres });
    const sourcesOnWrongPorts = combos.filter((c) => c.kind === 'postgresql' || c.kind === 'mysql');
    await Promise.all([
      ...sourcesOnWrongPorts.map(async ({ kind, server, conn }) => {
        const asOperator = await bounded(d.api(`/api/v1/connections/${conn}/tables`, { key: operator }), TEST_MS, `browse ${kind} on ${server}`);
        assert.equal(asOperator.status, 502, `${kind} on ${server}: ${JSON.stringify(asOperator.body)}`);
        const asViewer = await bounded(d.api(`/api/v1/connections/${conn}/tables`, { key: viewer }), TEST_MS, `browse ${kind} on ${server}`);
        assert.equal(asViewer.status, 502);
        assert.equal(asViewer.body.error.code, 'SOURCE_UNREACHABLE', 'a viewer learns the source is unreachable');
        assert.doesNotMatch(JSON.stringify(asViewer.body), /ECONN|invalid response|greeting|timeout|terminated|closed/i, 'and not why');
      }),
      ...combos
        .filter((c) => c.kind === 'mongodb')
        .map(async ({ server, conn }) => {
          const v = await bounded(d.api('/api/v1/validate', { method: 'POST', key: operator, body: { name: `v-${server}`, source: { connectionId: pgSource }, sink: { connectionId: conn }, transport: { kind: 'direct' }, tables: ['public.nope'] } }), TEST_MS * 2, `validate, mongodb on ${server}`);
          assert.equal(v.status, 200, JSON.stringify(v.body));
          const sink = (v.body.checks as Array<{ name: string; ok: boolean; code?: string }>).find((c) => c.name === 'sink.connect');
          assert.equal(sink?.ok, false, `validate, mongodb on ${server}: ${JSON.stringify(v.body.checks)}`);
        }),
    ]);
  } finally {
    clearInterval(sampler);
  }
  const heap1 = await bounded(heapMb(), 5000, 'metrics');
  peak = Math.max(peak, heap1);
  assert.equal((await fetch(`${d.base}/healthz`)).status, 200, 'the daemon is alive');
  assert.ok(peak < HEAP_MB, `heap peaked at ${Math.round(peak)} MB (from ${Math.round(heap0)} MB), bound ${HEAP_MB} MB`);
  // The finding's own cases: MongoDB on MariaDB's port, MySQL on a server that waits for its client.
  assert.equal(codes.get('mongodb@mysql'), 'CONNECTION_PROTOCOL_MISMATCH');
  assert.equal(codes.get('mysql@postgresql'), 'CONNECTION_PROTOCOL_MISMATCH');
  assert.equal(codes.get('mysql@kafka'), 'CONNECTION_PROTOCOL_MISMATCH');
  assert.equal(codes.get('postgresql@mysql'), 'CONNECTION_PROTOCOL_MISMATCH');
});

test('system schemas are neither listed, described, previewed nor validated, unless the connection allows one', async () => {
  const urls = stackUrls();
  const id = uid();
  const pg = await made({ name: `pg-sys-${id}`, kind: 'postgresql', url: urls.postgres });
  const my = await made({ name: `my-sys-${id}`, kind: 'mysql', url: urls.mysql });
  const myUrl = new URL(urls.mysql);
  myUrl.pathname = '/mysql';
  const myOnMysql = await made({ name: `my-on-mysql-${id}`, kind: 'mysql', url: myUrl.toString() });
  const allowed = await made({ name: `my-allowed-${id}`, kind: 'mysql', url: urls.mysql, options: { allowSystemSchemas: ['performance_schema'] } });
  const forbidden = [
    [pg, 'pg_catalog.pg_authid/rows?columns=rolname,rolpassword'],
    [pg, 'pg_catalog.pg_authid/columns'],
    [pg, 'pg_catalog.pg_shadow/rows'],
    [pg, 'information_schema.tables/rows'],
    [pg, 'pg_toast.x/columns'],
    [my, 'mysql.global_priv/rows?columns=User,Priv'],
    [my, 'mysql.user/columns'],
    [my, 'performance_schema.threads/columns'],
    [my, 'information_schema.tables/rows'],
    [my, 'sys.version/rows'],
    [myOnMysql, 'global_priv/rows'],
    [allowed, 'mysql.global_priv/rows'],
  ] as const;
  for (const [conn, path] of forbidden) {
    for (const key of [E2E_ADMIN_KEY, operator, viewer]) {
      const r = await d.api(`/api/v1/connections/${conn}/tables/${path}`, { key });
      if (path.includes('/rows') && key === viewer) {
        assert.equal(r.status, 403, path);
        assert.equal(r.body.error.code, 'FORBIDDEN_ROLE');
        continue;
      }
      assert.equal(r.status, 403, `${path}: ${JSON.stringify(r.body)}`);
      assert.equal(r.body.error.code, 'SOURCE_SCHEMA_FORBIDDEN', path);
      assert.doesNotMatch(JSON.stringify(r.body), /SCRAM|authentication_string|\*[0-9A-F]{40}/);
    }
  }
  // Not listed either, even where the user may read them.
  const pgTables = await d.api(`/api/v1/connections/${pg}/tables?limit=1000`, { key: viewer });
  assert.ok(!(pgTables.body.items as Array<{ schema: string }>).some((t) => /^pg_|^information_schema$/.test(t.schema)));
  const mysqlTables = await d.api(`/api/v1/connections/${myOnMysql}/tables?limit=1000`, { key: viewer });
  assert.equal(mysqlTables.status, 200, JSON.stringify(mysqlTables.body));
  assert.equal(mysqlTables.body.total, 0, 'a connection whose database is mysql lists nothing of it');
  // The allowed schema reads; the others stay closed.
  assert.equal((await d.api(`/api/v1/connections/${allowed}/tables/performance_schema.threads/columns`, { key: viewer })).status, 200);
  // /validate and stream creation refuse them.
  const sink = await made({ name: `mo-sys-${id}`, kind: 'mongodb', url: `${urls.mongodb.replace(/\/$/, '')}/hostile_${id}` });
  const v = await d.api('/api/v1/validate', { method: 'POST', key: operator, body: { name: 'v', source: { connectionId: my }, sink: { connectionId: sink }, transport: { kind: 'direct' }, tables: ['mysql.global_priv'] } });
  const tables = (v.body.checks as Array<{ name: string; ok: boolean; code?: string }>).find((c) => c.name === 'source.tables');
  assert.equal(tables?.ok, false);
  assert.equal(tables?.code, 'SOURCE_SCHEMA_FORBIDDEN');
  const s = await d.api('/api/v1/streams', { method: 'POST', body: { name: `sys-${id}`, source: { connectionId: pg }, sink: { connectionId: sink }, transport: { kind: 'direct' }, tables: ['pg_catalog.pg_authid'] } });
  assert.equal(s.status, 403);
  assert.equal(s.body.error.code, 'SOURCE_SCHEMA_FORBIDDEN');
  // The sources really hold what was refused (the refusal is sluice's, not the database's).
  const pgc = await pgClient();
  const myc = await myClient();
  try {
    assert.ok(((await pgc.query('SELECT count(*)::int AS n FROM pg_catalog.pg_authid')).rows[0] as { n: number }).n > 0);
    assert.ok((await myc.query('SELECT COUNT(*) AS n FROM mysql.global_priv')) !== undefined);
  } finally {
    await pgc.end();
    await myc.end();
  }
});

test('the failed-authentication limit: an attacker on 127.0.0.1 gets 429, a valid key from 127.0.0.1 keeps working', async () => {
  // The daemon's default: 20 failures per 60 s per address. Every local client is 127.0.0.1.
  const statuses: number[] = [];
  for (let i = 0; i < 25; i++) statuses.push((await d.api('/api/v1/streams', { key: `sk_guess_${i}` })).status);
  assert.deepEqual(statuses.slice(0, 20), Array(20).fill(401));
  assert.deepEqual(statuses.slice(20), Array(5).fill(429));
  for (let i = 0; i < 5; i++) {
    assert.equal((await d.api('/api/v1/streams', { key: E2E_ADMIN_KEY })).status, 200, 'the admin key still works');
    assert.equal((await d.api('/api/v1/streams', { key: viewer })).status, 200, 'so does a viewer key');
    const attacker = await d.api('/api/v1/streams', { key: `sk_more_${i}` });
    assert.equal(attacker.status, 429, 'the attacker stays limited');
    assert.equal(attacker.body.error.code, 'AUTH_RATE_LIMITED');
    assert.equal((await fetch(`${d.base}/api/v1/streams`)).status, 429, 'no key at all: limited too');
  }
});
