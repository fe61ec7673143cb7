// Password files: only inside secrets.fileDir (links followed), read at each use,
// never stored or returned; through the API, admin only, with clear refusals.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { checkSecretFile, readPasswordFile } from './secret-files';
import { SluiceError } from '../errors';
import { assertEnvelope, startTestApi, type TestApi } from '../api/testing/test-api';

const root = fs.mkdtempSync(path.join(os.tmpdir(), 'sluice-secret-files-'));
const dir = path.join(root, 'secrets');
const outside = path.join(root, 'elsewhere');

before(() => {
  fs.mkdirSync(dir);
  fs.mkdirSync(outside);
  fs.writeFileSync(path.join(dir, 'pg'), 'pg-file-pw\n');
  fs.writeFileSync(path.join(outside, 'stolen'), 'not-yours');
  // Kubernetes' layout: the file is a link to ..data/<name>, ..data a link to a timestamped directory.
  fs.mkdirSync(path.join(dir, '..2026_12_04'));
  fs.writeFileSync(path.join(dir, '..2026_12_04', 'mongo'), 'k8s-pw');
  fs.symlinkSync('..2026_12_04', path.join(dir, '..data'));
  fs.symlinkSync('..data/mongo', path.join(dir, 'mongo'));
  fs.symlinkSync(path.join(outside, 'stolen'), path.join(dir, 'escape'));
  fs.mkdirSync(path.join(dir, 'sub'));
  fs.writeFileSync(path.join(dir, 'big'), 'x'.repeat(70 * 1024));
  fs.writeFileSync(path.join(dir, 'empty'), '\n');
});
after(() => fs.rmSync(root, { recursive: true, force: true }));

const code = (fn: () => unknown): string => {
  try {
    fn();
  } catch (err) {
    assert.ok(err instanceof SluiceError, String(err));
    return err.code;
  }
  return 'none';
};

test('a file inside the directory is read (one trailing newline dropped); relative paths are taken from it; Kubernetes links work', () => {
  assert.equal(readPasswordFile(path.join(dir, 'pg'), dir), 'pg-file-pw');
  assert.equal(readPasswordFile('pg', dir), 'pg-file-pw');
  assert.equal(readPasswordFile(path.join(dir, 'mongo'), dir), 'k8s-pw');
  assert.equal(checkSecretFile('mongo', dir).path, path.join(dir, 'mongo'));
});

test('outside the directory, through .., through a link that leaves it, or with no directory configured: SECRET_FILE_NOT_ALLOWED', () => {
  assert.equal(code(() => checkSecretFile(path.join(outside, 'stolen'), dir)), 'SECRET_FILE_NOT_ALLOWED');
  assert.equal(code(() => checkSecretFile('../elsewhere/stolen', dir)), 'SECRET_FILE_NOT_ALLOWED');
  assert.equal(code(() => checkSecretFile('/etc/passwd', dir)), 'SECRET_FILE_NOT_ALLOWED');
  assert.equal(code(() => checkSecretFile(dir, dir)), 'SECRET_FILE_NOT_ALLOWED', 'the directory itself');
  assert.equal(code(() => checkSecretFile(path.join(dir, 'escape'), dir)), 'SECRET_FILE_NOT_ALLOWED');
  assert.equal(code(() => checkSecretFile(path.join(dir, 'pg'), '')), 'SECRET_FILE_NOT_ALLOWED');
  // Outside, nothing is probed: a missing file there is refused the same way.
  assert.equal(code(() => checkSecretFile(path.join(outside, 'nope'), dir)), 'SECRET_FILE_NOT_ALLOWED');
});

test('missing, not a regular file, too large or empty: SECRET_FILE_UNREADABLE; at use time a file no longer allowed is unreadable too', () => {
  assert.equal(code(() => checkSecretFile('nope', dir)), 'SECRET_FILE_UNREADABLE');
  assert.equal(code(() => checkSecretFile('sub', dir)), 'SECRET_FILE_UNREADABLE');
  assert.equal(code(() => checkSecretFile('big', dir)), 'SECRET_FILE_UNREADABLE');
  assert.equal(code(() => readPasswordFile('empty', dir)), 'SECRET_FILE_UNREADABLE');
  assert.equal(code(() => readPasswordFile(path.join(dir, 'escape'), dir)), 'SECRET_FILE_UNREADABLE');
  assert.equal(code(() => readPasswordFile(path.join(dir, 'pg'), '')), 'SECRET_FILE_UNREADABLE');
});

let api: TestApi;
const H = (key: string) => ({ 'x-api-key': key });
const conn = (extra: Record<string, unknown>) => ({ name: `c-${Math.random().toString(36).slice(2)}`, kind: 'postgresql', url: 'postgresql://app@db.example:5432/app', ...extra });

test('through the API: passwordFile is admin only, checked at create, shown as a path, read at each use (rotation), never returned', async () => {
  api = await startTestApi({ SLUICE_SECRETS_FILE_DIR: dir });
  try {
    const operator = (await api.store.apiKeys.create('op', 'operator')).key;
    assert.equal((await api.app.inject({ method: 'POST', url: '/api/v1/connections', headers: H(operator), payload: conn({ passwordFile: 'pg' }) })).statusCode, 403);
    const r = await api.app.inject({ method: 'POST', url: '/api/v1/connections', headers: H(api.admin), payload: conn({ passwordFile: 'pg' }) });
    assert.equal(r.statusCode, 201, r.body);
    const c = r.json() as { id: string; passwordFile: string; hasPassword: boolean };
    assert.deepEqual([c.passwordFile, c.hasPassword], [path.join(dir, 'pg'), true]);
    assert.ok(!r.body.includes('pg-file-pw'));
    assert.equal(new URL((await api.store.connections.resolve(c.id))!.url).password, 'pg-file-pw');
    // Rotation: the mounted file changes, the next use reads the new password.
    fs.writeFileSync(path.join(dir, 'pg'), 'rotated-pw\n');
    assert.equal(new URL((await api.store.connections.resolve(c.id))!.url).password, 'rotated-pw');
    const shown = await api.app.inject({ url: `/api/v1/connections/${c.id}`, headers: H(api.admin) });
    assert.ok(!shown.body.includes('rotated-pw'));
    const row = JSON.stringify(api.store.db.prepare('SELECT * FROM connections WHERE id = ?').get(c.id));
    assert.ok(!row.includes('rotated-pw') && row.includes('"secret":null'), row);
    // A password given later replaces the file; a file given later replaces the password.
    const patched = await api.app.inject({ method: 'PATCH', url: `/api/v1/connections/${c.id}`, headers: H(api.admin), payload: { password: 'stored-pw' } });
    assert.equal(patched.json().passwordFile, null);
    assert.equal(new URL((await api.store.connections.resolve(c.id))!.url).password, 'stored-pw');
    const back = await api.app.inject({ method: 'PATCH', url: `/api/v1/connections/${c.id}`, headers: H(api.admin), payload: { passwordFile: path.join(dir, 'mongo') } });
    assert.equal(back.json().passwordFile, path.join(dir, 'mongo'));
    assert.equal(new URL((await api.store.connections.resolve(c.id))!.url).password, 'k8s-pw');
    assert.equal((api.store.db.prepare('SELECT secret FROM connections WHERE id = ?').get(c.id) as { secret: string | null }).secret, null, 'the stored password is dropped');
    // The file disappears: using the connection says which file, and how to fix it.
    fs.renameSync(path.join(dir, '..2026_12_04', 'mongo'), path.join(dir, '..2026_12_04', 'gone'));
    const test1 = await api.app.inject({ method: 'POST', url: `/api/v1/connections/${c.id}/test`, headers: H(api.admin), payload: {} });
    assert.equal(test1.statusCode, 400, test1.body);
    const e = assertEnvelope(test1.body, 'SECRET_FILE_UNREADABLE');
    assert.equal((e.detail as { connectionId: string }).connectionId, c.id);
    fs.renameSync(path.join(dir, '..2026_12_04', 'gone'), path.join(dir, '..2026_12_04', 'mongo'));

    // Refusals, each naming the field.
    const refusals: Array<[Record<string, unknown>, number, string]> = [
      [conn({ passwordFile: '/etc/passwd' }), 403, 'SECRET_FILE_NOT_ALLOWED'],
      [conn({ passwordFile: 'escape' }), 403, 'SECRET_FILE_NOT_ALLOWED'],
      [conn({ passwordFile: 'nope' }), 400, 'SECRET_FILE_UNREADABLE'],
      [conn({ passwordFile: 'pg', password: 'x' }), 400, 'VALIDATION_FAILED'],
      [conn({ passwordFile: 'pg', url: 'postgresql://app:inurl@db.example:5432/app' }), 400, 'VALIDATION_FAILED'],
      [conn({ passwordFile: 'pg', savePassword: false }), 400, 'VALIDATION_FAILED'],
    ];
    for (const [payload, status, errCode] of refusals) {
      const x = await api.app.inject({ method: 'POST', url: '/api/v1/connections', headers: H(api.admin), payload });
      assert.equal(x.statusCode, status, `${JSON.stringify(payload)}: ${x.body}`);
      assert.equal((assertEnvelope(x.body, errCode as 'VALIDATION_FAILED').detail as { field: string }).field, 'passwordFile');
    }
    const notAllowed = await api.app.inject({ method: 'POST', url: '/api/v1/connections', headers: H(api.admin), payload: conn({ passwordFile: '/etc/passwd' }) });
    assert.match(JSON.parse(notAllowed.body).error.message, new RegExp(`outside ${dir.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')}`));
  } finally {
    await api.close();
  }
});

test('a daemon without secrets.fileDir refuses every passwordFile, saying how to allow it', async () => {
  const plain = await startTestApi();
  try {
    const r = await plain.app.inject({ method: 'POST', url: '/api/v1/connections', headers: H(plain.admin), payload: conn({ passwordFile: path.join(dir, 'pg') }) });
    assert.equal(r.statusCode, 403);
    const e = assertEnvelope(r.body, 'SECRET_FILE_NOT_ALLOWED');
    assert.match(e.message as string, /SLUICE_SECRETS_FILE_DIR/);
  } finally {
    await plain.close();
  }
});
