// The audit trail through the API: what is recorded (and what is not), the log line of
// each entry, GET /api/v1/audit with the list conventions, and pruning by age.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import pino from 'pino';
import { assertEnvelope, startTestApi, type TestApi } from './testing/test-api';
import type { AuditEntry } from '../store/audit';
import { buildApi } from './server';
import { loadConfig } from '../config';
import { createMetrics } from '../metrics';

let api: TestApi;
let lines: string[] = [];
const H = (key: string) => ({ 'x-api-key': key });

before(async () => {
  const sink = new Writable({
    write(chunk: Buffer, _enc, done) {
      lines.push(...chunk.toString().split('\n').filter(Boolean));
      done();
    },
  });
  api = await startTestApi({}, { logger: pino({ level: 'info' }, sink) });
});

after(async () => {
  await api.close();
});

const audit = async (query = ''): Promise<{ items: AuditEntry[]; total: number; limit: number; offset: number }> => {
  const r = await api.app.inject({ url: `/api/v1/audit${query}`, headers: H(api.admin) });
  assert.equal(r.statusCode, 200, r.body);
  return r.json();
};
const newest = async (): Promise<AuditEntry> => (await audit('?limit=1')).items[0] as AuditEntry;

test('every mutating call leaves one entry: who, from where, what, on which target, the outcome; reads leave none', async () => {
  const operatorKey = await api.store.apiKeys.create('op', 'operator');
  const before = (await audit()).total;
  // A create: the target is the id it answered with. The password is nowhere in the entry or the log.
  const created = await api.app.inject({
    method: 'POST',
    url: '/api/v1/connections',
    headers: H(api.admin),
    remoteAddress: '10.9.8.7',
    payload: { name: 'audited', kind: 'postgresql', url: 'postgresql://u:audit-secret-pw@h:5432/app' },
  });
  assert.equal(created.statusCode, 201);
  const id = created.json().id as string;
  const e = await newest();
  const adminId = (await api.store.apiKeys.list({ filters: { name: 'admin' } })).items[0]?.id;
  assert.deepEqual(
    { keyId: e.keyId, keyRole: e.keyRole, client: e.client, method: e.method, route: e.route, targetId: e.targetId, status: e.status, errorCode: e.errorCode },
    { keyId: adminId, keyRole: 'admin', client: '10.9.8.7', method: 'POST', route: '/api/v1/connections', targetId: id, status: 201, errorCode: null },
  );
  assert.ok(Date.now() - Date.parse(e.ts) < 10_000, e.ts);
  // Reads and read-only POSTs are not recorded.
  await api.app.inject({ url: `/api/v1/connections/${id}`, headers: H(api.admin) });
  await api.app.inject({ url: '/api/v1/connections', headers: H(api.admin) });
  await api.app.inject({ method: 'POST', url: `/api/v1/connections/${id}/test`, headers: H(api.admin), payload: {} });
  assert.equal((await audit()).total, before + 1);
  // A refusal by role is recorded with the key that tried; a missing key with none; a bad body with its code.
  const forbidden = await api.app.inject({ method: 'DELETE', url: `/api/v1/connections/${id}`, headers: H(operatorKey.key) });
  assert.equal(forbidden.statusCode, 403);
  assert.deepEqual(pick(await newest()), { keyId: operatorKey.record.id, keyRole: 'operator', method: 'DELETE', route: '/api/v1/connections/:id', targetId: id, status: 403, errorCode: 'FORBIDDEN_ROLE' });
  await api.app.inject({ method: 'DELETE', url: `/api/v1/connections/${id}`, remoteAddress: '10.9.8.6' });
  assert.deepEqual(pick(await newest()), { keyId: null, keyRole: null, method: 'DELETE', route: '/api/v1/connections/:id', targetId: id, status: 401, errorCode: 'AUTH_REQUIRED' });
  await api.app.inject({ method: 'PATCH', url: `/api/v1/connections/${id}`, headers: H(api.admin), payload: { name: 7 } });
  assert.deepEqual(pick(await newest()), { keyId: adminId, keyRole: 'admin', method: 'PATCH', route: '/api/v1/connections/:id', targetId: id, status: 400, errorCode: 'VALIDATION_FAILED' });
  const deleted = await api.app.inject({ method: 'DELETE', url: `/api/v1/connections/${id}`, headers: H(api.admin) });
  assert.equal(deleted.statusCode, 204);
  assert.deepEqual(pick(await newest()), { keyId: adminId, keyRole: 'admin', method: 'DELETE', route: '/api/v1/connections/:id', targetId: id, status: 204, errorCode: null });
  assert.equal((await audit()).total, before + 5);

  // Each entry is also an info log line with audit: true, and neither holds the password.
  const logged = lines.map((l) => JSON.parse(l) as Record<string, unknown>).filter((l) => l.audit === true);
  assert.ok(logged.length >= 5, `${logged.length} audit log lines`);
  const createdLine = logged.find((l) => l.targetId === id && l.method === 'POST');
  assert.ok(createdLine, 'the create is logged');
  assert.equal(createdLine.level, 30, 'at info level');
  assert.equal(createdLine.route, '/api/v1/connections');
  assert.equal(createdLine.status, 201);
  assert.equal(createdLine.client, '10.9.8.7');
  assert.ok(!lines.join('\n').includes('audit-secret-pw'), 'no password in the log');
  const rows = JSON.stringify(api.store.db.prepare('SELECT * FROM audit_log').all());
  assert.ok(!rows.includes('audit-secret-pw'), 'no password in the audit table');
});

const pick = (e: AuditEntry) => ({ keyId: e.keyId, keyRole: e.keyRole, method: e.method, route: e.route, targetId: e.targetId, status: e.status, errorCode: e.errorCode });

test('a created API key is audited by its id; the key itself reaches neither the table nor the log', async () => {
  const r = await api.app.inject({ method: 'POST', url: '/api/v1/api-keys', headers: H(api.admin), payload: { name: 'audited-key', role: 'viewer' } });
  assert.equal(r.statusCode, 201);
  const { id, key } = r.json() as { id: string; key: string };
  assert.equal((await newest()).targetId, id);
  assert.ok(!JSON.stringify(api.store.db.prepare('SELECT * FROM audit_log').all()).includes(key));
  assert.ok(!lines.join('\n').includes(key));
});

test('GET /api/v1/audit: admin only, newest first, limit/offset/sort, filters and a time window', async () => {
  const viewer = (await api.store.apiKeys.create('audit-viewer', 'viewer')).key;
  const op = (await api.store.apiKeys.create('audit-op', 'operator')).key;
  for (const k of [viewer, op]) {
    const r = await api.app.inject({ url: '/api/v1/audit', headers: H(k) });
    assert.equal(r.statusCode, 403);
    assertEnvelope(r.body, 'FORBIDDEN_ROLE');
  }
  const t0 = new Date(Date.now() - 1).toISOString();
  const ids: string[] = [];
  for (let i = 0; i < 3; i++) {
    const r = await api.app.inject({ method: 'POST', url: '/api/v1/mappings', headers: H(api.admin), payload: { name: `audit-m${i}`, tables: {} } });
    assert.equal(r.statusCode, 201, r.body);
    ids.push(r.json().id);
  }
  const page = await audit(`?since=${encodeURIComponent(t0)}&route=${encodeURIComponent('/api/v1/mappings')}`);
  assert.equal(page.total, 3);
  assert.deepEqual(page.items.map((e) => e.targetId), [...ids].reverse(), 'newest first');
  assert.deepEqual((await audit(`?since=${encodeURIComponent(t0)}&route=${encodeURIComponent('/api/v1/mappings')}&sort=id`)).items.map((e) => e.targetId), ids);
  const second = await audit(`?since=${encodeURIComponent(t0)}&route=${encodeURIComponent('/api/v1/mappings')}&sort=id&limit=1&offset=1`);
  assert.deepEqual([second.items.map((e) => e.targetId), second.total, second.limit, second.offset], [[ids[1]], 3, 1, 1]);
  assert.equal((await audit(`?targetId=${ids[2]}`)).items.length, 1);
  assert.equal((await audit(`?until=${encodeURIComponent(t0)}&targetId=${ids[2]}`)).total, 0);
  const byStatus = await audit('?status=403&errorCode=FORBIDDEN_ROLE&method=DELETE');
  assert.ok(byStatus.total >= 1 && byStatus.items.every((e) => e.status === 403 && e.method === 'DELETE'));
  for (const bad of ['?since=yesterday', '?until=2026-13-45T00:00:00Z', '?status=abc', '?sort=key', '?method=GET', '?limit=0']) {
    const r = await api.app.inject({ url: `/api/v1/audit${bad}`, headers: H(api.admin) });
    assert.equal(r.statusCode, 400, `${bad}: ${r.body}`);
    assertEnvelope(r.body, 'VALIDATION_FAILED');
  }
});

test('retention: entries older than audit.retentionDays are pruned, younger ones kept; 0 keeps all', async () => {
  const repo = api.store.audit;
  const now = Date.parse('2030-06-01T00:00:00Z');
  const at = (daysAgo: number) => new Date(now - daysAgo * 86_400_000).toISOString();
  const base = { keyId: null, keyRole: null, client: '1.2.3.4', method: 'POST', route: '/api/v1/retention', targetId: null, status: 200, errorCode: null, requestId: null };
  await repo.add({ ...base, ts: at(100), targetId: 'old' });
  await repo.add({ ...base, ts: at(89), targetId: 'young' });
  const count = async () => (await repo.list({ filters: { route: '/api/v1/retention' } })).total;
  assert.equal((await count()), 2);
  assert.equal((await repo.prune(0, now)), 0, '0 keeps everything');
  assert.ok((await repo.prune(90, now) >= 1));
  assert.deepEqual((await repo.list({ filters: { route: '/api/v1/retention' } })).items.map((e) => e.targetId), ['young']);
});

test('the retention default is documented and pruning runs when the API starts', async () => {
  const fresh = await startTestApi({ SLUICE_AUDIT_RETENTION_DAYS: '1' });
  try {
    const base = { keyId: null, keyRole: null, client: '1.2.3.4', method: 'POST', route: '/api/v1/x', targetId: null, status: 200, errorCode: null, requestId: null };
    await fresh.store.audit.add({ ...base, ts: new Date(Date.now() - 3 * 86_400_000).toISOString() });
    // A second API over the same store prunes on ready.
    const { config } = loadConfig({ env: { SLUICE_AUDIT_RETENTION_DAYS: '1' } });
    const app = await buildApi({ config, logger: pino({ level: 'silent' }), store: fresh.store, supervisor: fresh.supervisor, connectors: fresh.registry, metrics: createMetrics().registry, isShuttingDown: () => false });
    await app.ready();
    assert.equal((await fresh.store.audit.list({ filters: { route: '/api/v1/x' } })).total, 0);
    await app.close();
  } finally {
    await fresh.close();
  }
  assert.equal(loadConfig({ env: {} }).config.audit.retentionDays, 90);
});
