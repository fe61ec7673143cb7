/**
 * /api/v1/jobs (Relational Migrator's job API) and the run history routes, over the
 * real store and supervisor with in-memory connectors (test-api.ts).
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import type { FastifyInstance } from 'fastify';
import { waitFor } from '../../test/helpers/wait-for';
import { assertEnvelope, startTestApi, type TestApi } from './testing/test-api';

let api: TestApi;
let app: FastifyInstance;
let admin: string;
const H = (key: string) => ({ 'x-api-key': key });

before(async () => {
  api = await startTestApi();
  ({ app, admin } = api);
});

after(async () => {
  await api.close();
});

const SECRET = 'Pa55-w0rd-never-shown';

const job = (projectId: string, over: Record<string, unknown> = {}) => ({
  projectId,
  jdbcConnectionDetails: { type: 'POSTGRESQL', url: `jdbc:postgresql://127.0.0.1:5432/app?user=rm&password=${SECRET}`, savePassword: false },
  mongodbConnectionDetails: { connectionString: `mongodb://sinker:${SECRET}@127.0.0.1:27017/target`, clusterName: 'c0' },
  options: { mode: 'CDC', dropCollections: false, errorHandling: 'FAIL', errorTolerance: 0 },
  verification: { enabled: false },
  relationalTableFilters: { public: { orders: { whereClause: 'total >= 20' } } },
  ...over,
});

const post = (body: unknown, key = admin) => app.inject({ method: 'POST', url: '/api/v1/jobs', headers: H(key), payload: body as object });
const get = (url: string, key = admin) => app.inject({ url, headers: H(key) });

test('POST /jobs creates the connections and the stream from RM\'s request and runs it; GET /jobs/{id} answers in RM\'s shape', async () => {
  // The job's source connection has a deterministic name; made first here so the in-memory source can hold a table.
  const pre = await app.inject({ method: 'POST', url: '/api/v1/connections', headers: H(admin), payload: { name: 'rm-proj-a-source', kind: 'postgresql', url: 'postgresql://x@h/d' } });
  api.mem.source(pre.json().id).setTable('public.orders', [{ id: 1, total: 10 }, { id: 2, total: 20 }, { id: 3, total: 30 }]);

  const r = await post(job('proj-a'));
  assert.equal(r.statusCode, 200, r.body);
  const body = r.json();
  assert.equal(body.projectId, 'proj-a');
  assert.equal(body.status, 'RUNNING');
  assert.deepEqual(body.options, { dropCollections: false, mode: 'CDC', errorHandling: 'FAIL', errorTolerance: 0 });
  assert.equal(body.jdbcConnectionString, 'jdbc:postgresql://127.0.0.1:5432/app?user=rm');
  assert.equal(body.mongoDbConnectionString, 'mongodb://sinker@127.0.0.1:27017/target');
  assert.deepEqual(body.atlasMetadata, { mongoDbClusterName: 'c0' });
  assert.deepEqual(body.metadata, { verificationRequested: false });
  assert.match(body.submittedAt, /^\d{4}-\d\d-\d\dT/);
  const id = body.id as string;

  // The job is a stream: the source connection was reused, the filter applies.
  const stream = (await get(`/api/v1/streams/${id}`)).json();
  assert.equal(stream.spec.source.connectionId, pre.json().id);
  const sinkId = stream.spec.sink.connectionId as string;
  // The in-memory source does not push the whereClause down (the SQL sources do: test/e2e/rm-jobs).
  await waitFor(() => api.mem.sink(sinkId).docs('public.orders').length === 3, { message: 'the snapshot in the sink' });
  await waitFor(async () => (await get(`/api/v1/jobs/${id}`)).json().cdcStatus === 'RUNNING', { message: 'CDC running' });
  api.mem.source(pre.json().id).insert('public.orders', { id: 4, total: 40 });
  await waitFor(async () => (await get(`/api/v1/jobs/${id}`)).json().cdcStatistics?.totalEventsSeen === 1, { message: 'the CDC event counted' });
  const view = (await get(`/api/v1/jobs/${id}`)).json();
  assert.equal(view.statistics.snapshotCompleted, true);
  assert.equal(view.statistics.totalEventsSeen, 3);
  assert.equal(view.cdcStatistics.eventsInLastMinute, 1);
  assert.equal(view.cdcStatistics.eventsInLastHour, 1);
  assert.ok(Date.now() - Date.parse(view.cdcStatistics.lastEventTime) < 60_000, view.cdcStatistics.lastEventTime);
  assert.equal(view.statistics.totalTableCount, 1);
  assert.deepEqual(view.relationalTableFilters, { public: { orders: { whereClause: 'total >= 20' } } });
  assert.ok(view.jobUpdates.length >= 1 && view.jobUpdates.every((u: { eventType: string; timestamp: string }) => ['ERROR', 'WARNING', 'INFO'].includes(u.eventType) && u.timestamp));

  // 470 in RM's shape while it runs; nothing about the running job changes.
  const again = await post(job('proj-a', { options: { mode: 'SNAPSHOT' } }));
  assert.equal(again.statusCode, 470, again.body);
  assert.deepEqual(Object.keys(again.json()).sort(), ['description', 'jobId', 'message', 'timestamp']);
  assert.equal(again.json().jobId, id);
  assert.equal((await get(`/api/v1/jobs/${id}`)).json().options.mode, 'CDC');

  // Passwords (savePassword:false) are in no answer, yet the job ran with them in memory.
  for (const url of [`/api/v1/jobs/${id}`, `/api/v1/streams/${id}`, '/api/v1/connections', `/api/v1/streams/${id}/logs`, `/api/v1/streams/${id}/runs`]) {
    assert.ok(!(await get(url)).body.includes(SECRET), `${url} shows a password`);
  }
  assert.ok(!r.body.includes(SECRET));
  const conns = (await get('/api/v1/connections?name=rm-proj-a-mongodb')).json();
  assert.equal(conns.items[0].hasPassword, false, 'savePassword defaults to false, as in RM: not stored');
  assert.equal((await api.store.connections.resolve(sinkId))?.url, `mongodb://sinker:${SECRET}@127.0.0.1:27017/target`, 'held in memory for the run');

  // Stopped, the same project's POST runs the job again: same id, a new run, the new options.
  await app.inject({ method: 'POST', url: `/api/v1/streams/${id}/stop`, headers: H(admin) });
  const rerun = await post(job('proj-a', { options: { mode: 'CDC', errorHandling: 'WARN', errorTolerance: 3 } }));
  assert.equal(rerun.statusCode, 200, rerun.body);
  assert.equal(rerun.json().id, id);
  assert.equal(rerun.json().options.errorHandling, 'WARN');
  assert.ok(rerun.json().submittedAt >= body.submittedAt);
  assert.equal((await get(`/api/v1/streams/${id}/runs`)).json().total, 2);
  await app.inject({ method: 'POST', url: `/api/v1/streams/${id}/stop`, headers: H(admin) });
});

test('440 in RM\'s shape when the MongoDB connection string names no database; nothing is created', async () => {
  const before = (await get('/api/v1/connections')).json().total;
  const r = await post(job('proj-nodb', { mongodbConnectionDetails: { connectionString: 'mongodb://127.0.0.1:27017/' } }));
  assert.equal(r.statusCode, 440, r.body);
  const b = r.json();
  assert.deepEqual(Object.keys(b).sort(), ['description', 'message', 'timestamp']);
  assert.match(b.message, /database/);
  assert.ok(!Number.isNaN(Date.parse(b.timestamp)));
  assert.equal((await get('/api/v1/connections')).json().total, before);
});

test('unsupported source types get a 400 naming the supported ones; a bad JDBC URL a 400 naming the field', async () => {
  for (const type of ['ORACLE', 'SQL_SERVER', 'DB2']) {
    const r = await post(job('proj-ora', { jdbcConnectionDetails: { type, url: 'jdbc:oracle:thin:@h:1521:X' } }));
    assert.equal(r.statusCode, 400, r.body);
    const e = assertEnvelope(r.body, 'CONNECTOR_UNKNOWN');
    assert.match(e.message as string, /POSTGRESQL, MYSQL, MARIADB/);
    assert.equal((e.detail as { field: string }).field, 'jdbcConnectionDetails.type');
  }
  const bad = await post(job('proj-bad', { jdbcConnectionDetails: { type: 'MYSQL', url: 'jdbc:mysql:no-host' } }));
  assert.equal((assertEnvelope(bad.body, 'CONNECTION_URL_INVALID').detail as { field: string }).field, 'jdbcConnectionDetails.url');
  const unknown = await post({ ...job('proj-x'), options: { mode: 'CDC', parallel: 2 } });
  assert.equal((assertEnvelope(unknown.body, 'VALIDATION_FAILED').detail as { field: string }).field, 'options.parallel');
  const mode = await post({ ...job('proj-x'), options: { mode: 'FULL' } });
  assert.equal((assertEnvelope(mode.body, 'VALIDATION_FAILED').detail as { field: string }).field, 'options.mode');
  const clause = await post(job('proj-x', { relationalTableFilters: { public: { orders: { whereClause: 'total >= ; DROP' } } } }));
  assert.equal(clause.statusCode, 400);
  assertEnvelope(clause.body, 'FILTER_CLAUSE_INVALID');
});

test('roles: a viewer reads a job, only an admin posts one; an unknown job is 404 JOB_NOT_FOUND', async () => {
  const viewer = (await api.store.apiKeys.create('v-jobs', 'viewer')).key;
  const operator = (await api.store.apiKeys.create('o-jobs', 'operator')).key;
  assert.equal((await post(job('proj-role'), viewer)).statusCode, 403);
  assert.equal((await post(job('proj-role'), operator)).statusCode, 403);
  const missing = await get('/api/v1/jobs/no-such-job', viewer);
  assert.equal(missing.statusCode, 404);
  assertEnvelope(missing.body, 'JOB_NOT_FOUND');
});

test('runs and logs: filters, sort, limit and offset; clearing finished runs needs X-Confirm-Delete', async () => {
  const src = (await app.inject({ method: 'POST', url: '/api/v1/connections', headers: H(admin), payload: { name: 'hist-src', kind: 'postgresql', url: 'postgresql://u@h/d' } })).json();
  const dst = (await app.inject({ method: 'POST', url: '/api/v1/connections', headers: H(admin), payload: { name: 'hist-dst', kind: 'mongodb', url: 'mongodb://h/d' } })).json();
  const s = (await app.inject({ method: 'POST', url: '/api/v1/streams', headers: H(admin), payload: { name: 'hist', source: { connectionId: src.id }, sink: { connectionId: dst.id }, tables: ['public.t'] } })).json();
  const runs = api.store.runs;
  const r1 = await runs.start(s.id);
  await runs.addUpdate(s.id, r1, { level: 'INFO', stage: 'SNAPSHOT', message: 'a' });
  await runs.addUpdate(s.id, r1, { level: 'ERROR', stage: 'SNAPSHOT', message: 'b', errorCode: 'SOURCE_UNREACHABLE' });
  await runs.finish(r1, { status: 'FAILED', counters: { snapshotRows: 7 }, failureError: JSON.stringify({ code: 'SOURCE_UNREACHABLE', message: 'down' }) });
  const r2 = await runs.start(s.id);
  await runs.addUpdate(s.id, r2, { level: 'INFO', stage: 'CDC', message: 'c' });
  await runs.addUpdate(s.id, r2, { level: 'WARNING', stage: 'CDC', message: 'd' });
  await runs.finish(r2, { status: 'COMPLETED', counters: { snapshotRows: 9, cdcEvents: 2 } });
  const r3 = await runs.start(s.id); // still open
  await runs.addUpdate(s.id, r3, { level: 'INFO', stage: 'CDC', message: 'e' });

  const list = (q: string) => get(`/api/v1/streams/${s.id}/${q}`).then((r) => (assert.equal(r.statusCode, 200, r.body), r.json()));
  const all = await list('runs?sort=startedAt');
  assert.equal(all.total, 3);
  assert.deepEqual(all.items.map((r: { id: string }) => r.id), [r1, r2, r3]);
  assert.deepEqual(all.items[0].failureError, { code: 'SOURCE_UNREACHABLE', message: 'down' }, 'failureError as an object');
  assert.equal(all.items[0].counters.snapshotRows, 7);
  assert.ok(all.items[0].startedAt && all.items[0].endedAt);
  assert.equal(all.items[2].endedAt, null);
  const failed = await list('runs?status=FAILED');
  assert.deepEqual(failed.items.map((r: { id: string }) => r.id), [r1]);
  const page = await list('runs?sort=startedAt&limit=1&offset=1');
  assert.deepEqual([page.total, page.limit, page.offset, page.items[0].id], [3, 1, 1, r2]);
  assertEnvelope((await get(`/api/v1/streams/${s.id}/runs?sort=bogus`)).body, 'VALIDATION_FAILED');

  const cdcInfo = await list('logs?level=INFO&stage=CDC');
  assert.deepEqual(cdcInfo.items.map((u: { message: string }) => u.message), ['c', 'e']);
  const snapErr = await list('logs?level=ERROR&stage=SNAPSHOT');
  assert.deepEqual(snapErr.items.map((u: { message: string; errorCode: string }) => [u.message, u.errorCode]), [['b', 'SOURCE_UNREACHABLE']]);
  const newest = await list('logs?sort=-id&limit=2&offset=1');
  assert.deepEqual([newest.total, newest.items.map((u: { message: string }) => u.message)], [5, ['d', 'c']]);
  assert.deepEqual((await list(`logs?runId=${r2}`)).items.map((u: { message: string }) => u.message), ['c', 'd']);

  const url = `/api/v1/streams/${s.id}/runs`;
  const unconfirmed = await app.inject({ method: 'DELETE', url, headers: H(admin) });
  assert.equal(unconfirmed.statusCode, 428);
  assertEnvelope(unconfirmed.body, 'CONFIRMATION_REQUIRED');
  assert.equal((await app.inject({ method: 'DELETE', url, headers: { ...H(admin), 'x-confirm-delete': 'yes' } })).statusCode, 428);
  assert.equal((await list('runs')).total, 3, 'nothing deleted without confirmation');
  const viewer = (await api.store.apiKeys.create('v-hist', 'viewer')).key;
  assert.equal((await app.inject({ method: 'DELETE', url, headers: { ...H(viewer), 'x-confirm-delete': 'true' } })).statusCode, 403);
  const done = await app.inject({ method: 'DELETE', url, headers: { ...H(admin), 'x-confirm-delete': 'true' } });
  assert.equal(done.statusCode, 200, done.body);
  assert.deepEqual(done.json(), { runs: 2, jobUpdates: 4 });
  assert.deepEqual((await list('runs')).items.map((r: { id: string }) => r.id), [r3], 'the open run stays');
  assert.deepEqual((await list('logs')).items.map((u: { message: string }) => u.message), ['e']);
  assertEnvelope((await app.inject({ method: 'DELETE', url: '/api/v1/streams/no-such/runs', headers: { ...H(admin), 'x-confirm-delete': 'true' } })).body, 'STREAM_NOT_FOUND');
});

test('/openapi.json documents /jobs with RM\'s 200 shape and its 440 and 470 error bodies', async () => {
  type Resp = { description?: string; content?: Record<string, { schema?: { properties?: Record<string, unknown>; required?: string[] } }> };
  const doc = (await app.inject('/openapi.json')).json() as { paths: Record<string, Record<string, { responses: Record<string, Resp> }>> };
  const postJobs = doc.paths['/api/v1/jobs']?.post;
  assert.ok(postJobs && doc.paths['/api/v1/jobs/{id}']?.get, 'both /jobs routes documented');
  for (const status of ['440', '470']) {
    const schema = postJobs.responses[status]?.content?.['application/json']?.schema;
    assert.deepEqual(Object.keys(schema?.properties ?? {}).sort(), ['description', 'jobId', 'message', 'timestamp'], status);
    assert.deepEqual(schema?.required, ['message', 'timestamp']);
  }
  const ok = postJobs.responses['200']?.content?.['application/json']?.schema;
  for (const field of ['id', 'projectId', 'status', 'cdcStatus', 'options', 'statistics', 'cdcStatistics', 'jobUpdates', 'failureError', 'metadata', 'relationalTableFilters', 'submittedAt']) {
    assert.ok(ok?.properties?.[field], `200 documents ${field}`);
  }
  assert.ok(doc.paths['/api/v1/streams/{id}/runs']?.delete?.responses['428'], 'the confirmed delete documents its 428');
});
