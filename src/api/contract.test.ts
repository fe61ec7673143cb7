// Contract tests generated from the route table (roles.ts) and the routes Fastify
// actually registered: the full 401/403 matrix, unknown body fields, the error
// responses in /openapi.json, and the failed-authentication rate limit.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import type { InjectOptions } from 'fastify';
import { READ_ONLY_POSTS, ROUTE_ROLES, isAudited } from './roles';
import { failureCounter } from './auth';
import { ROLES, roleAllows, type Role } from '../store/api-keys';
import { assertEnvelope, startTestApi, type TestApi } from './testing/test-api';

let api: TestApi;
const keys = {} as Record<Role, string>;
let address = 0;
/** A fresh client address for each failing call, so the matrix does not trip the rate limit. */
const freshAddress = () => `10.77.${(++address >> 8) & 255}.${address & 255}`;

before(async () => {
  api = await startTestApi();
  for (const r of ROLES) keys[r] = (await api.store.apiKeys.create(`contract-${r}`, r)).key;
});

after(async () => {
  await api.close();
});

const routes = () => Object.entries(ROUTE_ROLES) as [string, Role][];
const split = (key: string) => {
  const [method, url] = key.split(' ') as [InjectOptions['method'] & string, string];
  return { method, url: url.replace(/:(\w+)/g, 'no-such-$1') };
};

test('every registered /api route has an entry in the role table, and every entry a route', () => {
  const registered = [...api.app.apiRoutes.keys()].sort();
  const table = Object.keys(ROUTE_ROLES).sort();
  assert.deepEqual(
    registered.filter((r) => !table.includes(r)),
    [],
    'routes without a role in ROUTE_ROLES (src/api/roles.ts): they need admin until listed',
  );
  assert.deepEqual(table.filter((r) => !registered.includes(r)), [], 'ROUTE_ROLES entries with no route');
});

test('the 401/403 matrix: every route × no key, bad key, viewer, operator, admin', async () => {
  let checked = 0;
  for (const [key, need] of routes()) {
    const { method, url } = split(key);
    const anon = await api.app.inject({ method, url, remoteAddress: freshAddress() });
    assert.equal(anon.statusCode, 401, `${key} without a key`);
    assertEnvelope(anon.body, 'AUTH_REQUIRED');
    const bad = await api.app.inject({ method, url, headers: { 'x-api-key': 'sk_0000000000000000_not-a-real-key-not-a-real-key-not-a-real-k' }, remoteAddress: freshAddress() });
    assert.equal(bad.statusCode, 401, `${key} with a bad key`);
    assertEnvelope(bad.body, 'AUTH_INVALID_KEY');
    for (const role of ROLES) {
      const r = await api.app.inject({ method, url, headers: { 'x-api-key': keys[role] } });
      if (roleAllows(role, need)) {
        assert.ok(![401, 403].includes(r.statusCode), `${key} as ${role} (needs ${need}): ${r.statusCode} ${r.body}`);
        assert.ok(r.statusCode < 500, `${key} as ${role}: ${r.statusCode} ${r.body}`);
      } else {
        assert.equal(r.statusCode, 403, `${key} as ${role} (needs ${need})`);
        const e = assertEnvelope(r.body, 'FORBIDDEN_ROLE');
        assert.deepEqual(e.detail, { need, have: role });
      }
      checked++;
    }
  }
  assert.equal(checked, routes().length * ROLES.length);
});

test('the matrix follows the brief: viewers only read (but not row data), operators also run streams, test connections, preview rows and mappings, and verify', () => {
  for (const [key, need] of routes()) {
    const { method } = split(key);
    // Previewing rows shows customer data: operator, not viewer.
    if (key === 'GET /api/v1/connections/:id/tables/:table/rows') assert.equal(need, 'operator', key);
    // Who changed what, and the keys themselves: admin only.
    else if (method === 'GET' && (key.includes('/api-keys') || key === 'GET /api/v1/audit')) assert.equal(need, 'admin', key);
    else if (method === 'GET') assert.equal(need, 'viewer', key);
    else if (/^POST .*\/(start|pause|resume|stop|cutover|test|validate|verify|mapping\/preview)$/.test(key)) assert.equal(need, 'operator', key);
    else assert.equal(need, 'admin', key);
  }
});

interface Schema {
  $ref?: string;
  allOf?: Schema[];
  oneOf?: Schema[];
  type?: string | string[];
  required?: string[];
  properties?: Record<string, Schema>;
  additionalProperties?: boolean | Schema;
  minProperties?: number;
  enum?: unknown[];
  minLength?: number;
  minimum?: number;
}

/** The smallest value the schema accepts (required fields only). */
function minimal(s: Schema): unknown {
  if (s.enum) return s.enum[0];
  const type = Array.isArray(s.type) ? s.type[0] : s.type;
  if (type === 'string') return 'a'.repeat(Math.max(1, s.minLength ?? 1));
  if (type === 'integer' || type === 'number') return s.minimum ?? 1;
  if (type === 'boolean') return true;
  if (type === 'array') return [];
  const out: Record<string, unknown> = {};
  for (const k of s.required ?? []) out[k] = minimal(s.properties?.[k] ?? {});
  return out;
}

/** A schema with its shared-schema reference (and a lone allOf around one) resolved. */
function resolved(s: Schema): Schema {
  if (s.$ref) return resolved(api.app.getSchema(s.$ref.replace(/#$/, '')) as Schema);
  if (s.allOf?.length === 1) return { ...resolved(s.allOf[0]!), ...Object.fromEntries(Object.entries(s).filter(([k]) => k !== 'allOf')) };
  return s;
}

test('unknown body fields are rejected with 400 naming the field, on every route with a body, nested too', async () => {
  let checked = 0;
  // A body chosen by its kind (a connection: oneOf + discriminator) is checked branch by branch.
  const bodies = [...api.app.apiRoutes].flatMap(([key, { body }]) => (body ? ((body as Schema).oneOf ?? [body as Schema]).map((b) => [key, resolved(b)] as const) : []));
  for (const [key, schema] of bodies) {
    assert.equal(schema.additionalProperties, false, `${key}: its body schema must reject unknown fields`);
    const { method, url } = split(key);
    const base = minimal(schema) as Record<string, unknown>;
    const cases: [Record<string, unknown>, string][] = [[{ ...base, zzUnknown: 1 }, 'zzUnknown']];
    for (const [name, p] of Object.entries(schema.properties ?? {})) {
      const prop = resolved(p);
      if (prop.type === 'object' && prop.additionalProperties === false) {
        cases.push([{ ...base, [name]: { ...(minimal(prop) as object), zzNested: 1 } }, `${name}.zzNested`]);
      }
    }
    for (const [payload, field] of cases) {
      const r = await api.app.inject({ method, url, headers: { 'x-api-key': keys.admin }, payload });
      assert.equal(r.statusCode, 400, `${key} ${JSON.stringify(payload)}: ${r.body}`);
      const e = assertEnvelope(r.body, 'VALIDATION_FAILED');
      assert.equal((e.detail as { field: string }).field, field, `${key}: ${r.body}`);
      assert.ok((e.message as string).includes(`"${field}" is not a known field`), e.message as string);
      checked++;
    }
  }
  assert.ok(checked >= 8, `only ${checked} body cases`);
});

test('/openapi.json documents every route with its error responses in the envelope', async () => {
  type Op = { responses: Record<string, { description?: string; content?: Record<string, { schema?: { $ref?: string } }> }> };
  const doc = (await api.app.inject('/openapi.json')).json() as { paths: Record<string, Record<string, Op>>; components: { schemas: Record<string, unknown> } };
  assert.ok(doc.components.schemas.ErrorEnvelope, 'the envelope is a component');
  for (const [key, need] of routes()) {
    const [method, url] = key.split(' ') as [string, string];
    const path = url.replace(/:(\w+)/g, '{$1}');
    const op = doc.paths[path]?.[method.toLowerCase()] ?? doc.paths[`${path}/`]?.[method.toLowerCase()];
    assert.ok(op, `${key} is not in /openapi.json`);
    const expected: Record<string, string> = { 400: 'VALIDATION_FAILED', 401: 'AUTH_INVALID_KEY', 429: 'AUTH_RATE_LIMITED', 500: 'INTERNAL', 503: 'SHUTTING_DOWN' };
    if (need !== 'viewer') expected[403] = 'FORBIDDEN_ROLE';
    if (url.includes(':id')) expected[404] = '_NOT_FOUND';
    for (const [status, code] of Object.entries(expected)) {
      const res = op.responses[status];
      assert.ok(res, `${key} documents no ${status}`);
      assert.equal(res.content?.['application/json']?.schema?.$ref, '#/components/schemas/ErrorEnvelope', `${key} ${status}`);
      assert.ok(res.description?.includes(code), `${key} ${status}: ${res.description}`);
    }
  }
});

test('failed authentication: 429 with Retry-After past the limit, successes do not count and are never blocked, per address', async () => {
  const limited = await startTestApi({ SLUICE_API_AUTH_FAILURES_MAX: '3', SLUICE_API_AUTH_FAILURES_WINDOW_SECONDS: '60' });
  try {
    const key = limited.admin;
    const call = (k: string | undefined, remoteAddress: string) =>
      limited.app.inject({ url: '/api/v1/streams', headers: k ? { 'x-api-key': k } : {}, remoteAddress });
    // Two failures, then many successes: the successes do not count towards the limit.
    assert.equal((await call('sk_bad', '10.5.0.1')).statusCode, 401);
    assert.equal((await call(undefined, '10.5.0.1')).statusCode, 401);
    for (let i = 0; i < 10; i++) assert.equal((await call(key, '10.5.0.1')).statusCode, 200);
    // The third failure reaches the limit; from then on failures get 429, and a good key still gets in (issue 22).
    assert.equal((await call('sk_bad', '10.5.0.1')).statusCode, 401);
    assert.equal((await call(key, '10.5.0.1')).statusCode, 200, 'a valid key is never locked out');
    const blocked = await call('sk_bad', '10.5.0.1');
    assert.equal(blocked.statusCode, 429);
    assertEnvelope(blocked.body, 'AUTH_RATE_LIMITED');
    const retryAfter = Number(blocked.headers['retry-after']);
    assert.ok(Number.isInteger(retryAfter) && retryAfter >= 1 && retryAfter <= 60, `Retry-After: ${blocked.headers['retry-after']}`);
    assert.equal(JSON.parse(blocked.body).error.detail.retryAfterSeconds, retryAfter);
    // Another address is not affected; open routes stay open.
    assert.equal((await call(key, '10.5.0.2')).statusCode, 200);
    assert.equal((await limited.app.inject({ url: '/healthz', remoteAddress: '10.5.0.1' })).statusCode, 200);
  } finally {
    await limited.close();
  }
});

test('the failure window: blocked at the limit, open again once the window has passed', () => {
  const c = failureCounter(2, 60_000);
  const t0 = 1_000_000;
  c.fail('a', t0);
  assert.equal(c.blocked('a', t0 + 1), 0);
  c.fail('a', t0 + 1000);
  assert.equal(c.blocked('a', t0 + 1000), 59);
  assert.equal(c.blocked('b', t0 + 1000), 0);
  assert.equal(c.blocked('a', t0 + 59_500), 1);
  assert.equal(c.blocked('a', t0 + 60_001), 0);
  c.fail('a', t0 + 60_001);
  assert.equal(c.blocked('a', t0 + 60_002), 0, 'a new window starts counting from one');
});

test('the audit trail covers every route that is not a read: each non-GET route leaves an entry with its route and target, the read-only POSTs none', async () => {
  assert.ok([...READ_ONLY_POSTS].every((k) => k in ROUTE_ROLES), 'READ_ONLY_POSTS names routes');
  let audited = 0;
  for (const [key] of routes()) {
    const { method, url } = split(key);
    if (method === 'GET') {
      assert.equal(isAudited(key), false, key);
      continue;
    }
    const before = (await api.store.audit.list({ limit: 1 })).total;
    const r = await api.app.inject({ method, url, headers: { 'x-api-key': keys.admin } });
    const after = await api.store.audit.list({ limit: 1 });
    if (READ_ONLY_POSTS.has(key)) {
      assert.equal(after.total, before, `${key} is read-only: no entry`);
      continue;
    }
    assert.equal(after.total, before + 1, `${key}: one audit entry`);
    const e = after.items[0]!;
    const pattern = key.split(' ')[1]!;
    assert.deepEqual([e.method, e.route, e.status, e.keyRole], [method, pattern, r.statusCode, 'admin'], key);
    if (pattern.includes(':id')) assert.equal(e.targetId, 'no-such-id', key);
    if (r.statusCode >= 400) assert.equal(e.errorCode ?? null, r.statusCode === 440 || r.statusCode === 470 ? null : JSON.parse(r.body).error.code, key);
    audited++;
  }
  assert.ok(audited >= 19, `${audited} audited routes`);
});
