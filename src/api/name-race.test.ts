// Names stay unique when requests race (issue 20, stage 1): the state store is awaited,
// so two requests can both be between a check and a write. The store checks a name in
// the write's own transaction, so of N concurrent creates with one name (in any case)
// exactly one gets 201 and the others 409; the same for renames, and a connection or
// mapping that a racing request starts to use is never deleted under it.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { assertEnvelope, startTestApi, type TestApi } from './testing/test-api';
import type { ErrorCode } from '../errors';

let api: TestApi;
let src: string;
let dst: string;

before(async () => {
  api = await startTestApi({}, { storeRoundTrip: true });
  src = (await call('POST', '/api/v1/connections', { name: 'src', kind: 'postgresql', url: 'postgresql://u:pw@h:5432/app' })).json().id;
  dst = (await call('POST', '/api/v1/connections', { name: 'dst', kind: 'mongodb', url: 'mongodb://h:27017/app' })).json().id;
});

after(async () => {
  await api.close();
});

function call(method: 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE', url: string, payload?: object) {
  return api.app.inject({ method, url, headers: { 'x-api-key': api.admin }, ...(payload ? { payload } : {}) });
}

const RACERS = 6;
/** The same name in other cases and widths: names.ts holds them equal. */
const spellings = (name: string): string[] => Array.from({ length: RACERS }, (_, i) => (i % 2 ? name.toUpperCase() : name));

async function race(bodies: object[], url: string, method: 'POST' | 'PUT' | 'PATCH' = 'POST') {
  const replies = await Promise.all(bodies.map((b) => call(method, url, b)));
  return replies;
}

function oneWinner(replies: { statusCode: number; body: string }[], created: number, code: ErrorCode): void {
  const statuses = replies.map((r) => r.statusCode);
  assert.equal(statuses.filter((s) => s === created).length, 1, `exactly one ${created}: ${statuses.join(',')}`);
  for (const r of replies.filter((x) => x.statusCode !== created)) {
    assert.equal(r.statusCode, 409, r.body);
    assertEnvelope(r.body, code);
  }
}

test('concurrent creates of one connection name: exactly one 201, the others 409 CONNECTION_NAME_TAKEN', async () => {
  const replies = await race(spellings('racer').map((name) => ({ name, kind: 'postgresql', url: 'postgresql://u@h/d' })), '/api/v1/connections');
  oneWinner(replies, 201, 'CONNECTION_NAME_TAKEN');
  const listed = (await call('GET', '/api/v1/connections?limit=1000')).json().items.filter((c: { name: string }) => c.name.toLowerCase() === 'racer');
  assert.equal(listed.length, 1);
});

test('concurrent creates of one stream name: exactly one 201, the others 409 STREAM_NAME_TAKEN', async () => {
  const body = (name: string) => ({ name, source: { connectionId: src }, sink: { connectionId: dst }, transport: { kind: 'direct' }, tables: ['public.t'] });
  const replies = await race(spellings('orders').map(body), '/api/v1/streams');
  oneWinner(replies, 201, 'STREAM_NAME_TAKEN');
  assert.equal((await call('GET', '/api/v1/streams?limit=1000')).json().items.filter((s: { name: string }) => s.name.toLowerCase() === 'orders').length, 1);
});

test('concurrent creates of one mapping name: exactly one 201, the others 409 MAPPING_NAME_TAKEN', async () => {
  const tables = { 'public.t': { collection: 't' } };
  const replies = await race(spellings('rules').map((name) => ({ name, tables })), '/api/v1/mappings');
  oneWinner(replies, 201, 'MAPPING_NAME_TAKEN');
});

test('concurrent renames of two connections to one name: exactly one 200, the other 409', async () => {
  const a = (await call('POST', '/api/v1/connections', { name: 'ren-a', kind: 'postgresql', url: 'postgresql://u@h/d' })).json().id;
  const b = (await call('POST', '/api/v1/connections', { name: 'ren-b', kind: 'postgresql', url: 'postgresql://u@h/d' })).json().id;
  const replies = await Promise.all([call('PATCH', `/api/v1/connections/${a}`, { name: 'renamed' }), call('PATCH', `/api/v1/connections/${b}`, { name: 'RENAMED' })]);
  oneWinner(replies, 200, 'CONNECTION_NAME_TAKEN');
});

test('a connection deleted while a stream is created on it: the delete is refused (409 CONNECTION_IN_USE) or the stream is (400), never both done', async () => {
  const turn = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));
  const outcomes = new Set<string>();
  // The delete starts 0, 1, 2, … turns of the event loop after the create, so that it lands
  // at each point of the create's way through the API, between its checks and its write too.
  for (let i = 0; i < 16; i++) {
    const conn = (await call('POST', '/api/v1/connections', { name: `doomed-${i}`, kind: 'postgresql', url: 'postgresql://u@h/d' })).json().id;
    const creating = call('POST', '/api/v1/streams', { name: `on-doomed-${i}`, source: { connectionId: conn }, sink: { connectionId: dst }, transport: { kind: 'direct' }, tables: ['public.t'] });
    for (let t = 0; t < i; t++) await turn();
    const [created, deleted] = await Promise.all([creating, call('DELETE', `/api/v1/connections/${conn}`)]);
    outcomes.add(`${created.statusCode}/${deleted.statusCode}`);
    assert.ok(!(created.statusCode === 201 && deleted.statusCode === 204), `stream on-doomed-${i} was created on connection ${conn} while the connection was deleted`);
    if (created.statusCode === 201) assertEnvelope(deleted.body, 'CONNECTION_IN_USE');
    else assertEnvelope(created.body, 'VALIDATION_FAILED');
  }
  // Both orders happened: the race was run, not only one side of it.
  assert.ok(outcomes.has('201/409') && outcomes.has('400/204'), [...outcomes].join(' '));
});
