/**
 * Reaching the API safely (issue 21), with the built daemon and the stack's CA:
 * - HTTPS with SLUICE_API_TLS_CERT/KEY: answers clients that trust the stack CA (the
 *   CLI with --cacert or SLUICE_API_CA, curl --cacert), refuses those that do not;
 *   plain HTTP gets nothing; the certificate follows its files when they change.
 * - A non-loopback bind on plain HTTP is refused at start (exit 2, naming api.host and
 *   the ways out); SLUICE_API_INSECURE=true starts it, with a warning.
 * - Secrets from files: SLUICE_ADMIN_KEY_FILE, SLUICE_SECRET_KEY_FILE, and a
 *   connection's passwordFile read at each use: rotating the PostgreSQL password and
 *   the file together needs no API call.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { execFile, spawn } from 'node:child_process';
import { promisify } from 'node:util';
import type { AddressInfo } from 'node:net';
import Fastify from 'fastify';
import pino from 'pino';
import { CLI, cleanEnv, startDaemon, tmpDataDir } from '../helpers/daemon';
import { stackUrls, tlsStack } from '../helpers/stack';
import { pgClient, uid } from '../helpers/pipeline';
import { waitFor } from '../helpers/wait-for';
import { TcpProxy } from '../helpers/tcp-proxy';
import { httpRequest } from '../../src/cli/http';
import { reloadTlsOnChange } from '../../src/api/tls';

const ADMIN = 'api-security-admin-key-0123456789';
const run = promisify(execFile);

/** The CLI as a user runs it; resolves with the exit code and output (never rejects). */
async function sluice(args: string[], env: Record<string, string> = {}): Promise<{ code: number; out: string; err: string }> {
  try {
    const r = await run(process.execPath, [CLI, ...args], { env: cleanEnv(env), encoding: 'utf8', timeout: 30_000 });
    return { code: 0, out: r.stdout, err: r.stderr };
  } catch (err) {
    const e = err as { code?: number; stdout?: string; stderr?: string };
    return { code: typeof e.code === 'number' ? e.code : -1, out: e.stdout ?? '', err: e.stderr ?? '' };
  }
}

const errCode = async (p: Promise<unknown>): Promise<string> => {
  try {
    await p;
    return 'none';
  } catch (err) {
    return (err as NodeJS.ErrnoException).code ?? (err as Error).message;
  }
};

test('HTTPS: the daemon answers clients that trust the stack CA (CLI, curl), refuses the others, gives plain HTTP nothing', async () => {
  const t = tlsStack();
  const d = await startDaemon(tmpDataDir('sluice-tls-'), { SLUICE_API_TLS_CERT: t.serverCert, SLUICE_API_TLS_KEY: t.serverKey, SLUICE_API_HOST: '127.0.0.1' }, { adminKey: ADMIN, ca: t.ca });
  try {
    assert.match(d.base, /^https:\/\/127\.0\.0\.1:\d+$/);
    assert.match(d.output(), /"tls":true/);
    const me = await d.api('/api/v1/');
    assert.equal(me.status, 200);
    assert.equal(me.body.key.role, 'admin');
    const ca = fs.readFileSync(t.ca);
    // By its other name in the certificate too.
    const port = new URL(d.base).port;
    assert.equal((await httpRequest(`https://localhost:${port}/healthz`, { ca })).status, 200);
    // Not trusted: no CA (the built-in roots), another CA, a name the certificate lacks.
    assert.equal(await errCode(httpRequest(`${d.base}/healthz`)), 'UNABLE_TO_VERIFY_LEAF_SIGNATURE');
    assert.match(await errCode(httpRequest(`${d.base}/healthz`, { ca: fs.readFileSync(t.untrustedCa) })), /UNABLE_TO_VERIFY_LEAF_SIGNATURE|UNABLE_TO_GET_ISSUER_CERT_LOCALLY/);
    const proxy = await TcpProxy.start({ host: '127.0.0.1', port: Number(port) }, t.wrongHost);
    try {
      assert.equal(await errCode(httpRequest(`https://${t.wrongHost}:${proxy.port}/healthz`, { ca })), 'ERR_TLS_CERT_ALTNAME_INVALID');
    } finally {
      await proxy.stop();
    }
    // Plain HTTP to the HTTPS port: no answer, least of all one with data.
    assert.notEqual(await errCode(httpRequest(`http://127.0.0.1:${port}/healthz`, { timeoutMs: 5000 })), 'none');

    // The CLI: --cacert, SLUICE_API_CA; without a CA it says what to do (exit 3).
    const withFlag = await sluice(['streams', 'ls', '--url', d.base, '--key', ADMIN, '--cacert', t.ca]);
    assert.equal(withFlag.code, 0, withFlag.err);
    assert.match(withFlag.out, /^ID\s+NAME\s+STATE/);
    const withEnv = await sluice(['api-keys', 'ls'], { SLUICE_API_URL: d.base, SLUICE_API_KEY: ADMIN, SLUICE_API_CA: t.ca });
    assert.equal(withEnv.code, 0, withEnv.err);
    // SLUICE_API_TLS_CERT in the environment (the daemon's own) makes https:// the default scheme.
    const byHostPort = await sluice(['streams', 'ls'], { SLUICE_API_HOST: '127.0.0.1', SLUICE_API_PORT: port, SLUICE_API_TLS_CERT: t.serverCert, SLUICE_API_CA: t.ca, SLUICE_API_KEY: ADMIN });
    assert.equal(byHostPort.code, 0, byHostPort.err);
    const untrusted = await sluice(['streams', 'ls', '--url', d.base, '--key', ADMIN]);
    assert.equal(untrusted.code, 3);
    assert.match(untrusted.err, /not trusted \(UNABLE_TO_VERIFY_LEAF_SIGNATURE\).*--cacert FILE or SLUICE_API_CA/);
    const wrongCa = await sluice(['streams', 'ls', '--url', d.base, '--key', ADMIN, '--cacert', t.untrustedCa]);
    assert.equal(wrongCa.code, 3);
    assert.match(wrongCa.err, new RegExp(`not signed by the CA in ${t.untrustedCa.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')}`));
    const httpUrl = await sluice(['streams', 'ls', '--url', `http://127.0.0.1:${port}`, '--key', ADMIN]);
    assert.equal(httpUrl.code, 3);
    assert.match(httpUrl.err, /Does it speak HTTPS\?|cannot reach/);

    // The README's curl lines, as written there.
    const curl = await run('curl', ['-s', '--fail', '--cacert', t.ca, '-H', `X-API-Key: ${ADMIN}`, `${d.base}/api/v1/`], { encoding: 'utf8', timeout: 20_000 });
    assert.equal(JSON.parse(curl.stdout).key.role, 'admin');
    const curlNoCa = await run('curl', ['-s', '-o', '/dev/null', '-w', '%{http_code}', `${d.base}/healthz`], { encoding: 'utf8', timeout: 20_000 }).catch((e: { code: number }) => ({ exit: e.code }));
    assert.equal((curlNoCa as { exit?: number }).exit, 60, 'curl without --cacert: exit 60, certificate problem');
  } finally {
    assert.equal(await d.stop('SIGTERM'), 0);
  }
});

test('a non-loopback bind: plain HTTP refused at start (exit 2, naming api.host and the ways out); TLS or SLUICE_API_INSECURE=true start', async () => {
  const t = tlsStack();
  const dataDir = tmpDataDir('sluice-bind-');
  const refused = await sluice(['start'], { SLUICE_DATA_DIR: dataDir, SLUICE_API_HOST: '0.0.0.0', SLUICE_ADMIN_KEY: ADMIN });
  assert.equal(refused.code, 2, refused.out + refused.err);
  assert.match(refused.err, /Invalid configuration key "api\.host"/);
  assert.match(refused.err, /SLUICE_API_TLS_CERT/);
  assert.match(refused.err, /SLUICE_API_INSECURE=true/);
  assert.ok(!fs.existsSync(path.join(dataDir, 'sluice.db')), 'refused before the store was opened');
  const file = path.join(dataDir, 'exposed.yaml');
  fs.writeFileSync(file, 'api:\n  host: 0.0.0.0\n');
  const validated = await sluice(['config', 'validate', file]);
  assert.equal(validated.code, 2);
  assert.match(validated.err, /api\.host/);

  const insecure = await startDaemon(dataDir, { SLUICE_API_HOST: '0.0.0.0', SLUICE_API_INSECURE: 'true' }, { adminKey: ADMIN });
  try {
    assert.match(insecure.output(), /"level":40[^\n]*plain HTTP on a non-loopback address/);
    const port = new URL(insecure.base).port;
    assert.equal((await httpRequest(`http://127.0.0.1:${port}/healthz`)).status, 200);
  } finally {
    await insecure.stop();
  }
  const secure = await startDaemon(tmpDataDir('sluice-bind-'), { SLUICE_API_HOST: '0.0.0.0', SLUICE_API_TLS_CERT: t.serverCert, SLUICE_API_TLS_KEY: t.serverKey }, { adminKey: ADMIN });
  try {
    assert.match(secure.base, /^https:\/\/0\.0\.0\.0:/);
    const port = new URL(secure.base).port;
    const r = await httpRequest(`https://127.0.0.1:${port}/api/v1/`, { ca: fs.readFileSync(t.ca), headers: { 'x-api-key': ADMIN } });
    assert.equal(r.status, 200);
    assert.doesNotMatch(secure.output(), /plain HTTP/);
  } finally {
    await secure.stop();
  }
});

test('the API certificate follows its files: a new pair is served to new connections; a broken pair is logged and the old one kept', async () => {
  const t = tlsStack();
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sluice-tls-reload-'));
  const files = { cert: path.join(dir, 'cert.pem'), key: path.join(dir, 'key.pem') };
  fs.copyFileSync(t.serverCert, files.cert);
  fs.copyFileSync(t.serverKey, files.key);
  const logLines: string[] = [];
  const logger = pino({ level: 'info' }, { write: (l: string) => void logLines.push(l) });
  const app = Fastify({ https: { cert: fs.readFileSync(files.cert), key: fs.readFileSync(files.key) } });
  app.get('/', async () => ({ ok: true }));
  await app.listen({ host: '127.0.0.1', port: 0 });
  const stop = reloadTlsOnChange(app as never, files, logger, 100);
  const url = `https://127.0.0.1:${(app.server.address() as AddressInfo).port}/`;
  const ca = fs.readFileSync(t.ca);
  try {
    assert.equal((await httpRequest(url, { ca })).status, 200);
    // Replaced by a certificate for another host (same CA): new connections get it.
    const later = (f: string) => fs.utimesSync(f, new Date(), new Date(Date.now() + 5000));
    fs.copyFileSync(t.otherHostCert, files.cert);
    fs.copyFileSync(t.otherHostKey, files.key);
    later(files.cert);
    await waitFor(async () => (await errCode(httpRequest(url, { ca, headers: { connection: 'close' } }))) === 'ERR_TLS_CERT_ALTNAME_INVALID', { timeoutMs: 10_000, intervalMs: 100, message: 'the new certificate is served' });
    assert.ok(logLines.some((l) => l.includes('API certificate reloaded')));
    // A half-written pair: logged, and the previous (other-host) certificate stays.
    fs.writeFileSync(files.key, '-----BEGIN PRIVATE KEY-----\nnot a key\n');
    fs.utimesSync(files.key, new Date(), new Date(Date.now() + 10_000));
    await waitFor(async () => logLines.some((l) => l.includes('could not be loaded')), { timeoutMs: 10_000, intervalMs: 100, message: 'the broken pair is logged' });
    assert.equal(await errCode(httpRequest(url, { ca, headers: { connection: 'close' } })), 'ERR_TLS_CERT_ALTNAME_INVALID');
    // Back to the server pair.
    fs.copyFileSync(t.serverCert, files.cert);
    fs.copyFileSync(t.serverKey, files.key);
    fs.utimesSync(files.key, new Date(), new Date(Date.now() + 15_000));
    await waitFor(async () => (await errCode(httpRequest(url, { ca, headers: { connection: 'close' } }))) === 'none', { timeoutMs: 10_000, intervalMs: 100, message: 'the server pair is served again' });
  } finally {
    stop();
    await app.close();
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('secrets from files: SLUICE_ADMIN_KEY_FILE and SLUICE_SECRET_KEY_FILE through the daemon, and a passwordFile rotated with the database password', async () => {
  const dataDir = tmpDataDir('sluice-files-');
  const secretsDir = fs.mkdtempSync(path.join(os.tmpdir(), 'sluice-run-secrets-'));
  const adminFile = path.join(secretsDir, 'admin-key');
  const secretKeyFile = path.join(secretsDir, 'secret-key');
  const adminKey = `file-admin-${uid()}-0123456789`;
  const secretKey = Buffer.alloc(32, 5).toString('base64');
  fs.writeFileSync(adminFile, `${adminKey}\n`, { mode: 0o600 });
  fs.writeFileSync(secretKeyFile, `${secretKey}\n`, { mode: 0o600 });
  const id = uid();
  const user = `pwfile_${id}`;
  const pw1 = `pwFile1-${id}`;
  const pw2 = `pwFile2-${id}`;
  const pg = await pgClient();
  await pg.query(`CREATE ROLE ${user} LOGIN SUPERUSER PASSWORD '${pw1}'`);
  const env = { SLUICE_ADMIN_KEY_FILE: adminFile, SLUICE_SECRET_KEY_FILE: secretKeyFile, SLUICE_SECRETS_FILE_DIR: secretsDir };
  let d = await startDaemon(dataDir, env);
  try {
    const call = (p: string, init: { method?: string; body?: unknown } = {}) => d.api(p, { ...init, key: adminKey });
    assert.equal((await call('/api/v1/')).body.key.role, 'admin', 'the admin key from the file');
    assert.ok(!fs.existsSync(path.join(dataDir, 'secret.key')), 'the secret key came from its file: none generated');
    fs.writeFileSync(path.join(secretsDir, 'pg'), `${pw1}\n`);
    const url = new URL(stackUrls().postgres);
    url.username = user;
    url.password = '';
    const made = await call('/api/v1/connections', { method: 'POST', body: { name: `pwfile-${id}`, kind: 'postgresql', url: url.toString(), passwordFile: path.join(secretsDir, 'pg') } });
    assert.equal(made.status, 201, JSON.stringify(made.body));
    const conn = made.body.id as string;
    const test1 = async () => (await call(`/api/v1/connections/${conn}/test`, { method: 'POST', body: {} })).body;
    assert.equal((await test1()).ok, true);
    // The database password changes; the file still holds the old one: the test fails.
    await pg.query(`ALTER ROLE ${user} PASSWORD '${pw2}'`);
    assert.equal((await test1()).ok, false);
    // The mounted secret is updated (as Kubernetes does): the next use reads it, no API call.
    fs.writeFileSync(path.join(secretsDir, 'pg'), `${pw2}\n`);
    assert.equal((await test1()).ok, true);
    // Outside the allowed directory: refused, whatever the file.
    const refused = await call('/api/v1/connections', { method: 'POST', body: { name: `pwfile2-${id}`, kind: 'postgresql', url: url.toString(), passwordFile: adminFile.replace(secretsDir, dataDir) } });
    assert.equal(refused.status, 403);
    assert.equal(refused.body.error.code, 'SECRET_FILE_NOT_ALLOWED');

    // The same files on a restart; a different secret key is refused (the file's key encrypted the store).
    await d.stop();
    d = await startDaemon(dataDir, env);
    assert.equal((await call('/api/v1/')).status, 200);
    await d.stop();
    const other = spawn(process.execPath, [CLI, 'start'], { env: cleanEnv({ SLUICE_DATA_DIR: dataDir, SLUICE_SECRET_KEY: Buffer.alloc(32, 6).toString('base64') }), stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    other.stdout.on('data', (c: Buffer) => (out += c.toString()));
    const code = await new Promise<number | null>((resolve) => other.once('exit', resolve));
    assert.equal(code, 1);
    assert.match(out, /SECRET_KEY_INVALID|does not match/);
    for (const s of [pw1, pw2, adminKey, secretKey]) assert.ok(!d.output().includes(s), 'no secret from a file in the log');
  } finally {
    await d.stop();
    await pg.query(`SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = $1`, [user]).catch(() => undefined);
    await pg.query(`DROP ROLE IF EXISTS ${user}`).catch(() => undefined);
    await pg.end();
    fs.rmSync(secretsDir, { recursive: true, force: true });
  }
});
