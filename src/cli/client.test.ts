import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import type { AddressInfo } from 'node:net';
import { commandFor, formatTable, runClient, splitArgs, ClientUsageError } from './client';
import { startTestApi, type TestApi } from '../api/testing/test-api';
import { waitFor } from '../../test/helpers/wait-for';

const cmd = (...argv: string[]) => {
  const { words, flags } = splitArgs(argv);
  return commandFor(words, flags);
};

test('command lines map to API calls', () => {
  assert.deepEqual(cmd('streams', 'ls', '--state', 'RUNNING', '--limit=5'), {
    method: 'GET',
    path: '/api/v1/streams?limit=5&state=RUNNING',
    output: 'table',
    columns: cmd('streams', 'ls').columns,
  });
  assert.equal(cmd('streams', 'start', 'abc').path, '/api/v1/streams/abc/start');
  assert.equal(cmd('streams', 'start', 'abc').method, 'POST');
  assert.equal(cmd('streams', 'logs', 'abc', '--level', 'ERROR').path, '/api/v1/streams/abc/logs?level=ERROR');
  assert.equal(cmd('connections', 'test', 'c1').path, '/api/v1/connections/c1/test');
  assert.deepEqual(cmd('api', 'post', 'streams/x/stop', '--data', '{"a":1}').body, { a: 1 });
  assert.equal(cmd('api', 'GET', '/healthz').path, '/healthz');
  assert.equal(cmd('api', 'GET', '/api/v1/').path, '/api/v1/');
  // An id is one path segment, never a path.
  assert.equal(cmd('streams', 'get', '../api-keys').path, '/api/v1/streams/..%2Fapi-keys');
});

test('bad command lines are usage errors that say what is wrong', () => {
  assert.throws(() => cmd('streams', 'start'), (e: unknown) => e instanceof ClientUsageError && /needs an ID/.test((e as Error).message));
  assert.throws(() => cmd('streams', 'fly', 'x'), /unknown command: streams fly x/);
  assert.throws(() => cmd('streams', 'create'), /needs --file/);
  assert.throws(() => cmd('api', 'GET', 'x', '--data', '{nope'), /not JSON/);
  assert.throws(() => cmd('streams', 'ls', '--state'), /--state needs a value/);
});

test('formatTable aligns columns and shows missing values as -', () => {
  const out = formatTable([{ id: 'a', name: 'orders', state: null }, { id: 'bbbb', name: 'x' }], [['ID', 'id'], ['NAME', 'name'], ['STATE', 'state']]);
  assert.equal(out, 'ID    NAME    STATE\na     orders  -\nbbbb  x       -\n');
});

let api: TestApi;
let url: string;
before(async () => {
  api = await startTestApi();
  await api.app.listen({ host: '127.0.0.1', port: 0 });
  url = `http://127.0.0.1:${(api.app.server.address() as AddressInfo).port}`;
});
after(async () => {
  await api.close();
});

async function cli(argv: string[], env: NodeJS.ProcessEnv = {}) {
  let out = '';
  let err = '';
  const code = await runClient(argv, { SLUICE_API_URL: url, SLUICE_API_KEY: api.admin, SLUICE_DATA_DIR: '/nonexistent', ...env }, { out: (t) => (out += t), err: (t) => (err += t) });
  return { code, out, err };
}

test('the client drives a daemon: create, list, start, stop, and errors with their codes', async () => {
  const src = await cli(['connections', 'create', '--data', JSON.stringify({ name: 'cli-src', kind: 'postgresql', url: 'postgresql://u:pw@h:5432/app' })]);
  assert.equal(src.code, 0, src.err);
  const dst = await cli(['connections', 'create', '--data', JSON.stringify({ name: 'cli-dst', kind: 'mongodb', url: 'mongodb://h/app' })]);
  const srcId = (JSON.parse(src.out) as { id: string }).id;
  const dstId = (JSON.parse(dst.out) as { id: string }).id;
  assert.doesNotMatch(src.out, /pw/, 'the password is not echoed');
  api.mem.source(srcId).setTable('public.t', [{ id: 1 }, { id: 2 }]);

  const made = await cli(['streams', 'create', '--data', JSON.stringify({ name: 'cli-stream', source: { connectionId: srcId }, sink: { connectionId: dstId }, transport: { kind: 'direct' }, tables: ['public.t'] })]);
  assert.equal(made.code, 0, made.err);
  const id = (JSON.parse(made.out) as { id: string }).id;

  const ls = await cli(['streams', 'ls']);
  assert.equal(ls.code, 0);
  const lines = ls.out.trimEnd().split('\n');
  assert.match(lines[0] as string, /^ID\s+NAME\s+STATE\s+STATUS\s+CDC$/);
  assert.ok(lines.some((l) => l.startsWith(id) && l.includes('cli-stream')), ls.out);

  assert.equal((await cli(['streams', 'start', id])).code, 0);
  await waitFor(async () => (JSON.parse((await cli(['streams', 'get', id])).out) as { cdcStatus: string }).cdcStatus === 'RUNNING', { timeoutMs: 10_000, message: 'CDC running' });
  assert.equal(api.mem.sink(dstId).docs('public.t').length, 2);
  const again = await cli(['streams', 'start', id]);
  assert.equal(again.code, 1);
  assert.match(again.err, /409 STREAM_ALREADY_RUNNING/);
  assert.equal((await cli(['streams', 'stop', id])).code, 0);

  const json = await cli(['streams', 'ls', '--json']);
  assert.equal((JSON.parse(json.out) as { total: number }).total, 1);

  const missing = await cli(['streams', 'get', 'nope']);
  assert.equal(missing.code, 1);
  assert.match(missing.err, /404 STREAM_NOT_FOUND/);

  const badKey = await cli(['streams', 'ls'], { SLUICE_API_KEY: 'sk_wrong' });
  assert.equal(badKey.code, 1);
  assert.match(badKey.err, /401 AUTH_INVALID_KEY/);
});

test('an unreachable daemon is exit 3 with the address; a usage error is exit 2', async () => {
  const down = await cli(['streams', 'ls'], { SLUICE_API_URL: 'http://127.0.0.1:9' });
  assert.equal(down.code, 3);
  assert.match(down.err, /cannot reach the daemon at http:\/\/127\.0\.0\.1:9/);
  const usage = await cli(['streams', 'start']);
  assert.equal(usage.code, 2);
});

test('the sluice binary dispatches client commands', async () => {
  // Asynchronous: the API answering it runs in this process.
  const main = path.join(__dirname, 'main.js');
  const r = await promisify(execFile)(process.execPath, [main, 'api-keys', 'ls', '--url', url, '--key', api.admin], { encoding: 'utf8', timeout: 20_000 });
  assert.match(r.stdout, /^ID\s+NAME\s+ROLE\s+CREATED\s+EXPIRES\s+REVOKED\n/);
  assert.match(r.stdout, /\badmin\b/);
});
