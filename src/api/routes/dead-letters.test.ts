import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { waitFor } from '../../../test/helpers/wait-for';
import { assertEnvelope, startTestApi, type TestApi } from '../testing/test-api';

let api: TestApi;
const H = (key: string) => ({ 'x-api-key': key });

before(async () => {
  api = await startTestApi();
});
after(async () => {
  await api.close();
});

test('GET /streams/{id}/dead-letters lists the records a SKIP stream dead-lettered, with list conventions; they go with the stream', async () => {
  const { app, admin, mem, store } = api;
  const src = (await app.inject({ method: 'POST', url: '/api/v1/connections', headers: H(admin), payload: { name: 'pg-dl', kind: 'postgresql', url: 'postgresql://u@h:5432/app' } })).json();
  const dst = (await app.inject({ method: 'POST', url: '/api/v1/connections', headers: H(admin), payload: { name: 'mongo-dl', kind: 'mongodb', url: 'mongodb://h/app' } })).json();
  mem.source(src.id).setTable('public.t', Array.from({ length: 8 }, (_, i) => ({ id: i + 1, v: i % 3 === 0 ? 'bad' : 'ok', n: `${i}` })));
  mem.sink(dst.id).rejectWhen = (ev) => (ev.after?.v === 'bad' ? { field: 'v', message: 'not storable' } : null);
  const created = await app.inject({
    method: 'POST',
    url: '/api/v1/streams',
    headers: H(admin),
    payload: { name: 'dl', source: { connectionId: src.id }, sink: { connectionId: dst.id }, transport: { kind: 'direct' }, mode: 'SNAPSHOT', tables: ['public.t'], options: { errorHandling: 'SKIP', errorTolerance: 5 } },
  });
  assert.equal(created.statusCode, 201, created.body);
  const id = created.json().id as string;
  await app.inject({ method: 'POST', url: `/api/v1/streams/${id}/start`, headers: H(admin) });
  await waitFor(async () => (await app.inject({ url: `/api/v1/streams/${id}`, headers: H(admin) })).json().status === 'COMPLETED', { message: 'completed' });
  const stream = (await app.inject({ url: `/api/v1/streams/${id}`, headers: H(admin) })).json();
  assert.equal(stream.statistics.eventsFailed, 3);
  assert.equal(stream.statistics.deadLettered, 3);
  assert.equal(stream.statistics.eventsWritten, 5);
  assert.deepEqual(mem.sink(dst.id).docs('public.t').map((d) => Number(d.id)).sort(), [2, 3, 5, 6, 8]);

  // Rows are an operator's to read (the browse rule): the operator sees the records whole.
  const operator = (await store.apiKeys.create('dl-operator', 'operator')).key;
  const all = await app.inject({ url: `/api/v1/streams/${id}/dead-letters`, headers: H(operator) });
  assert.equal(all.statusCode, 200, all.body);
  const page = all.json();
  assert.equal(page.total, 3);
  assert.deepEqual(
    page.items.map((l: any) => ({ key: l.key, table: l.table, op: l.op, field: l.field, errorCode: l.errorCode, stage: l.stage, runId: l.runId, id: l.event.after.id })),
    [1, 4, 7].map((k) => ({ key: { id: k }, table: 'public.t', op: 'r', field: 'v', errorCode: 'SINK_RECORD_REJECTED', stage: 'SNAPSHOT', runId: stream.runId, id: k })),
  );
  assert.match(page.items[0].errorMessage, /not storable/);
  assert.match(page.items[0].suggestion, /Column "v" of public\.t/);
  assert.equal(page.items[0].event.schema, undefined, 'the table schema is not repeated in every letter');

  // A viewer gets the same letters redacted: where and what kind of error, no value (issue 22).
  const viewer = (await store.apiKeys.create('dl-viewer', 'viewer')).key;
  const seen = await app.inject({ url: `/api/v1/streams/${id}/dead-letters`, headers: H(viewer) });
  assert.equal(seen.statusCode, 200, seen.body);
  assert.deepEqual(
    seen.json().items.map((l: any) => ({ key: l.key, table: l.table, op: l.op, field: l.field, errorCode: l.errorCode, event: l.event, redacted: l.redacted })),
    [1, 4, 7].map(() => ({ key: { id: '[redacted]' }, table: 'public.t', op: 'r', field: 'v', errorCode: 'SINK_RECORD_REJECTED', event: null, redacted: true })),
  );
  for (const v of ['bad', 'not storable']) assert.ok(!seen.body.includes(v), `a viewer's dead letters hold "${v}"`);

  const paged = (await app.inject({ url: `/api/v1/streams/${id}/dead-letters?sort=-id&limit=1&offset=1`, headers: H(admin) })).json();
  assert.deepEqual({ total: paged.total, limit: paged.limit, offset: paged.offset, keys: paged.items.map((l: any) => l.key.id) }, { total: 3, limit: 1, offset: 1, keys: [4] });
  assert.equal((await app.inject({ url: `/api/v1/streams/${id}/dead-letters?field=v&runId=${stream.runId}`, headers: H(admin) })).json().total, 3);
  assert.equal((await app.inject({ url: `/api/v1/streams/${id}/dead-letters?field=other`, headers: H(admin) })).json().total, 0);
  assert.equal((await app.inject({ url: `/api/v1/streams/${id}/dead-letters?stage=CDC`, headers: H(admin) })).json().total, 0);
  assertEnvelope((await app.inject({ url: `/api/v1/streams/${id}/dead-letters?colour=red`, headers: H(admin) })).body, 'VALIDATION_FAILED');
  assertEnvelope((await app.inject({ url: `/api/v1/streams/${id}/dead-letters?sort=event`, headers: H(admin) })).body, 'VALIDATION_FAILED');
  assertEnvelope((await app.inject({ url: '/api/v1/streams/nope/dead-letters', headers: H(admin) })).body, 'STREAM_NOT_FOUND');
  assertEnvelope((await app.inject({ url: `/api/v1/streams/${id}/dead-letters` })).body, 'AUTH_REQUIRED');

  assert.equal((await app.inject({ method: 'DELETE', url: `/api/v1/streams/${id}`, headers: H(admin) })).statusCode, 204);
  assert.equal((await store.deadLetters.list(id, {})).total, 0, 'deleted with the stream');
});

test('job updates and failure errors that quote row values reach a viewer redacted; an operator reads them whole', async () => {
  const { app, admin, mem, store } = api;
  const src = (await app.inject({ method: 'POST', url: '/api/v1/connections', headers: H(admin), payload: { name: 'pg-red', kind: 'postgresql', url: 'postgresql://u@h:5432/app' } })).json();
  const dst = (await app.inject({ method: 'POST', url: '/api/v1/connections', headers: H(admin), payload: { name: 'mongo-red', kind: 'mongodb', url: 'mongodb://h/app' } })).json();
  mem.source(src.id).setTable('public.t', [1, 2, 3].map((i) => ({ id: i, v: `secret-value-${i}` })));
  mem.sink(dst.id).rejectWhen = (ev) => ({ field: 'v', message: `cannot store ${String(ev.after?.v)}` });
  const made = await app.inject({
    method: 'POST',
    url: '/api/v1/streams',
    headers: H(admin),
    payload: { name: 'red', source: { connectionId: src.id }, sink: { connectionId: dst.id }, transport: { kind: 'direct' }, mode: 'SNAPSHOT', tables: ['public.t'], options: { errorHandling: 'WARN', errorTolerance: 1 } },
  });
  const id = made.json().id as string;
  await app.inject({ method: 'POST', url: `/api/v1/streams/${id}/start`, headers: H(admin) });
  await waitFor(async () => (await app.inject({ url: `/api/v1/streams/${id}`, headers: H(admin) })).json().status === 'FAILED', { message: 'failed past the tolerance' });
  const operator = (await store.apiKeys.create('red-operator', 'operator')).key;
  const viewer = (await store.apiKeys.create('red-viewer', 'viewer')).key;
  const paths = [`/api/v1/streams/${id}/logs`, `/api/v1/streams/${id}`, `/api/v1/streams/${id}/runs`, '/api/v1/streams'];
  const opText = (await Promise.all(paths.map((p) => app.inject({ url: p, headers: H(operator) })))).map((r) => r.body).join('\n');
  assert.match(opText, /secret-value-1/, 'an operator reads the values the messages quote');
  for (const p of paths) {
    const r = await app.inject({ url: p, headers: H(viewer) });
    assert.equal(r.statusCode, 200, r.body);
    assert.ok(!/secret-value/.test(r.body), `${p}: a viewer reads a row value: ${r.body}`);
  }
  const logs = (await app.inject({ url: `/api/v1/streams/${id}/logs?level=WARNING`, headers: H(viewer) })).json();
  assert.ok(logs.items.length >= 1);
  assert.ok(logs.items.every((u: any) => u.redacted === true && u.errorCode === 'SINK_RECORD_REJECTED' && u.detail.key.id === '[redacted]'), JSON.stringify(logs.items));
  const failure = (await app.inject({ url: `/api/v1/streams/${id}`, headers: H(viewer) })).json().failureError;
  assert.equal(failure.code, 'RECORD_ERROR_TOLERANCE_EXCEEDED');
});
