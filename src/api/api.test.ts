import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import type { FastifyInstance } from 'fastify';
import type { Store } from '../store';
import type { MemoryConnectors } from '../runtime/testing/memory-connectors';
import { waitFor } from '../../test/helpers/wait-for';
import { assertEnvelope, startTestApi, type TestApi } from './testing/test-api';

let api: TestApi;
let app: FastifyInstance;
let store: Store;
let mem: MemoryConnectors;
let admin: string;
const H = (key: string) => ({ 'x-api-key': key });

before(async () => {
  api = await startTestApi({ SLUICE_API_AUTH_FAILURES_MAX: '5' });
  ({ app, store, mem, admin } = api);
});

after(async () => {
  await api.close();
});

test('health, readiness and metrics need no key', async () => {
  assert.equal((await app.inject('/healthz')).statusCode, 200);
  const ready = await app.inject('/readyz');
  assert.equal(ready.statusCode, 200);
  assert.equal(ready.json().status, 'ready');
  const metrics = await app.inject('/metrics');
  assert.equal(metrics.statusCode, 200);
  assert.match(metrics.body, /^sluice_build_info\{version="\d+\.\d+\.\d+",node_version="v\d+/m);
  assert.match(metrics.body, /process_cpu_user_seconds_total/);
});

test('the OpenAPI document covers every route, with error responses, and /docs serves it', async () => {
  const doc = (await app.inject('/openapi.json')).json() as { openapi: string; paths: Record<string, Record<string, { responses: Record<string, unknown> }>> };
  assert.match(doc.openapi, /^3\./);
  for (const p of ['/healthz', '/readyz', '/metrics', '/api/v1/', '/api/v1/api-keys', '/api/v1/connections', '/api/v1/connections/{id}', '/api/v1/streams', '/api/v1/streams/{id}', '/api/v1/streams/{id}/start', '/api/v1/streams/{id}/pause', '/api/v1/streams/{id}/resume', '/api/v1/streams/{id}/stop', '/api/v1/streams/{id}/stats', '/api/v1/streams/{id}/runs', '/api/v1/streams/{id}/logs', '/api/v1/streams/{id}/dead-letters']) {
    assert.ok(doc.paths[p], `missing ${p}`);
  }
  for (const [p, ops] of Object.entries(doc.paths)) {
    if (!p.startsWith('/api/v1')) continue;
    for (const [method, op] of Object.entries(ops)) assert.ok(op.responses['401'] && op.responses['400'], `${method} ${p} documents no 400/401`);
  }
  const docs = await app.inject('/docs/');
  assert.equal(docs.statusCode, 200);
  assert.match(docs.body, /swagger/i);
});

test('/api/v1 without a key is 401 in the envelope; with the admin key 200', async () => {
  const anon = await app.inject('/api/v1/');
  assert.equal(anon.statusCode, 401);
  assertEnvelope(anon.body, 'AUTH_REQUIRED');
  const ok = await app.inject({ url: '/api/v1/', headers: H(admin) });
  assert.equal(ok.statusCode, 200);
  assert.equal(ok.json().key.role, 'admin');
  const bearer = await app.inject({ url: '/api/v1/', headers: { authorization: `Bearer ${admin}` } });
  assert.equal(bearer.statusCode, 200);
});

test('roles: a viewer reads, cannot write; only admins manage keys', async () => {
  const viewer = (await store.apiKeys.create('v', 'viewer')).key;
  const operator = (await store.apiKeys.create('o', 'operator')).key;
  assert.equal((await app.inject({ url: '/api/v1/connections', headers: H(viewer) })).statusCode, 200);
  const write = await app.inject({ method: 'POST', url: '/api/v1/connections', headers: H(viewer), payload: { name: 'x', kind: 'mysql', url: 'mysql://h/db' } });
  assert.equal(write.statusCode, 403);
  assertEnvelope(write.body, 'FORBIDDEN_ROLE');
  assert.equal((await app.inject({ url: '/api/v1/api-keys', headers: H(operator) })).statusCode, 403);
  const created = await app.inject({ method: 'POST', url: '/api/v1/api-keys', headers: H(admin), payload: { name: 'new', role: 'viewer' } });
  assert.equal(created.statusCode, 201);
  const key = created.json().key as string;
  assert.equal((await app.inject({ url: '/api/v1/', headers: H(key) })).statusCode, 200);
  const listed = await app.inject({ url: '/api/v1/api-keys', headers: H(admin) });
  assert.ok(!listed.body.includes(key), 'a key is never listed');
  assert.equal((await app.inject({ method: 'DELETE', url: `/api/v1/api-keys/${created.json().id}`, headers: H(admin) })).statusCode, 204);
  assertEnvelope((await app.inject({ url: '/api/v1/', headers: H(key) })).body, 'AUTH_INVALID_KEY');
});

test('bad bodies get 400 naming the field, never 500', async () => {
  const cases: Array<[unknown, string]> = [
    [{ name: 'x', kind: 'oracle', url: 'u' }, 'kind'],
    [{ name: 'x', kind: 'mysql' }, 'url'],
    [{ name: 'x', kind: 'mysql', url: 'mysql://h/db', colour: 'red' }, 'colour'],
    [{ name: 7, kind: 'mysql', url: 'mysql://h/db' }, 'name'],
  ];
  for (const [payload, field] of cases) {
    const r = await app.inject({ method: 'POST', url: '/api/v1/connections', headers: H(admin), payload: payload as object });
    assert.equal(r.statusCode, 400, r.body);
    const e = assertEnvelope(r.body, 'VALIDATION_FAILED');
    assert.equal((e.detail as { field: string }).field, field);
    assert.match(e.message as string, new RegExp(field));
  }
  const notJson = await app.inject({ method: 'POST', url: '/api/v1/connections', headers: { ...H(admin), 'content-type': 'application/json' }, payload: '{nope' });
  assert.equal(notJson.statusCode, 400);
  assertEnvelope(notJson.body, 'BODY_NOT_JSON');
  const nested = await app.inject({
    method: 'POST',
    url: '/api/v1/streams',
    headers: H(admin),
    payload: { name: 's', source: { connectionId: 'a' }, sink: { connectionId: 'b' }, options: { errorHandling: 'IGNORE' } },
  });
  assert.equal(nested.statusCode, 400);
  assert.equal((assertEnvelope(nested.body, 'VALIDATION_FAILED').detail as { field: string }).field, 'options.errorHandling');
  const badId = await app.inject({ url: '/api/v1/streams/not_an$id', headers: H(admin) });
  assert.equal(badId.statusCode, 400);
  const unknown = await app.inject({ url: '/api/v1/nothing-here', headers: H(admin) });
  assert.equal(unknown.statusCode, 404);
  assertEnvelope(unknown.body, 'ROUTE_NOT_FOUND');
});

test('a stream runs through the API: create, start, pause, resume, stop, with runs and logs', async () => {
  const src = (await app.inject({ method: 'POST', url: '/api/v1/connections', headers: H(admin), payload: { name: 'pg', kind: 'postgresql', url: 'postgresql://u:pw@h:5432/app' } })).json();
  assert.equal(src.hasPassword, true);
  assert.ok(!JSON.stringify(src).includes('pw@'));
  const dst = (await app.inject({ method: 'POST', url: '/api/v1/connections', headers: H(admin), payload: { name: 'mongo', kind: 'mongodb', url: 'mongodb://h/app' } })).json();
  mem.source(src.id).setTable('public.orders', [{ id: 1, total: 10 }, { id: 2, total: 20 }, { id: 3, total: 30 }]);

  const tested = await app.inject({ method: 'POST', url: `/api/v1/connections/${src.id}/test`, headers: H(admin) });
  assert.equal(tested.statusCode, 200, tested.body);
  assert.equal(tested.json().ok, false, 'the in-memory stand-in has no test: reported, not thrown');
  assert.equal(tested.json().checks[0].name, 'connector');
  const badTestBody = await app.inject({ method: 'POST', url: `/api/v1/connections/${src.id}/test`, headers: H(admin), payload: { passwd: 'x' } });
  assert.equal((assertEnvelope(badTestBody.body, 'VALIDATION_FAILED').detail as { field: string }).field, 'passwd');

  const missingRef = await app.inject({ method: 'POST', url: '/api/v1/streams', headers: H(admin), payload: { name: 'x', source: { connectionId: 'nope' }, sink: { connectionId: dst.id } } });
  assert.equal((assertEnvelope(missingRef.body, 'VALIDATION_FAILED').detail as { field: string }).field, 'source.connectionId');

  const created = await app.inject({
    method: 'POST',
    url: '/api/v1/streams',
    headers: H(admin),
    payload: { name: 'orders', source: { connectionId: src.id }, sink: { connectionId: dst.id }, transport: { kind: 'direct' }, mode: 'CDC', tables: ['public.orders'] },
  });
  assert.equal(created.statusCode, 201, created.body);
  const id = created.json().id as string;
  assert.equal(created.json().cdcStatus, 'NOT_STARTED');
  assertEnvelope((await app.inject({ method: 'POST', url: '/api/v1/streams', headers: H(admin), payload: { name: 'orders', source: { connectionId: src.id }, sink: { connectionId: dst.id } } })).body, 'STREAM_NAME_TAKEN');

  assert.equal((await app.inject({ method: 'POST', url: `/api/v1/streams/${id}/start`, headers: H(admin) })).statusCode, 202);
  await waitFor(() => mem.sink(dst.id).docs('public.orders').length === 3, { message: 'snapshot rows in the sink' });
  await waitFor(async () => (await app.inject({ url: `/api/v1/streams/${id}`, headers: H(admin) })).json().cdcStatus === 'RUNNING');
  const again = await app.inject({ method: 'POST', url: `/api/v1/streams/${id}/start`, headers: H(admin) });
  assert.equal(again.statusCode, 409);
  assertEnvelope(again.body, 'STREAM_ALREADY_RUNNING');
  const busy = await app.inject({ method: 'DELETE', url: `/api/v1/streams/${id}`, headers: H(admin) });
  assertEnvelope(busy.body, 'STREAM_RUNNING_CANNOT_CHANGE');

  assert.equal((await app.inject({ method: 'POST', url: `/api/v1/streams/${id}/pause`, headers: H(admin) })).json().cdcStatus, 'PAUSED');
  mem.source(src.id).insert('public.orders', { id: 4, total: 40 });
  assert.equal((await app.inject({ method: 'POST', url: `/api/v1/streams/${id}/resume`, headers: H(admin) })).statusCode, 202);
  await waitFor(() => mem.sink(dst.id).docs('public.orders').length === 4, { message: 'the change made while paused arrives after resume' });

  const stats = (await app.inject({ url: `/api/v1/streams/${id}/stats`, headers: H(admin) })).json();
  assert.ok(stats.statistics.eventsWritten >= 4, JSON.stringify(stats));
  // How far behind: Relational Migrator's cdcStatistics and the lag, in /stats and in the stream.
  assert.ok(stats.cdcStatistics.totalEventsSeen >= 1 && stats.cdcStatistics.eventsInLastMinute >= 1 && stats.cdcStatistics.eventsInLastHour >= stats.cdcStatistics.eventsInLastMinute, JSON.stringify(stats));
  assert.ok(Date.now() - Date.parse(stats.cdcStatistics.lastEventTime) < 60000, JSON.stringify(stats));
  assert.equal(typeof stats.lag.sourceSeconds, 'number', JSON.stringify(stats));
  assert.deepEqual(Object.keys((await app.inject({ url: `/api/v1/streams/${id}`, headers: H(admin) })).json().cdcStatistics).sort(), ['eventsInLastHour', 'eventsInLastMinute', 'lastEventTime', 'totalEventsSeen']);
  assert.equal((await app.inject({ method: 'POST', url: `/api/v1/streams/${id}/stop`, headers: H(admin) })).json().status, 'CANCELLED');
  const runs = (await app.inject({ url: `/api/v1/streams/${id}/runs`, headers: H(admin) })).json();
  assert.ok(runs.total >= 1);
  assert.ok(runs.items[0].endedAt);
  const logs = (await app.inject({ url: `/api/v1/streams/${id}/logs?level=INFO&limit=5`, headers: H(admin) })).json();
  assert.ok(logs.items.every((u: { level: string }) => u.level === 'INFO'));

  const inUse = await app.inject({ method: 'DELETE', url: `/api/v1/connections/${src.id}`, headers: H(admin) });
  assertEnvelope(inUse.body, 'CONNECTION_IN_USE');
  assert.equal((await app.inject({ method: 'DELETE', url: `/api/v1/streams/${id}`, headers: H(admin) })).statusCode, 204);
  assert.equal((await app.inject({ method: 'DELETE', url: `/api/v1/connections/${src.id}`, headers: H(admin) })).statusCode, 204);
  assertEnvelope((await app.inject({ url: `/api/v1/streams/${id}`, headers: H(admin) })).body, 'STREAM_NOT_FOUND');
});

test('failed authentication is rate-limited per address; a valid key from that address still gets in', async () => {
  const attempts = [];
  for (let i = 0; i < 8; i++) attempts.push((await app.inject({ url: '/api/v1/', headers: H('sk_wrong'), remoteAddress: '10.9.9.9' })).statusCode);
  assert.deepEqual(attempts.slice(0, 5), [401, 401, 401, 401, 401]);
  assert.equal(attempts[7], 429);
  assertEnvelope((await app.inject({ url: '/api/v1/', headers: H('sk_wrong'), remoteAddress: '10.9.9.9' })).body, 'AUTH_RATE_LIMITED');
  assertEnvelope((await app.inject({ url: '/api/v1/', remoteAddress: '10.9.9.9' })).body, 'AUTH_RATE_LIMITED');
  assert.equal((await app.inject({ url: '/api/v1/', headers: H(admin), remoteAddress: '10.9.9.9' })).statusCode, 200, 'the blocked address, a valid key');
  assert.equal((await app.inject({ url: '/api/v1/', headers: H(admin), remoteAddress: '10.9.9.10' })).statusCode, 200);
});

test('an offset past what the store can count is a 400 naming offset, not a 500', async () => {
  for (const list of ['connections', 'streams', 'api-keys']) {
    const res = await app.inject({ url: `/api/v1/${list}?offset=9223372036854775296`, headers: H(admin) });
    assert.equal(res.statusCode, 400, list);
    const err = assertEnvelope(res.body, 'VALIDATION_FAILED');
    assert.match(String(err.message), /offset/);
  }
});

test('browse and verify on connectors that cannot: a 400 naming the supported kinds, never a 500; a failed verification is ABORTED in the stream metadata', async () => {
  const src = (await app.inject({ method: 'POST', url: '/api/v1/connections', headers: H(admin), payload: { name: 'pg-v', kind: 'postgresql', url: 'postgresql://u:pw@h:5432/app' } })).json();
  const dst = (await app.inject({ method: 'POST', url: '/api/v1/connections', headers: H(admin), payload: { name: 'mongo-v', kind: 'mongodb', url: 'mongodb://h/app' } })).json();
  for (const url of [`/api/v1/connections/${src.id}/tables/public.t/columns`, `/api/v1/connections/${src.id}/tables/t/rows`, `/api/v1/connections/${dst.id}/tables`]) {
    const r = await app.inject({ url, headers: H(admin) });
    assert.equal(r.statusCode, 400, `${url}: ${r.body}`);
    assertEnvelope(r.body, 'CONNECTOR_ROLE_UNSUPPORTED');
  }
  const s = (await app.inject({
    method: 'POST',
    url: '/api/v1/streams',
    headers: H(admin),
    payload: { name: 'verify-me', source: { connectionId: src.id }, sink: { connectionId: dst.id }, transport: { kind: 'direct' }, mode: 'CDC', tables: ['public.orders'] },
  })).json();
  assert.deepEqual((await app.inject({ url: `/api/v1/streams/${s.id}`, headers: H(admin) })).json().metadata, { verificationRequested: false });
  const v = await app.inject({ method: 'POST', url: `/api/v1/streams/${s.id}/verify`, headers: H(admin), payload: { maxDifferences: 5 } });
  assert.equal(v.statusCode, 400, v.body);
  assertEnvelope(v.body, 'CONNECTOR_ROLE_UNSUPPORTED');
  const meta = (await app.inject({ url: `/api/v1/streams/${s.id}`, headers: H(admin) })).json().metadata;
  assert.deepEqual([meta.verificationRequested, meta.verificationStatus], [true, 'ABORTED']);
  const big = await app.inject({ method: 'POST', url: `/api/v1/streams/${s.id}/verify`, headers: H(admin), payload: { chunkSize: 5000 } });
  assert.equal((assertEnvelope(big.body, 'VALIDATION_FAILED').detail as { field: string }).field, 'chunkSize');
});
