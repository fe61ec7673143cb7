/**
 * schemathesis against the live daemon's own /openapi.json: every route with generated
 * valid and invalid requests, checked for 5xx, undocumented status codes and content
 * types, responses that break their schema, accepted invalid data and ignored auth.
 * schemathesis comes from PyPI, installed (cached) by test/stack/schemathesis.sh.
 * Knobs: SLUICE_E2E_FUZZ_EXAMPLES (25 per operation), SLUICE_E2E_FUZZ_SEED (fixed, so a
 * failure reproduces; set another to explore).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import net from 'node:net';
import { spawn } from 'node:child_process';
import { startDaemon, tmpDataDir } from '../helpers/daemon';
import { knob } from '../helpers/pipeline';

const SCRIPT = path.resolve(__dirname, '../../../test/stack/schemathesis.sh');
const EXAMPLES = knob('SLUICE_E2E_FUZZ_EXAMPLES', 25);
const SEED = knob('SLUICE_E2E_FUZZ_SEED', 20261123);
const ADMIN = 'fuzz-admin-key-0123456789abcdef';

function run(args: string[]): Promise<{ code: number | null; out: string }> {
  return new Promise((resolve, reject) => {
    const p = spawn('bash', [SCRIPT, ...args], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, NO_COLOR: '1' } });
    let out = '';
    p.stdout.on('data', (c: Buffer) => (out += c.toString()));
    p.stderr.on('data', (c: Buffer) => (out += c.toString()));
    p.on('error', reject);
    p.on('exit', (code) => resolve({ code, out }));
  });
}

test('schemathesis finds no 5xx and no response that breaks the OpenAPI document', { timeout: 900_000 }, async () => {
  // Failed authentications are rate-limited per address; schemathesis sends many on
  // purpose (ignored_auth), so the limit is raised for this daemon only.
  const d = await startDaemon(tmpDataDir('sluice-fuzz-'), { SLUICE_API_AUTH_FAILURES_MAX: '1000000' }, { adminKey: ADMIN });
  try {
    const { code, out } = await run([
      'run',
      `${d.base}/openapi.json`,
      '-H',
      `X-API-Key: ${ADMIN}`,
      '--checks',
      'all',
      '--hypothesis-max-examples',
      String(EXAMPLES),
      '--hypothesis-seed',
      String(SEED),
      '--hypothesis-suppress-health-check',
      'all',
    ]);
    assert.equal(code, 0, `schemathesis failed (exit ${code}):\n${out.slice(-20000)}`);
    // It did run the operations: a summary line with passed checks, none failed.
    assert.match(out, /not_a_server_error\s+\d+ \/ \d+ passed\s+PASSED/);
    assert.match(out, /response_schema_conformance\s+\d+ \/ \d+ passed\s+PASSED/);
    const daemonLog = d.output();
    assert.doesNotMatch(daemonLog, /"level":50[^\n]*"statusCode":5\d\d/, 'no request ended in a 5xx in the daemon log');
  } finally {
    await d.stop('SIGTERM');
  }
});

test('a request the HTTP parser refuses gets the error envelope, not a bare 400', async () => {
  const d = await startDaemon(tmpDataDir('sluice-fuzz-'), {}, { adminKey: ADMIN });
  try {
    const { port } = new URL(d.base);
    const raw = await new Promise<string>((resolve, reject) => {
      const sock = net.connect(Number(port), '127.0.0.1', () => sock.write('GET /api/v1/streams HTTP/1.1\r\nHost: x\r\nAuthorization: a\u0001b\r\n\r\n'));
      let got = '';
      sock.on('data', (c) => (got += c.toString()));
      sock.on('end', () => resolve(got));
      sock.on('error', reject);
    });
    assert.match(raw, /^HTTP\/1\.1 400 /);
    const body = JSON.parse(raw.slice(raw.indexOf('\r\n\r\n') + 4)) as { error: { code: string; category: string; message: string } };
    assert.equal(body.error.code, 'HTTP_REQUEST_MALFORMED');
    assert.equal(body.error.category, 'validation');
  } finally {
    await d.stop('SIGTERM');
  }
});
