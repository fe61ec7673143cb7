/**
 * The test runner's safety net (test/runner/run-files.js, used by `npm test`): a file
 * that hangs, or whose tests pass but whose process never exits, fails by name and the
 * run goes on with the other files; the run's total bound stops the rest. The fixtures
 * in test/runner/fixtures/ are plain .js files outside dist/, so the normal run never
 * picks them up.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { spawn } from 'node:child_process';

const root = path.resolve(__dirname, '..', '..');
const runner = path.join(root, 'test', 'runner', 'run-files.js');
const fixture = (name: string) => path.join('test', 'runner', 'fixtures', `${name}.js`);

function runRunner(files: string[], env: Record<string, string>): Promise<{ code: number | null; out: string; ms: number }> {
  const t0 = Date.now();
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [runner, ...files.map(fixture)], {
      cwd: root,
      env: { ...process.env, SLUICE_TEST_CONCURRENCY: '1', ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    child.stdout.on('data', (b: Buffer) => (out += b));
    child.stderr.on('data', (b: Buffer) => (out += b));
    // The runner's own bound: if the safety net failed, this test fails instead of hanging.
    const guard = setTimeout(() => child.kill('SIGKILL'), 60_000);
    child.on('error', reject);
    child.on('exit', (code) => {
      clearTimeout(guard);
      resolve({ code, out, ms: Date.now() - t0 });
    });
  });
}

/** The summary's "failing files" line for a fixture. */
function failingLine(out: string, name: string): string | undefined {
  return out.split('\n').find((l) => l.includes('✖') && l.includes(fixture(name)));
}

test('a file that hangs and a file whose process does not exit fail by name, and the other files still run', async () => {
  const r = await runRunner(['lingers', 'hangs', 'fails', 'passes'], { SLUICE_TEST_EXIT_MS: '1000', SLUICE_TEST_FILE_TIMEOUT_MS: '3000' });
  assert.equal(r.code, 1, r.out);
  assert.match(failingLine(r.out, 'lingers') ?? '', /its tests ended but the process did not exit within 1 s/, r.out);
  assert.match(failingLine(r.out, 'hangs') ?? '', /still running after 3 s .*not finished: waits forever/, r.out);
  assert.match(failingLine(r.out, 'fails') ?? '', /1 failing test: fails on purpose/, r.out);
  assert.equal(failingLine(r.out, 'passes'), undefined, r.out);
  assert.match(r.out, /^files: 4 run, 1 passed, 3 failed$/m);
  // Passed: lingers's test, fails's second test, passes's test; failed: fails's test, and lingers and hangs as files.
  const last = r.out.trimEnd().split('\n').at(-1);
  assert.equal(last, 'tests: 3 passed, 3 failed, 1 skipped', r.out);
  // Nothing waited on the stuck files beyond their bounds (1 s + 3 s, plus process starts).
  assert.ok(r.ms < 30_000, `the run took ${r.ms} ms`);
});

test("the run's total bound stops the file in progress and reports the files it did not reach", async () => {
  const r = await runRunner(['hangs', 'passes'], { SLUICE_TEST_TOTAL_TIMEOUT_MS: '2500', SLUICE_TEST_FILE_TIMEOUT_MS: '60000' });
  assert.equal(r.code, 1, r.out);
  assert.match(failingLine(r.out, 'hangs') ?? '', /stopped at the run's total bound/, r.out);
  assert.match(failingLine(r.out, 'passes') ?? '', /not run: the run's total bound/, r.out);
  assert.ok(r.ms < 30_000, `the run took ${r.ms} ms`);
});
