/**
 * Hostile and malformed input through the API (issue 22), on a real store with the
 * memory connectors: connection URLs that kept passwords, `%` in passwords, names,
 * deep and out-of-range filters, system schemas in a spec, Fastify's own URL errors,
 * and keys in query strings. The findings that need real servers are closed by
 * test/e2e/hostile*.integration.test.ts and test/e2e/secrets.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { PassThrough } from 'node:stream';
import { createLogger } from '../logger';
import { parseConnectionUrl } from '../connection-url';
import { assertEnvelope, startTestApi, type TestApi } from './testing/test-api';

let api: TestApi;
let logText = '';
const H = (key: string) => ({ 'x-api-key': key });

before(async () => {
  const out = new PassThrough();
  out.on('data', (b: Buffer) => (logText += b.toString()));
  api = await startTestApi({}, { logger: createLogger({ level: 'debug', pretty: 'false', destination: out }) });
});
after(async () => {
  await api.close();
});

const post = (url: string, payload: unknown, key = api.admin) => api.app.inject({ method: 'POST', url, headers: H(key), payload: payload as object });

test('connection URLs the standard parser refused: multi-host MongoDB works with its password split off; what cannot be read safely is refused and not stored', async () => {
  const { app, admin, store } = api;
  const viewer = (await store.apiKeys.create('v', 'viewer')).key;
  const multi = await post('/api/v1/connections', { name: 'rs', kind: 'mongodb', url: 'mongodb://u:TopSecret6@127.0.0.1:57017,127.0.0.1:57018/db?replicaSet=rs0' });
  assert.equal(multi.statusCode, 201, multi.body);
  assert.equal(multi.json().url, 'mongodb://u@127.0.0.1:57017,127.0.0.1:57018/db?replicaSet=rs0');
  assert.equal(multi.json().hasPassword, true);
  assert.equal(parseConnectionUrl((await store.connections.resolve(multi.json().id))!.url).password, 'TopSecret6', 'the runtime gets the password back');
  const before = (await store.connections.list({})).total;
  const refused: Array<[string, string]> = [
    ['postgresql', 'postgresql://u:TopSecret7@h1:5432,h2:5432/db'],
    ['postgresql', 'postgresql://u:TopSecret7@h:999999/db'],
    ['mysql', 'mysql://u:Top/Secret7@h:3306/db'],
    ['kafka', 'kafka://u:TopSecret7@h1:9092,h2:9092'],
    ['mongodb', 'mongodb://u:TopSecret7#@h/db'],
  ];
  for (const [kind, url] of refused) {
    const r = await post('/api/v1/connections', { name: `bad-${kind}-${url.length}`, kind, url });
    assert.equal(r.statusCode, 400, `${url}: ${r.body}`);
    const err = assertEnvelope(r.body, 'CONNECTION_URL_INVALID');
    assert.equal((err.detail as { field: string }).field, 'url');
    assert.ok(!r.body.includes('TopSecret7') && !r.body.includes('Secret7'), r.body);
  }
  // PATCH the same way: refused, and the stored connection is as it was.
  const ok = (await post('/api/v1/connections', { name: 'pg-ok', kind: 'postgresql', url: 'postgresql://u:first@h:5432/db' })).json();
  const patched = await app.inject({ method: 'PATCH', url: `/api/v1/connections/${ok.id}`, headers: H(admin), payload: { url: 'postgresql://u:TopSecret8@h1,h2/db' } });
  assertEnvelope(patched.body, 'CONNECTION_URL_INVALID');
  assert.equal((await store.connections.get(ok.id))!.url, 'postgresql://u@h:5432/db');
  assert.equal((await store.connections.list({})).total, before + 1);
  const listed = (await app.inject({ url: '/api/v1/connections', headers: H(viewer) })).body;
  for (const s of ['TopSecret', 'first']) assert.ok(!listed.includes(s), `a viewer's list holds ${s}`);
});

test('a password with "%", "@", ":" and "/" reaches the runtime exactly, from the field or URL-encoded (it gave URI malformed and a 500)', async () => {
  const { store } = api;
  // The password, and one whose "%" is followed by hex digits (decoded twice, it changes).
  for (const [i, pw] of ['p@ss:w/rd%Zq7', 'x%41y%2F%zz'].entries()) {
    const viaField = (await post('/api/v1/connections', { name: `pct-field-${i}`, kind: 'postgresql', url: 'postgresql://u@h:5432/db', password: pw })).json();
    const viaUrl = (await post('/api/v1/connections', { name: `pct-url-${i}`, kind: 'mysql', url: `jdbc:mysql://h:3306/db?user=u&password=${encodeURIComponent(pw)}` })).json();
    const viaMongo = (await post('/api/v1/connections', { name: `pct-mongo-${i}`, kind: 'mongodb', url: `mongodb://u:${encodeURIComponent(pw)}@h1,h2/db` })).json();
    for (const c of [viaField, viaUrl, viaMongo]) {
      assert.equal(c.hasPassword, true);
      const resolved = (await store.connections.resolve(c.id))!.url;
      assert.equal(parseConnectionUrl(resolved).password, pw, resolved);
    }
  }
});

test('names: control, bidi and zero-width characters and invalid UTF-8 are refused naming the field; uniqueness ignores case and width', async () => {
  const { app, admin, store } = api;
  const bad = ['a\u0000b', 'line\nbreak', 'evil\u202Etxt.exe', 'zero\u200Bwidth', 'lone\uD800', 'bad\uFFFDutf8', 'tab\tname', '\u2066isolate'];
  for (const name of bad) {
    for (const [url, body] of [
      ['/api/v1/connections', { name, kind: 'postgresql', url: 'postgresql://u@h/db' }],
      ['/api/v1/mappings', { name, tables: {} }],
      ['/api/v1/api-keys', { name, role: 'viewer' }],
    ] as const) {
      const r = await post(url, body);
      assert.equal(r.statusCode, 400, `${url} ${JSON.stringify(name)}: ${r.body}`);
      const err = assertEnvelope(r.body, 'VALIDATION_FAILED');
      assert.equal((err.detail as { field: string }).field, 'name');
      assert.match(String(err.message), /printable|Unicode/);
    }
  }
  assert.equal((await post('/api/v1/connections', { name: 'Ünïcode 名前 😀', kind: 'postgresql', url: 'postgresql://u@h/db' })).statusCode, 201);
  const pg = (await post('/api/v1/connections', { name: 'pg', kind: 'postgresql', url: 'postgresql://u@h/db' })).json();
  for (const same of ['PG', 'Pg', ' pg ', 'ｐｇ']) {
    assertEnvelope((await post('/api/v1/connections', { name: same, kind: 'postgresql', url: 'postgresql://u@h/db' })).body, 'CONNECTION_NAME_TAKEN');
  }
  const other = (await post('/api/v1/connections', { name: 'other', kind: 'postgresql', url: 'postgresql://u@h/db' })).json();
  assertEnvelope((await app.inject({ method: 'PATCH', url: `/api/v1/connections/${other.id}`, headers: H(admin), payload: { name: 'PG' } })).body, 'CONNECTION_NAME_TAKEN');
  assert.equal((await app.inject({ method: 'PATCH', url: `/api/v1/connections/${pg.id}`, headers: H(admin), payload: { name: 'PG' } })).statusCode, 200, 'renaming to its own name in another case');
  const sink = (await post('/api/v1/connections', { name: 'sink', kind: 'mongodb', url: 'mongodb://h/db' })).json();
  const spec = (name: string) => ({ name, source: { connectionId: pg.id }, sink: { connectionId: sink.id }, transport: { kind: 'direct' }, tables: ['public.t'] });
  assert.equal((await post('/api/v1/streams', spec('Orders'))).statusCode, 201);
  assertEnvelope((await post('/api/v1/streams', spec('ORDERS'))).body, 'STREAM_NAME_TAKEN');
  assertEnvelope((await post('/api/v1/streams', spec('ord\u202Eers'))).body, 'VALIDATION_FAILED');
  assert.equal((await post('/api/v1/mappings', { name: 'Map', tables: {} })).statusCode, 201);
  assertEnvelope((await post('/api/v1/mappings', { name: 'MAP', tables: {} })).body, 'MAPPING_NAME_TAKEN');
  void store;
});

test('filters: 4,900 "+" terms, 1e999999 and an interval of a billion years are 400s at create, never a 500 or a failure at start', async () => {
  const src = (await post('/api/v1/connections', { name: 'f-src', kind: 'postgresql', url: 'postgresql://u@h/db' })).json();
  const dst = (await post('/api/v1/connections', { name: 'f-dst', kind: 'mongodb', url: 'mongodb://h/db' })).json();
  const clauses = [`id = ${Array(4900).fill('1').join('+')}`, 'id = 1e999999', "created_at > NOW() - INTERVAL '1000000000 years'", "created_at > NOW() - INTERVAL '100000 years'", `${'('.repeat(3000)}id = 1${')'.repeat(3000)}`];
  for (const whereClause of clauses) {
    const r = await post('/api/v1/streams', {
      name: `f-${whereClause.length}-${whereClause.slice(0, 8)}`,
      source: { connectionId: src.id },
      sink: { connectionId: dst.id },
      transport: { kind: 'direct' },
      tables: ['public.t'],
      relationalTableFilters: { public: { t: { whereClause } } },
    });
    assert.equal(r.statusCode, 400, `${whereClause.slice(0, 60)}: ${r.body.slice(0, 300)}`);
    assertEnvelope(r.body, 'FILTER_CLAUSE_INVALID');
  }
});

test('a stream over a system schema is refused at create (403 SOURCE_SCHEMA_FORBIDDEN) unless its connection allows that schema', async () => {
  const src = (await post('/api/v1/connections', { name: 's-src', kind: 'postgresql', url: 'postgresql://u@h/db' })).json();
  const allowed = (await post('/api/v1/connections', { name: 's-allowed', kind: 'postgresql', url: 'postgresql://u@h/db', options: { allowSystemSchemas: ['pg_catalog'] } })).json();
  const dst = (await post('/api/v1/connections', { name: 's-dst', kind: 'mongodb', url: 'mongodb://h/db' })).json();
  const spec = (source: string, tables: string[], name: string) => ({ name, source: { connectionId: source }, sink: { connectionId: dst.id }, transport: { kind: 'direct' }, tables });
  for (const tables of [['pg_catalog.pg_authid'], ['public.ok', 'information_schema.tables'], ['PG_CATALOG.pg_roles'], ['pg_toast.*']]) {
    const r = await post('/api/v1/streams', spec(src.id, tables, `sys-${tables.join('-')}`));
    assert.equal(r.statusCode, 403, `${tables.join(',')}: ${r.body}`);
    assertEnvelope(r.body, 'SOURCE_SCHEMA_FORBIDDEN');
  }
  assert.equal((await post('/api/v1/streams', spec(allowed.id, ['pg_catalog.pg_authid'], 'sys-allowed'))).statusCode, 201);
  const mysql = (await post('/api/v1/connections', { name: 's-my', kind: 'mysql', url: 'mysql://u@h/mysql' })).json();
  assertEnvelope((await post('/api/v1/streams', spec(mysql.id, ['user'], 'sys-bare'))).body, 'SOURCE_SCHEMA_FORBIDDEN');
});

test('Fastify\'s own URL errors leave in the envelope; a key sent as ?apiKey= is refused and not logged', async () => {
  const { app, admin } = api;
  const long = await app.inject({ url: `/api/v1/connections/${'a'.repeat(600)}`, headers: H(admin) });
  assert.equal(long.statusCode, 414);
  assertEnvelope(long.body, 'URI_TOO_LONG');
  const bad = await app.inject({ url: '/api/v1/streams/%E0%A4%A', headers: H(admin) });
  assert.equal(bad.statusCode, 400);
  assertEnvelope(bad.body, 'HTTP_REQUEST_MALFORMED');
  const table = `s.${'t'.repeat(120)}`;
  assert.notEqual((await app.inject({ url: `/api/v1/connections/x/tables/${table}/columns`, headers: H(admin) })).statusCode, 414, 'a 127-character schema.table fits');
  const key = 'sk_0123456789abcdef_QUERYKEYSHOULDNOTBELOGGED0000000000000000';
  const r = await app.inject({ url: `/api/v1/streams?apiKey=${key}&token=tok-${key.slice(-6)}` });
  assertEnvelope(r.body, 'AUTH_REQUIRED');
  await new Promise((res) => setTimeout(res, 50));
  assert.match(logText, /apiKey=\[redacted\]/, 'the request was logged');
  assert.ok(!logText.includes('QUERYKEYSHOULDNOTBELOGGED'), 'the key is not in the log');
});
