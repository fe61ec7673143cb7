// API keys with an expiry, and rotation (create the new key, switch, revoke the old).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { assertEnvelope, startTestApi, type TestApi } from './testing/test-api';

let api: TestApi;
const H = (key: string) => ({ 'x-api-key': key });

before(async () => {
  api = await startTestApi({ SLUICE_API_AUTH_FAILURES_MAX: '3' });
});
after(async () => {
  await api.close();
});

const create = (payload: Record<string, unknown>) => api.app.inject({ method: 'POST', url: '/api/v1/api-keys', headers: H(api.admin), payload });
/** Moves a key's expiry into the past, as time would. */
const expire = (id: string) => api.store.db.prepare('UPDATE api_keys SET expires_at = ? WHERE id = ?').run(new Date(Date.now() - 1000).toISOString(), id);

test('a key created with expiresAt works until then, then gets 401 AUTH_KEY_EXPIRED naming the key and the time', async () => {
  const at = new Date(Date.now() + 86_400_000);
  const r = await create({ name: 'temp', role: 'operator', expiresAt: at.toISOString().replace(/\.\d+Z$/, '+00:00') });
  assert.equal(r.statusCode, 201, r.body);
  const { id, key, expiresAt, expired } = r.json() as { id: string; key: string; expiresAt: string; expired: boolean };
  assert.equal(expiresAt, new Date(Math.floor(at.getTime() / 1000) * 1000).toISOString(), 'stored in UTC');
  assert.equal(expired, false);
  const me = await api.app.inject({ url: '/api/v1/', headers: H(key) });
  assert.equal(me.statusCode, 200);
  assert.equal(me.json().key.expiresAt, expiresAt);

  expire(id);
  const refused = await api.app.inject({ url: '/api/v1/streams', headers: H(key), remoteAddress: '10.20.0.1' });
  assert.equal(refused.statusCode, 401);
  const e = assertEnvelope(refused.body, 'AUTH_KEY_EXPIRED');
  assert.equal((e.detail as { keyId: string }).keyId, id);
  assert.match(e.message as string, new RegExp(`${id} expired at`));
  // Listed with its expiry, and marked expired.
  const listed = (await api.app.inject({ url: '/api/v1/api-keys?sort=-expiresAt', headers: H(api.admin) })).json() as { items: Array<{ id: string; expiresAt: string | null; expired: boolean }> };
  const row = listed.items.find((k) => k.id === id);
  assert.ok(row && row.expired === true && row.expiresAt !== null, JSON.stringify(row));
  assert.equal(listed.items[0]?.id, id, 'sorted by expiresAt, descending (a key without expiry sorts last)');
  const one = (await api.app.inject({ url: `/api/v1/api-keys/${id}`, headers: H(api.admin) })).json();
  assert.equal(one.expired, true);
  // A key without expiresAt never expires.
  const forever = (await create({ name: 'forever', role: 'viewer' })).json();
  assert.equal(forever.expiresAt, null);
  assert.equal(forever.expired, false);
});

test('an expired key counts as a failed authentication for the rate limit', async () => {
  const { record, key } = await api.store.apiKeys.create('soon-gone', 'viewer', new Date(Date.now() + 60_000).toISOString());
  expire(record.id);
  const ip = '10.20.0.2';
  for (let i = 0; i < 3; i++) assert.equal((await api.app.inject({ url: '/api/v1/', headers: H(key), remoteAddress: ip })).statusCode, 401);
  const limited = await api.app.inject({ url: '/api/v1/', headers: H(key), remoteAddress: ip });
  assert.equal(limited.statusCode, 429);
  assertEnvelope(limited.body, 'AUTH_RATE_LIMITED');
});

test('expiresAt must be an RFC 3339 date-time in the future: 400 naming the field otherwise', async () => {
  for (const expiresAt of ['tomorrow', '2030-02-30', '2030-01-01 00:00:00', '2001-01-01T00:00:00Z', new Date(Date.now() - 1000).toISOString(), 7]) {
    const r = await create({ name: 'bad', role: 'viewer', expiresAt });
    assert.equal(r.statusCode, 400, `${String(expiresAt)}: ${r.body}`);
    const e = assertEnvelope(r.body, 'VALIDATION_FAILED');
    assert.equal((e.detail as { field: string }).field, 'expiresAt');
  }
});

test('rotation: create the new key, switch to it, revoke the old one; the old one is then refused, the new one works', async () => {
  const old = (await create({ name: 'ci-deployer', role: 'operator' })).json() as { id: string; key: string };
  const fresh = (await create({ name: 'ci-deployer (2027)', role: 'operator', expiresAt: new Date(Date.now() + 90 * 86_400_000).toISOString() })).json() as { id: string; key: string };
  // Both work during the switch.
  for (const k of [old.key, fresh.key]) assert.equal((await api.app.inject({ url: '/api/v1/streams', headers: H(k) })).statusCode, 200);
  assert.equal((await api.app.inject({ method: 'DELETE', url: `/api/v1/api-keys/${old.id}`, headers: H(api.admin) })).statusCode, 204);
  assertEnvelope((await api.app.inject({ url: '/api/v1/streams', headers: H(old.key), remoteAddress: '10.20.0.3' })).body, 'AUTH_INVALID_KEY');
  assert.equal((await api.app.inject({ url: '/api/v1/streams', headers: H(fresh.key) })).statusCode, 200);
  const revoked = (await api.app.inject({ url: `/api/v1/api-keys/${old.id}`, headers: H(api.admin) })).json();
  assert.ok(revoked.revokedAt);
});
