import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import Database from 'better-sqlite3';
import pino from 'pino';
import { openStore } from './index';
import { MIGRATIONS } from './migrations';
import { migrate, schemaVersion } from './db';
import { bootstrapAdminKey, BOOTSTRAP_KEY_ID } from './bootstrap';
import { roleAllows } from './api-keys';
import { SluiceError } from '../errors';

const tmpDir = (): string => fs.mkdtempSync(path.join(os.tmpdir(), 'sluice-store-'));
const quiet = pino({ level: 'silent' });

test('migrations bring a new store to the latest version, and are applied once', async () => {
  const dir = tmpDir();
  const store = openStore({ dataDir: dir, secretKey: '' });
  const latest = MIGRATIONS.at(-1)?.version;
  assert.equal((await store.schemaVersion()), latest);
  await store.close();
  const again = openStore({ dataDir: dir, secretKey: '' });
  assert.equal((await again.schemaVersion()), latest);
  await again.close();
});

test('a later migration runs on an existing store; a store newer than the code is refused', () => {
  const db = new Database(':memory:');
  migrate(db, MIGRATIONS);
  const next = { version: 1000, name: 'extra', sql: 'CREATE TABLE extra (x INTEGER)' };
  assert.equal(migrate(db, [...MIGRATIONS, next]), 1000);
  assert.equal((db.prepare("SELECT count(*) AS n FROM sqlite_master WHERE name = 'extra'").get() as { n: number }).n, 1);
  assert.throws(() => migrate(db, MIGRATIONS), /newer than this sluice knows/);
  assert.equal(schemaVersion(db), 1000);
});

test('connection passwords are stored encrypted, never returned, and put back only for the runtime', async () => {
  const dir = tmpDir();
  const store = openStore({ dataDir: dir, secretKey: '' });
  const c = await store.connections.create({ name: 'src', kind: 'postgresql', url: 'postgresql://app:s3cr%40t@127.0.0.1:55432/app' });
  assert.equal(c.url, 'postgresql://app@127.0.0.1:55432/app');
  assert.equal(c.hasPassword, true);
  assert.ok(!JSON.stringify(c).includes('s3cr'));
  const raw = store.db.prepare('SELECT url, secret FROM connections').get() as { url: string; secret: string };
  assert.ok(!raw.url.includes('s3cr') && !raw.secret.includes('s3cr'));
  assert.equal((await store.connections.resolve(c.id))?.url, 'postgresql://app:s3cr%40t@127.0.0.1:55432/app');
  // A JDBC URL keeps its prefix; savePassword:false stores nothing and takes the password at start.
  const j = await store.connections.create({ name: 'j', kind: 'mysql', url: 'jdbc:mysql://root:pw@h:3306/db', savePassword: false });
  assert.equal(j.hasPassword, false);
  const jId = j.id;
  await assert.rejects(() => store.connections.resolve(jId), (e: unknown) => e instanceof SluiceError && e.code === 'CONNECTION_PASSWORD_REQUIRED' && e.detail.connectionId === jId);
  assert.equal((await store.connections.resolve(j.id, 'given'))?.url, 'jdbc:mysql://root:given@h:3306/db');
  const raw2 = store.db.prepare('SELECT url, secret FROM connections WHERE id = ?').get(j.id) as { url: string; secret: string | null };
  assert.equal(raw2.secret, null, 'savePassword:false: not even the encrypted password is stored');
  assert.ok(!raw2.url.includes('pw@'));
  // Turning savePassword off later forgets a stored password; a URL without a user needs none.
  await store.connections.update(c.id, { savePassword: false });
  assert.equal((store.db.prepare('SELECT secret FROM connections WHERE id = ?').get(c.id) as { secret: string | null }).secret, null);
  const cId = c.id;
  await assert.rejects(() => store.connections.resolve(cId), { code: 'CONNECTION_PASSWORD_REQUIRED' });
  const anon = await store.connections.create({ name: 'anon', kind: 'mongodb', url: 'mongodb://h:27017/db', savePassword: false });
  assert.equal((await store.connections.resolve(anon.id))?.url, 'mongodb://h:27017/db');
  await store.close();
});

test('secret connection options (declared x-secret) are stored encrypted, never returned, kept when left out of a change, and put back for the runtime', async () => {
  const dir = tmpDir();
  const store = openStore({ dataDir: dir, secretKey: '', secretOptions: (kind) => (kind === 'kafka' ? ['sasl.password', 'token'] : []) });
  const c = await store.connections.create({ name: 'k', kind: 'kafka', url: 'h:9092', options: { sasl: { username: 'u', password: 'Pa55-opt' }, token: 'T0ken-opt', topicPartitions: 3 } });
  assert.deepEqual(c.options, { sasl: { username: 'u' }, topicPartitions: 3 }, 'not returned');
  const raw = (store.db.prepare('SELECT options FROM connections WHERE id = ?').get(c.id) as { options: string }).options;
  assert.ok(!raw.includes('Pa55-opt') && !raw.includes('T0ken-opt'), raw);
  assert.deepEqual((await store.connections.resolve(c.id))?.options, { sasl: { username: 'u', password: 'Pa55-opt' }, token: 'T0ken-opt', topicPartitions: 3 });
  // New options without the secrets keep them; a new value replaces one.
  await store.connections.update(c.id, { options: { sasl: { username: 'v' }, topicPartitions: 6, token: 'n3w' } });
  assert.deepEqual((await store.connections.resolve(c.id))?.options, { sasl: { username: 'v', password: 'Pa55-opt' }, token: 'n3w', topicPartitions: 6 });
  // A kind without secrets stores options as they are.
  const pg = await store.connections.create({ name: 'p', kind: 'postgresql', url: 'postgresql://h/db', options: { token: 'plain' } });
  assert.deepEqual((await store.connections.resolve(pg.id))?.options, { token: 'plain' });
  await store.close();
});

test('fs permissions: the generated secret key file is private', async () => {
  const dir = tmpDir();
  await openStore({ dataDir: dir, secretKey: '' }).close();
  assert.equal(fs.statSync(path.join(dir, 'secret.key')).mode & 0o777, 0o600);
});

test('a different secret key is refused at open, before any secret is needed', async () => {
  const dir = tmpDir();
  await openStore({ dataDir: dir, secretKey: Buffer.alloc(32, 1).toString('base64') }).close();
  assert.throws(
    () => openStore({ dataDir: dir, secretKey: Buffer.alloc(32, 2).toString('base64') }),
    (e: unknown) => e instanceof SluiceError && e.code === 'SECRET_KEY_INVALID',
  );
});

test('API keys: shown once, stored hashed, verified, revoked', async () => {
  const store = openStore({ dataDir: tmpDir(), secretKey: '' });
  const { key, record } = await store.apiKeys.create('ci', 'operator');
  assert.match(key, /^sk_[0-9a-f]{16}_/);
  const stored = store.db.prepare('SELECT * FROM api_keys WHERE id = ?').get(record.id) as Record<string, unknown>;
  assert.ok(!Object.values(stored).includes(key));
  assert.equal((await store.apiKeys.verify(key))?.role, 'operator');
  assert.equal((await store.apiKeys.verify(key.slice(0, -1) + (key.endsWith('A') ? 'B' : 'A'))), undefined);
  assert.equal((await store.apiKeys.verify('sk_0000000000000000_' + 'x'.repeat(43))), undefined);
  assert.ok((await store.apiKeys.revoke(record.id)));
  assert.equal((await store.apiKeys.verify(key)), undefined);
  assert.equal((await store.apiKeys.revoke(record.id)), false);
  await store.close();
});

test('roles are ordered viewer < operator < admin', () => {
  assert.ok(roleAllows('admin', 'operator'));
  assert.ok(roleAllows('operator', 'viewer'));
  assert.ok(!roleAllows('viewer', 'operator'));
  assert.ok(!roleAllows('operator', 'admin'));
});

test('bootstrap: SLUICE_ADMIN_KEY becomes the admin key on the first start only', async () => {
  const dir = tmpDir();
  const store = openStore({ dataDir: dir, secretKey: '' });
  await bootstrapAdminKey(store.apiKeys, dir, 'chosen-admin-key', quiet);
  assert.equal((await store.apiKeys.verify('chosen-admin-key'))?.id, BOOTSTRAP_KEY_ID);
  await bootstrapAdminKey(store.apiKeys, dir, 'another', quiet);
  assert.equal((await store.apiKeys.verify('another')), undefined);
  assert.equal((await store.apiKeys.count()), 1);
  assert.ok(!fs.existsSync(path.join(dir, 'admin.key')));
  await store.close();
});

test('bootstrap: without SLUICE_ADMIN_KEY a key is generated into admin.key, mode 0600', async () => {
  const dir = tmpDir();
  const store = openStore({ dataDir: dir, secretKey: '' });
  await bootstrapAdminKey(store.apiKeys, dir, '', quiet);
  const file = path.join(dir, 'admin.key');
  assert.equal(fs.statSync(file).mode & 0o777, 0o600);
  assert.equal((await store.apiKeys.verify(fs.readFileSync(file, 'utf8').trim()))?.role, 'admin');
  await store.close();
});

test('lists page, sort and filter the same way', async () => {
  const store = openStore({ dataDir: tmpDir(), secretKey: '' });
  for (const [name, kind] of [['c', 'mysql'], ['a', 'postgresql'], ['b', 'postgresql']] as const) {
    await store.connections.create({ name, kind, url: `${kind}://u@h/db` });
  }
  const byName = await store.connections.list({ sort: 'name' });
  assert.deepEqual(byName.items.map((c) => c.name), ['a', 'b', 'c']);
  assert.equal(byName.total, 3);
  assert.deepEqual((await store.connections.list({ sort: '-name', limit: 2 })).items.map((c) => c.name), ['c', 'b']);
  assert.deepEqual((await store.connections.list({ sort: 'name', offset: 2 })).items.map((c) => c.name), ['c']);
  const pg = await store.connections.list({ filters: { kind: 'postgresql' } });
  assert.equal(pg.total, 2);
  assert.ok(pg.items.every((c) => c.kind === 'postgresql'));
  await store.close();
});

/** A source and a sink connection for a stream to name: the store refuses a stream whose connections do not exist. */
async function streamEnds(store: ReturnType<typeof openStore>): Promise<{ source: { connectionId: string }; sink: { connectionId: string } }> {
  const source = await store.connections.create({ name: 'source', kind: 'postgresql', url: 'postgresql://u@h/db' });
  const sink = await store.connections.create({ name: 'sink', kind: 'mongodb', url: 'mongodb://h:27017/db' });
  return { source: { connectionId: source.id }, sink: { connectionId: sink.id } };
}

test('positions, runs and job updates round-trip; deleting a stream removes them', async () => {
  const store = openStore({ dataDir: tmpDir(), secretKey: '' });
  const s = await store.streams.create({
    name: 's',
    ...(await streamEnds(store)),
    transport: { kind: 'direct' },
    mode: 'CDC',
    tables: [],
    options: {},
  });
  const id = s.spec.id;
  await store.positions.save(id, 'cdc', { lsn: '0/16B3748' });
  await store.positions.save(id, 'cdc', { lsn: '0/16B3800' });
  assert.deepEqual((await store.positions.load(id, 'cdc')), { lsn: '0/16B3800' });
  assert.equal((await store.positions.isSnapshotDone(id)), false);
  await store.positions.markSnapshotDone(id);
  assert.equal((await store.positions.isSnapshotDone(id)), true);
  const run = await store.runs.start(id);
  await store.runs.addUpdate(id, run, { level: 'ERROR', stage: 'CDC', message: 'boom', errorCode: 'X', suggestion: 'fix it' });
  await store.runs.addUpdate(id, run, { level: 'INFO', stage: 'SNAPSHOT', message: 'ok' });
  assert.equal((await store.runs.listUpdates(id, { filters: { level: 'ERROR' } })).items[0]?.suggestion, 'fix it');
  assert.equal((await store.runs.closeAbandoned()), 1);
  assert.equal((await store.runs.get(run))?.status, 'INTERRUPTED');
  await store.runs.finish(run, { status: 'COMPLETED', counters: { eventsRead: 3 } });
  assert.deepEqual((await store.runs.list(id, {})).items[0]?.counters, { eventsRead: 3 });
  await store.streams.delete(id);
  assert.equal((await store.positions.load(id, 'cdc')), null);
  assert.equal((await store.runs.list(id, {})).total, 0);
  await store.close();
});

test('stream metadata (verificationStatus) persists across a reopen and goes with the stream', async () => {
  const dir = tmpDir();
  let store = openStore({ dataDir: dir, secretKey: '' });
  const spec = { name: 'm', ...(await streamEnds(store)), transport: { kind: 'direct' as const }, mode: 'CDC' as const, tables: [], options: {} };
  const id = (await store.streams.create(spec)).spec.id;
  const other = (await store.streams.create({ ...spec, name: 'm2' })).spec.id;
  assert.deepEqual((await store.streams.metadata(id)), { verificationRequested: false });
  await store.streams.updateMetadata(id, () => ({ verificationRequested: true, verificationStatus: 'VERIFYING' }));
  await store.streams.updateMetadata(id, () => ({ verificationRequested: true, verificationStatus: 'VERIFIED', verifiedAt: 't' }));
  await store.close();
  store = openStore({ dataDir: dir, secretKey: '' });
  assert.deepEqual((await store.streams.metadata(id)), { verificationRequested: true, verificationStatus: 'VERIFIED', verifiedAt: 't' });
  assert.deepEqual((await store.streams.metadata(other)), { verificationRequested: false });
  await store.streams.delete(id);
  assert.deepEqual((await store.streams.metadata(id)), { verificationRequested: false });
  await store.close();
});
