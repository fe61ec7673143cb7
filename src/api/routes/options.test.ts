// Connector options through the API: what each kind declares can be set, reaches the
// connector parsed with its defaults, and nothing else gets in; specs stored before
// options were checked still run, and the operator is told what to fix.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { assertEnvelope, startTestApi, type TestApi } from '../testing/test-api';
import { waitFor } from '../../../test/helpers/wait-for';

let api: TestApi;
const H = (key: string) => ({ 'x-api-key': key });

before(async () => {
  api = await startTestApi({}, { run: ['postgresql', 'mysql'] });
});
after(async () => {
  await api.close();
});

const post = (url: string, payload: object) => api.app.inject({ method: 'POST', url, headers: H(api.admin), payload });
const field = (body: string): string => (assertEnvelope(body, 'VALIDATION_FAILED').detail as { field: string }).field;

async function connections(kind: 'postgresql' | 'mysql', tag: string): Promise<{ src: string; dst: string }> {
  const src = await post('/api/v1/connections', { name: `${tag}-src`, kind, url: `${kind}://u@h:1/app` });
  const dst = await post('/api/v1/connections', { name: `${tag}-dst`, kind: 'mongodb', url: 'mongodb://h/app' });
  assert.equal(src.statusCode, 201, src.body);
  assert.equal(dst.statusCode, 201, dst.body);
  return { src: src.json().id, dst: dst.json().id };
}

async function runToCompletion(id: string): Promise<void> {
  assert.equal((await post(`/api/v1/streams/${id}/start`, {})).statusCode, 202);
  await waitFor(async () => (await api.app.inject({ url: `/api/v1/streams/${id}`, headers: H(api.admin) })).json().status === 'COMPLETED', { timeoutMs: 10000, message: 'run completed' });
}

test('maxBatchSize and reconnectTimeoutMs can be set, are stored as sent, and reach the source parsed with every default', async () => {
  const { src, dst } = await connections('mysql', 'opt-my');
  api.mem.source(src).setTable('app.t', [{ id: 1 }]);
  const created = await post('/api/v1/streams', {
    name: 'opt-my', source: { connectionId: src }, sink: { connectionId: dst }, transport: { kind: 'direct' }, mode: 'SNAPSHOT', tables: ['app.t'],
    options: { maxBatchSize: 7, reconnectTimeoutMs: 5000 },
  });
  assert.equal(created.statusCode, 201, created.body);
  assert.deepEqual(created.json().spec.options, { maxBatchSize: 7, reconnectTimeoutMs: 5000 }, 'stored as sent: defaults are not frozen into the store');
  await runToCompletion(created.json().id);
  const got = api.mem.source(src).createdWith.at(-1)!;
  assert.equal(got.stream.options.maxBatchSize, 7);
  assert.equal(got.stream.options.reconnectTimeoutMs, 5000);
  assert.equal(got.stream.options.snapshotChunkSize, 5000, 'the source gets the defaults of what was not set');
  assert.equal(got.stream.options.errorHandling, 'FAIL');
  assert.equal(got.connection.options.connectTimeoutMs, 10000, 'and its connection options parsed too');
  assert.equal(got.connection.options.tinyInt1AsBoolean, true);

  // PostgreSQL takes maxBatchSize; reconnectTimeoutMs is MySQL's and is refused naming it.
  const pg = await connections('postgresql', 'opt-pg');
  const body = (options: object) => ({ name: `opt-pg-${Object.keys(options).join('-')}`, source: { connectionId: pg.src }, sink: { connectionId: pg.dst }, transport: { kind: 'direct' }, tables: ['public.t'], options });
  assert.equal((await post('/api/v1/streams', body({ maxBatchSize: 50 }))).statusCode, 201);
  const wrongKind = await post('/api/v1/streams', body({ reconnectTimeoutMs: 5000 }));
  assert.equal(wrongKind.statusCode, 400);
  assert.equal(field(wrongKind.body), 'options.reconnectTimeoutMs');
  assert.match(wrongKind.json().error.message, /an option of the mysql source, and this stream's source is postgresql/);
  const wrongType = await post('/api/v1/streams', body({ maxBatchSize: '7' }));
  assert.equal(field(wrongType.body), 'options.maxBatchSize');
  const unknown = await post('/api/v1/streams', body({ maxBatch: 7 }));
  assert.equal(field(unknown.body), 'options.maxBatch');
  const direct = await post('/api/v1/streams', body({ topicPrefix: 'shop' }));
  assert.equal(field(direct.body), 'options.topicPrefix', 'a Kafka option on a direct stream');
  // PUT is held to the same rules.
  const id = (await post('/api/v1/streams', body({ heartbeatIntervalMs: 1000 }))).json().id as string;
  const put = await api.app.inject({ method: 'PUT', url: `/api/v1/streams/${id}`, headers: H(api.admin), payload: body({ reconnectTimeoutMs: 1 }) });
  assert.equal(field(put.body), 'options.reconnectTimeoutMs');
});

test('a bad connection option is a 400 naming the field, at create and at PATCH; secrets and the kind rules hold', async () => {
  const bad = async (payload: object, expected: string, message?: RegExp) => {
    const r = await post('/api/v1/connections', payload);
    assert.equal(r.statusCode, 400, r.body);
    assert.equal(field(r.body), expected, r.body);
    if (message) assert.match(r.json().error.message, message);
  };
  await bad({ name: 'c1', kind: 'postgresql', url: 'postgresql://h/db', options: { connectTimeoutMs: 'soon' } }, 'options.connectTimeoutMs');
  await bad({ name: 'c2', kind: 'postgresql', url: 'postgresql://h/db', options: { colour: 'red' } }, 'options.colour', /"options\.colour" is not a known field/);
  await bad({ name: 'c3', kind: 'mongodb', url: 'mongodb://h/db', options: { writeTimeoutMs: 5 } }, 'options.writeTimeoutMs');
  await bad({ name: 'c4', kind: 'mongodb', url: 'mongodb://h/db', options: { retry: { tries: 3 } } }, 'options.retry.tries');
  await bad({ name: 'c5', kind: 'mysql', url: 'mysql://h/db', options: { applicationName: 'x' } }, 'options.applicationName', /not a known field/);
  await bad({ name: 'c6', kind: 'oracle', url: 'x' }, 'kind', /must be one of kafka, mongodb, mysql, postgresql/);
  const ok = await post('/api/v1/connections', { name: 'k1', kind: 'kafka', url: '127.0.0.1:9092', options: { topicPartitions: 6, tombstones: false } });
  assert.equal(ok.statusCode, 201, ok.body);
  assert.deepEqual(ok.json().options, { topicPartitions: 6, tombstones: false });

  const pg = (await post('/api/v1/connections', { name: 'c7', kind: 'postgresql', url: 'postgresql://h/db', options: { applicationName: 'sluice-test' } })).json();
  const patch = (payload: object) => api.app.inject({ method: 'PATCH', url: `/api/v1/connections/${pg.id}`, headers: H(api.admin), payload });
  const p1 = await patch({ options: { connectTimeoutMs: -1 } });
  assert.equal(field(p1.body), 'options.connectTimeoutMs');
  const p2 = await patch({ kind: 'mysql' });
  assert.equal(field(p2.body), 'options.applicationName', 'a new kind must take the options the connection keeps');
  assert.equal((await patch({ name: 'c7b' })).statusCode, 200, 'a change that leaves options and kind alone is not re-checked');
  assert.equal((await patch({ options: { connectTimeoutMs: 2000 } })).json().options.connectTimeoutMs, 2000);
});

test('a spec stored before options were checked still runs: each ignored option is a WARNING job update that says how to fix it', async () => {
  const { src, dst } = await connections('postgresql', 'opt-old');
  api.mem.source(src).setTable('public.t', [{ id: 1 }, { id: 2 }]);
  // As an older sluice stored them: connection options were never checked.
  await api.store.connections.update(src, { options: { applicationName: 'legacy', colour: 'red', connectTimeoutMs: '10s' } });
  const rec = await api.store.streams.create({
    name: 'opt-old', source: { connectionId: src }, sink: { connectionId: dst }, transport: { kind: 'direct' }, mode: 'SNAPSHOT', tables: ['public.t'],
    options: { heartbeatIntervalMs: 1000, maxBatch: 5 },
  });
  await runToCompletion(rec.spec.id);
  assert.equal(api.mem.sink(dst).docs('public.t').length, 2, 'the stream ran to completion');
  const got = api.mem.source(src).createdWith.at(-1)!;
  assert.deepEqual(got.connection.options, { applicationName: 'legacy', connectTimeoutMs: 10000 }, 'bad ones dropped, defaults applied');
  assert.equal(got.stream.options.heartbeatIntervalMs, 1000);
  assert.equal('maxBatch' in got.stream.options, false);
  const logs = (await api.app.inject({ url: `/api/v1/streams/${rec.spec.id}/logs?level=WARNING`, headers: H(api.admin) })).json().items as Array<{ message: string; errorCode: string; suggestion: string; detail: { field: string } }>;
  assert.deepEqual(logs.map((u) => u.detail.field).sort(), ['options.colour', 'options.connectTimeoutMs', 'options.maxBatch']);
  assert.ok(logs.every((u) => u.errorCode === 'OPTION_IGNORED'));
  assert.match(logs.find((u) => u.detail.field === 'options.colour')!.suggestion, new RegExp(`PATCH /api/v1/connections/${src}`));
  assert.match(logs.find((u) => u.detail.field === 'options.maxBatch')!.suggestion, new RegExp(`PUT /api/v1/streams/${rec.spec.id}`));
  // /validate names the same problems as failed checks.
  const v = await post('/api/v1/validate', { name: 'v', source: { connectionId: src }, sink: { connectionId: dst }, transport: { kind: 'direct' }, tables: ['public.t'] });
  const check = (v.json().checks as Array<{ name: string; ok: boolean; message: string }>).find((c) => c.name === 'options')!;
  assert.equal(check.ok, false);
  assert.match(check.message, /source connection options\.colour is not a known option/);
});

test('/openapi.json carries every kind\'s options: per-kind connection bodies chosen by kind, stream options saying who reads them, with defaults', async () => {
  const doc = (await api.app.inject('/openapi.json')).json() as { paths: Record<string, Record<string, { requestBody: { content: Record<string, { schema: Record<string, unknown> }> } }>>; components: { schemas: Record<string, { properties: Record<string, Record<string, unknown>> }> } };
  const body = doc.paths['/api/v1/connections']!.post!.requestBody.content['application/json']!.schema as { oneOf: Array<{ $ref: string }>; discriminator: { propertyName: string; mapping: Record<string, string> } };
  assert.equal(body.discriminator.propertyName, 'kind');
  assert.deepEqual(Object.keys(body.discriminator.mapping).sort(), ['kafka', 'mongodb', 'mysql', 'postgresql']);
  assert.equal(body.oneOf.length, 4);
  const s = doc.components.schemas;
  assert.deepEqual(s.PostgresqlConnection!.properties.options, { $ref: '#/components/schemas/PostgresqlConnectionOptions' });
  assert.equal(s.MongodbConnectionOptions!.properties.writeTimeoutMs!.default, 60000);
  assert.equal(s.MysqlStreamOptions!.properties.reconnectTimeoutMs!.default, 300000);
  assert.equal(s.KafkaConnectionOptions!.properties.topicPartitions!.type, 'integer');
  assert.equal(s.StreamOptions!.properties.maxBatchSize!.default, 1000);
  assert.match(String(s.StreamOptions!.properties.maxBatchSize!.description), /^\(mysql source, postgresql source\)/);
  assert.match(String(s.StreamOptions!.properties.topicPrefix!.description), /^\(kafka transport\)/);
  assert.match(String(s.StreamOptions!.properties.errorHandling!.description), /^\(every stream\)/);
});
