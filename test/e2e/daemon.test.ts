/**
 * The daemon as an operator runs it: the built CLI in a child process, on its
 * embedded defaults, in a temporary data dir. No external server is needed.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { spawnSync } from 'node:child_process';
import { CLI, cleanEnv, startDaemon, tmpDataDir } from '../helpers/daemon';

const tmp = (): string => tmpDataDir();

test('on embedded defaults the daemon answers health, metrics, docs and the API within 10 s', async () => {
  const dataDir = tmp();
  const d = await startDaemon(dataDir, {}, { timeoutMs: 10000 });
  try {
    for (const p of ['/healthz', '/readyz', '/metrics', '/docs/', '/openapi.json']) {
      const r = await fetch(d.base + p);
      assert.equal(r.status, 200, p);
    }
    assert.match(await (await fetch(d.base + '/metrics')).text(), /sluice_build_info/);
    const anon = await fetch(d.base + '/api/v1/');
    assert.equal(anon.status, 401);
    assert.equal(((await anon.json()) as { error: { code: string } }).error.code, 'AUTH_REQUIRED');
    const keyFile = path.join(dataDir, 'admin.key');
    assert.equal(fs.statSync(keyFile).mode & 0o777, 0o600);
    const key = fs.readFileSync(keyFile, 'utf8').trim();
    const ok = await fetch(d.base + '/api/v1/', { headers: { 'x-api-key': key } });
    assert.equal(ok.status, 200);
    assert.match(d.output(), new RegExp(keyFile.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')), 'the log names the key file');
    assert.ok(!d.output().includes(key), 'the key itself is never logged');
  } finally {
    d.proc.kill('SIGTERM');
    assert.equal(await d.exited, 0);
  }
});

test('SIGTERM stops the daemon cleanly with exit 0', async () => {
  const d = await startDaemon(tmp());
  d.proc.kill('SIGTERM');
  assert.equal(await d.exited, 0);
  assert.match(d.output(), /sluice stopped cleanly/);
});

test('SLUICE_ADMIN_KEY becomes the admin key and is not written to disk or logs', async () => {
  const dataDir = tmp();
  const d = await startDaemon(dataDir, { SLUICE_ADMIN_KEY: 'e2e-admin-key-0123456789' });
  try {
    assert.equal((await fetch(d.base + '/api/v1/', { headers: { 'x-api-key': 'e2e-admin-key-0123456789' } })).status, 200);
    assert.equal((await fetch(d.base + '/api/v1/', { headers: { 'x-api-key': 'wrong' } })).status, 401);
    assert.ok(!fs.existsSync(path.join(dataDir, 'admin.key')));
    assert.ok(!d.output().includes('e2e-admin-key-0123456789'));
  } finally {
    d.proc.kill('SIGTERM');
    await d.exited;
  }
});

test('after kill -9 and a restart the store is intact', async () => {
  const dataDir = tmp();
  const key = 'kill9-admin-key-0123456789';
  const first = await startDaemon(dataDir, { SLUICE_ADMIN_KEY: key });
  const headers = { 'x-api-key': key, 'content-type': 'application/json' };
  const conn = await fetch(first.base + '/api/v1/connections', {
    method: 'POST',
    headers,
    body: JSON.stringify({ name: 'src', kind: 'postgresql', url: 'postgresql://app:pw@127.0.0.1:55432/app' }),
  });
  assert.equal(conn.status, 201);
  const made = (await (await fetch(first.base + '/api/v1/api-keys', { method: 'POST', headers, body: JSON.stringify({ name: 'ops', role: 'viewer' }) })).json()) as { key: string };
  first.proc.kill('SIGKILL');
  await first.exited;

  const second = await startDaemon(dataDir, { SLUICE_ADMIN_KEY: key });
  try {
    const list = (await (await fetch(second.base + '/api/v1/connections', { headers })).json()) as { items: Array<{ name: string; hasPassword: boolean }> };
    assert.deepEqual(list.items.map((c) => [c.name, c.hasPassword]), [['src', true]]);
    assert.equal((await fetch(second.base + '/api/v1/', { headers: { 'x-api-key': made.key } })).status, 200);
  } finally {
    second.proc.kill('SIGTERM');
    await second.exited;
  }
});

test('bad configuration exits non-zero with a message naming the key', () => {
  const env = cleanEnv({ SLUICE_DATA_DIR: tmp(), SLUICE_API_PORT: 'not-a-port' });
  const r = spawnSync(process.execPath, [CLI, 'start'], { env, encoding: 'utf8', timeout: 10000 });
  assert.equal(r.status, 2);
  assert.match(r.stderr, /api\.port/);
  assert.match(r.stderr, /SLUICE_API_PORT/);

  const file = path.join(tmp(), 'sluice.yaml');
  fs.writeFileSync(file, 'api:\n  host: 127.0.0.1\nlogging:\n  level: info\n');
  const v = spawnSync(process.execPath, [CLI, 'config', 'validate', file], { env: cleanEnv({}), encoding: 'utf8' });
  assert.equal(v.status, 2);
  assert.match(v.stderr, /"logging\.level"/);
  const s = spawnSync(process.execPath, [CLI, '--config', file], { env: cleanEnv({ SLUICE_DATA_DIR: tmp() }), encoding: 'utf8', timeout: 10000 });
  assert.equal(s.status, 2);
  assert.match(s.stderr, /logging/);
});

test('a port already in use is a clear start failure, not a hang', async () => {
  const d = await startDaemon(tmp());
  try {
    const port = new URL(d.base).port;
    const r = spawnSync(process.execPath, [CLI, 'start'], { env: cleanEnv({ SLUICE_DATA_DIR: tmp(), SLUICE_API_PORT: port }), encoding: 'utf8', timeout: 10000 });
    assert.equal(r.status, 1);
    assert.match(r.stdout + r.stderr, /EADDRINUSE/);
  } finally {
    d.proc.kill('SIGTERM');
    await d.exited;
  }
});

test('the CLI prints its version, validates the example config and masks secrets in config print', () => {
  const pkg = JSON.parse(fs.readFileSync(path.resolve(__dirname, '../../../package.json'), 'utf8')) as { version: string };
  assert.equal(spawnSync(process.execPath, [CLI, '--version'], { encoding: 'utf8' }).stdout.trim(), pkg.version);
  const example = path.resolve(__dirname, '../../../config/sluice.example.yaml');
  assert.equal(spawnSync(process.execPath, [CLI, 'config', 'validate', example], { env: cleanEnv({}), encoding: 'utf8' }).status, 0);
  const printed = spawnSync(process.execPath, [CLI, 'config', 'print'], { env: cleanEnv({ SLUICE_ADMIN_KEY: 'print-me-not' }), encoding: 'utf8' });
  assert.equal(printed.status, 0);
  assert.ok(!printed.stdout.includes('print-me-not'));
  assert.equal(JSON.parse(printed.stdout).auth.adminKey, '[Sensitive]');
  const bad = spawnSync(process.execPath, [CLI, 'frobnicate'], { encoding: 'utf8' });
  assert.equal(bad.status, 2);
  assert.match(bad.stderr, /unknown command/);
});
