// The mapping resource (/api/v1/mappings) and stream schedules, through the API over
// a real store and supervisor (memory connectors registered as postgresql/mongodb).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import pino from 'pino';
import { assertEnvelope, startTestApi, type TestApi } from '../testing/test-api';
import { planRun } from '../../runtime/run-plan';
import { storePersistence } from '../../store/persistence';
import { waitFor } from '../../../test/helpers/wait-for';

let api: TestApi;
let viewer: string;
let src: string;
let dst: string;

before(async () => {
  api = await startTestApi();
  viewer = (await api.store.apiKeys.create('viewer', 'viewer')).key;
  src = (await call('POST', '/api/v1/connections', { name: 'pg', kind: 'postgresql', url: 'postgresql://u:pw@h:5432/app' })).json().id;
  dst = (await call('POST', '/api/v1/connections', { name: 'mongo', kind: 'mongodb', url: 'mongodb://h:27017/app' })).json().id;
  api.mem.source(src).setTable('public.orders', [1, 2, 3].map((id) => ({ id, amount: id })));
});

after(async () => {
  await api.close();
});

function call(method: 'GET' | 'POST' | 'PUT' | 'DELETE', url: string, payload?: object, key = api.admin) {
  return api.app.inject({ method, url, headers: { 'x-api-key': key }, ...(payload ? { payload } : {}) });
}

const ORDERS_RULES = { 'public.orders': { collection: 'orders', fields: { amount: { name: 'total', type: 'decimal128' } }, id: { strategy: 'key' } } };
const ITEMS_RULES = { 'public.order_items': { newDocuments: false, embed: { into: 'public.orders', kind: 'array', field: 'items', foreignKey: ['order_id'], sort: [{ field: 'line_no' }] } } };

const streamBody = (name: string, over: Record<string, unknown> = {}) => ({
  name,
  source: { connectionId: src },
  sink: { connectionId: dst },
  transport: { kind: 'direct' },
  mode: 'SNAPSHOT',
  tables: ['public.orders'],
  ...over,
});

test('mappings: create, get, list (limit/offset/sort/name filter), replace, delete; viewers read, only admins write', async () => {
  const created = await call('POST', '/api/v1/mappings', { name: 'orders-v1', description: 'orders with items', tables: { ...ORDERS_RULES, ...ITEMS_RULES } });
  assert.equal(created.statusCode, 201, created.body);
  const m = created.json();
  assert.match(m.id, /^[A-Za-z0-9-]+$/);
  assert.deepEqual(m.tables, { ...ORDERS_RULES, ...ITEMS_RULES });
  assert.equal(m.description, 'orders with items');
  assert.deepEqual(m.usedBy, []);

  const got = await call('GET', `/api/v1/mappings/${m.id}`, undefined, viewer);
  assert.equal(got.statusCode, 200);
  assert.deepEqual(got.json().tables, m.tables);

  assert.equal((await call('POST', '/api/v1/mappings', { name: 'by-viewer', tables: {} }, viewer)).statusCode, 403);
  const taken = await call('POST', '/api/v1/mappings', { name: 'orders-v1', tables: {} });
  assert.equal(taken.statusCode, 409);
  assertEnvelope(taken.body, 'MAPPING_NAME_TAKEN');

  const second = (await call('POST', '/api/v1/mappings', { name: 'a-first-by-name', tables: {} })).json();
  const list = (await call('GET', '/api/v1/mappings?sort=name', undefined, viewer)).json();
  assert.deepEqual(list.items.map((x: { name: string }) => x.name).slice(0, 2), ['a-first-by-name', 'orders-v1']);
  assert.equal(list.total >= 2, true);
  const paged = (await call('GET', '/api/v1/mappings?sort=-name&limit=1&offset=1')).json();
  assert.equal(paged.items.length, 1);
  assert.equal(paged.limit, 1);
  const filtered = (await call('GET', '/api/v1/mappings?name=orders-v1')).json();
  assert.deepEqual(filtered.items.map((x: { id: string }) => x.id), [m.id]);

  const put = await call('PUT', `/api/v1/mappings/${m.id}`, { name: 'orders-v2', tables: ORDERS_RULES });
  assert.equal(put.statusCode, 200, put.body);
  assert.equal(put.json().name, 'orders-v2');
  assert.equal(put.json().description, null);
  assert.deepEqual(put.json().tables, ORDERS_RULES);
  const clash = await call('PUT', `/api/v1/mappings/${m.id}`, { name: 'a-first-by-name', tables: {} });
  assertEnvelope(clash.body, 'MAPPING_NAME_TAKEN');

  assert.equal((await call('DELETE', `/api/v1/mappings/${second.id}`, undefined, viewer)).statusCode, 403);
  assert.equal((await call('DELETE', `/api/v1/mappings/${second.id}`)).statusCode, 204);
  const gone = await call('GET', `/api/v1/mappings/${second.id}`);
  assert.equal(gone.statusCode, 404);
  assertEnvelope(gone.body, 'MAPPING_NOT_FOUND');
  assertEnvelope((await call('PUT', '/api/v1/mappings/no-such-mapping', { name: 'x', tables: {} })).body, 'MAPPING_NOT_FOUND');
  assertEnvelope((await call('DELETE', '/api/v1/mappings/no-such-mapping')).body, 'MAPPING_NOT_FOUND');
});

test('mapping bodies: unknown fields are refused at every level, and tables is required', async () => {
  const bad = [
    { name: 'x', tables: {}, extra: 1 },
    { name: 'x' },
    { name: 'x', tables: { 'public.t': { collection: 'c', colection: 'typo' } } },
    { name: 'x', tables: { 'public.t': { fields: { a: { name: 'b', typ: 'string' } } } } },
    { name: 'x', tables: { 'public.t': { fields: { a: { type: 'varchar' } } } } },
    { name: 'x', tables: { 'public.t': { embed: { into: 'public.p', kind: 'array' } } } },
    { name: 'x', tables: { 'public.t': { id: { strategy: 'uuid' } } } },
  ];
  for (const body of bad) {
    const r = await call('POST', '/api/v1/mappings', body);
    assert.equal(r.statusCode, 400, JSON.stringify(body));
    assertEnvelope(r.body, 'VALIDATION_FAILED');
  }
  // Well-formed but wrong rules get the same check as a stream's own mapping, on create and replace.
  const wrong = [
    { name: 'x', tables: { 'public.t': { embed: { into: 'public.t', kind: 'array', foreignKey: ['p'] } } } },
    { name: 'x', tables: { 'public.t': { fields: { a: { name: 'x' }, b: { name: 'x' } } } } },
    { name: 'x', tables: { 'public.t': { embed: { into: 'public.p', kind: 'array', foreignKey: ['p'] } }, 'public.p': { embed: { into: 'public.q', kind: 'document', foreignKey: ['q'] } } } },
  ];
  const made = (await call('POST', '/api/v1/mappings', { name: 'to-replace', tables: {} })).json();
  for (const body of wrong) {
    const r = await call('POST', '/api/v1/mappings', body);
    assert.equal(r.statusCode, 400, JSON.stringify(body));
    assertEnvelope(r.body, 'MAPPING_INVALID');
    const put = await call('PUT', `/api/v1/mappings/${made.id}`, { ...body, name: 'to-replace' });
    assert.equal(put.statusCode, 400, JSON.stringify(body));
    assertEnvelope(put.body, 'MAPPING_INVALID');
  }
  assert.equal((await call('DELETE', `/api/v1/mappings/${made.id}`)).statusCode, 204);
});

test('a stream may reference a mapping; an unknown one is refused; a referenced one cannot be deleted; each start resolves the current rules', async () => {
  const m = (await call('POST', '/api/v1/mappings', { name: 'for-streams', tables: ORDERS_RULES })).json();
  const unknown = await call('POST', '/api/v1/streams', streamBody('mapped-unknown', { mapping: { mappingId: 'no-such-mapping' } }));
  assert.equal(unknown.statusCode, 404);
  assert.equal((assertEnvelope(unknown.body, 'MAPPING_NOT_FOUND') as { detail: { field: string } }).detail.field, 'mapping.mappingId');
  const mixed = await call('POST', '/api/v1/streams', streamBody('mapped-mixed', { mapping: { mappingId: m.id, tables: {} } }));
  assert.equal(mixed.statusCode, 400);
  assertEnvelope(mixed.body, 'VALIDATION_FAILED');
  const notAnId = await call('POST', '/api/v1/streams', streamBody('mapped-bad-id', { mapping: { mappingId: 'not an id!' } }));
  assertEnvelope(notAnId.body, 'VALIDATION_FAILED');

  const s = await call('POST', '/api/v1/streams', streamBody('mapped', { mapping: { mappingId: m.id } }));
  assert.equal(s.statusCode, 201, s.body);
  const streamId = s.json().id;
  assert.deepEqual(s.json().spec.mapping, { mappingId: m.id });
  assert.deepEqual((await call('GET', `/api/v1/mappings/${m.id}`)).json().usedBy, [streamId]);

  const inUse = await call('DELETE', `/api/v1/mappings/${m.id}`);
  assert.equal(inUse.statusCode, 409);
  assert.deepEqual(assertEnvelope(inUse.body, 'MAPPING_IN_USE').detail, { id: m.id, streams: [streamId] });

  // The run plan (what the sink is created with) carries the rules, resolved at each start.
  const plan = () => planRun(streamId, storePersistence(api.store), api.registry, pino({ level: 'silent' }));
  assert.deepEqual((await plan()).stream.mapping, { mappingId: m.id, tables: ORDERS_RULES });
  assert.equal((await call('POST', `/api/v1/streams/${streamId}/start`, undefined)).statusCode, 202);
  await waitFor(async () => (await call('GET', `/api/v1/streams/${streamId}`)).json().state === 'COMPLETED', { message: 'first run completes' });
  assert.deepEqual(api.mem.sink(dst).createdFor.at(-1)?.mapping, { mappingId: m.id, tables: ORDERS_RULES });

  assert.equal((await call('PUT', `/api/v1/mappings/${m.id}`, { name: 'for-streams', tables: ITEMS_RULES })).statusCode, 200);
  assert.deepEqual((await plan()).stream.mapping, { mappingId: m.id, tables: ITEMS_RULES });
  assert.equal((await call('POST', `/api/v1/streams/${streamId}/start`, undefined)).statusCode, 202);
  await waitFor(() => api.mem.sink(dst).createdFor.filter((x) => x.id === streamId).length === 2, { message: 'second run opened its sink' });
  assert.deepEqual(api.mem.sink(dst).createdFor.at(-1)?.mapping, { mappingId: m.id, tables: ITEMS_RULES }, 'the changed mapping took effect at the next start');
  await waitFor(async () => (await call('GET', `/api/v1/streams/${streamId}`)).json().state === 'COMPLETED', { message: 'second run completes' });

  // Once no stream references it, it can go.
  assert.equal((await call('DELETE', `/api/v1/streams/${streamId}?keepSourceResources=true`)).statusCode, 204);
  assert.equal((await call('DELETE', `/api/v1/mappings/${m.id}`)).statusCode, 204);
});

test('schedules through the API: SNAPSHOT only, cron and timezone checked, nextRunAt shown, PUT re-arms or removes, DELETE disarms', async () => {
  const onCdc = await call('POST', '/api/v1/streams', streamBody('sched-cdc', { mode: 'CDC', schedule: { cron: '0 2 * * *' } }));
  assert.equal(onCdc.statusCode, 400);
  assert.equal((assertEnvelope(onCdc.body, 'VALIDATION_FAILED') as { detail: { field: string } }).detail.field, 'schedule');
  const badCron = await call('POST', '/api/v1/streams', streamBody('sched-bad', { schedule: { cron: '99 * * * *' } }));
  assert.equal(badCron.statusCode, 400);
  const e = assertEnvelope(badCron.body, 'VALIDATION_FAILED') as { message: string; detail: { field: string } };
  assert.equal(e.detail.field, 'schedule.cron');
  assert.match(e.message, /Invalid value for minute: 99/);
  const badTz = await call('POST', '/api/v1/streams', streamBody('sched-tz', { schedule: { cron: '0 2 * * *', timezone: 'Nowhere/Atlantis' } }));
  assert.equal((assertEnvelope(badTz.body, 'VALIDATION_FAILED') as { detail: { field: string } }).detail.field, 'schedule.timezone');
  const unknownField = await call('POST', '/api/v1/streams', streamBody('sched-field', { schedule: { cron: '0 2 * * *', every: 'night' } }));
  assertEnvelope(unknownField.body, 'VALIDATION_FAILED');

  const plain = (await call('POST', '/api/v1/streams', streamBody('unscheduled'))).json();
  assert.equal(plain.schedule, null);
  assert.equal(plain.nextRunAt, null);

  const created = await call('POST', '/api/v1/streams', streamBody('nightly', { schedule: { cron: '0 2 * * *', timezone: 'UTC' } }));
  assert.equal(created.statusCode, 201, created.body);
  const s = created.json();
  assert.deepEqual(s.schedule, { cron: '0 2 * * *', timezone: 'UTC' });
  const next = new Date(s.nextRunAt);
  assert.deepEqual([next.getUTCHours(), next.getUTCMinutes(), next.getUTCSeconds()], [2, 0, 0]);
  assert.ok(next.getTime() > Date.now() && next.getTime() <= Date.now() + 86400000);
  const listed = (await call('GET', '/api/v1/streams?name=nightly', undefined, viewer)).json().items[0];
  assert.equal(listed.nextRunAt, s.nextRunAt);

  // PUT re-arms with the new cron; a spec without a schedule disarms.
  const every = await call('PUT', `/api/v1/streams/${s.id}`, streamBody('nightly', { schedule: { cron: '* * * * * *' } }));
  assert.equal(every.statusCode, 200, every.body);
  assert.ok(Date.parse(every.json().nextRunAt) <= Date.now() + 1000);
  await waitFor(async () => (await call('GET', `/api/v1/streams/${s.id}/logs?stage=SCHEDULE`)).json().items.some((u: { message: string }) => /scheduled run started/.test(u.message)), {
    message: 'a tick started a run, visible in the logs',
  });
  await waitFor(async () => (await call('GET', `/api/v1/streams/${s.id}`)).json().state === 'COMPLETED', { message: 'the scheduled run completes' });
  const removed = await call('PUT', `/api/v1/streams/${s.id}`, streamBody('nightly'));
  assert.equal(removed.statusCode, 200, removed.body);
  assert.equal(removed.json().nextRunAt, null);
  assert.equal(removed.json().schedule, null);

  // DELETE disarms: a deleted stream never ticks again.
  await call('PUT', `/api/v1/streams/${s.id}`, streamBody('nightly', { schedule: { cron: '0 2 * * *' } }));
  assert.ok(api.supervisor.nextRunAt(s.id));
  assert.equal((await call('DELETE', `/api/v1/streams/${s.id}?keepSourceResources=true`)).statusCode, 204);
  assert.equal(api.supervisor.nextRunAt(s.id), null);
});
