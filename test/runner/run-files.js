#!/usr/bin/env node
// Runs test files, each in its own `node --test` process group, with a safety net: one
// stuck file cannot stall the run. A file fails, by name, when
//   - it is still running after the per-file bound (SLUICE_TEST_FILE_TIMEOUT_MS), or
//   - its tests have all ended but its process does not exit within SLUICE_TEST_EXIT_MS
//     (something it opened, a socket, a timer or a child process, is still open: a test
//     must close what it opens, so this is a failure, not something to wait out), or
//   - the run's total bound (the deadline given by test/run.js) is reached;
// its process group is then killed and the run goes on with the next file.
// `--test-force-exit` (Node >= 20.14, passed on to the file's subprocess) would end such a
// process silently instead; SLUICE_TEST_FORCE_EXIT=1 turns it on.
//
// test/run.js uses runFiles() and summarize(). Run directly, it runs the given files
// with the knobs from the environment, without building or starting anything:
//   node test/runner/run-files.js dist/test/foo.test.js ...
'use strict';
const os = require('node:os');
const path = require('node:path');
const readline = require('node:readline');
const { spawn } = require('node:child_process');

const REPORTER = path.join(__dirname, 'reporter.mjs');
const running = new Set();

function knob(name, fallback) {
  const v = process.env[name];
  if (v === undefined || v.trim() === '') return fallback;
  const n = Number(v);
  if (!Number.isFinite(n) || n <= 0) throw new Error(`${name} must be a positive number of milliseconds, got "${v}"`);
  return n;
}

/** The knobs, from the environment. */
function options() {
  return {
    testTimeoutMs: knob('SLUICE_TEST_TIMEOUT_MS', 900_000),
    fileTimeoutMs: knob('SLUICE_TEST_FILE_TIMEOUT_MS', 1_200_000),
    exitTimeoutMs: knob('SLUICE_TEST_EXIT_MS', 60_000),
    concurrency: knob('SLUICE_TEST_CONCURRENCY', Math.max(1, os.availableParallelism() - 1)),
    forceExit: process.env.SLUICE_TEST_FORCE_EXIT === '1',
  };
}

const seconds = (ms) => `${Math.round(ms / 100) / 10} s`;

/**
 * Runs one file; resolves with its result:
 * { file, label, status: 'passed'|'failed', reason, passed, failed, skipped, failures: [test names], durationMs }.
 */
function runOne(file, opts) {
  const t0 = Date.now();
  const r = { file, label: opts.label ?? '', status: 'passed', reason: '', passed: 0, failed: 0, skipped: 0, failures: [], durationMs: 0 };
  return new Promise((resolve) => {
    const args = ['--test', `--test-reporter=${REPORTER}`, '--test-reporter-destination=stdout', `--test-timeout=${opts.testTimeoutMs}`];
    if (opts.forceExit) args.push('--test-force-exit');
    args.push(file);
    const buffered = opts.concurrency > 1;
    // NODE_TEST_CONTEXT (set when this runs inside a test) would make node --test skip the file.
    const { NODE_TEST_CONTEXT: _, ...env } = opts.env;
    const child = spawn(process.execPath, args, {
      cwd: opts.cwd,
      env: { ...env, SLUICE_TEST_EVENTS_FD: '3' },
      stdio: ['ignore', buffered ? 'pipe' : 'inherit', buffered ? 'pipe' : 'inherit', 'pipe'],
      // Its own process group: a kill reaches the file's subprocess and whatever it started.
      detached: true,
    });
    running.add(child);
    const output = [];
    if (buffered) {
      child.stdout.on('data', (b) => output.push(b));
      child.stderr.on('data', (b) => output.push(b));
    }

    let killedFor = '';
    const kill = (why) => {
      if (killedFor) return;
      killedFor = why;
      try {
        process.kill(-child.pid, 'SIGKILL');
      } catch {
        // already gone
      }
    };
    // Top-level tests queued and ended, by name, to tell when all have ended and which are still in.
    const pending = new Map();
    let queued = 0;
    let ended = 0;
    let exitTimer;
    const onEvent = (ev) => {
      if (ev.e === 'enqueue' && ev.nesting === 0) {
        queued++;
        pending.set(ev.name, (pending.get(ev.name) ?? 0) + 1);
        clearTimeout(exitTimer);
        exitTimer = undefined;
        return;
      }
      if (ev.e !== 'pass' && ev.e !== 'fail') return;
      if (ev.fileLevel) {
        if (ev.e === 'fail' && !r.reason) r.reason = ev.error || 'the test process failed';
        return;
      }
      if (ev.nesting === 0) {
        ended++;
        const left = (pending.get(ev.name) ?? 1) - 1;
        if (left > 0) pending.set(ev.name, left);
        else pending.delete(ev.name);
      }
      if (!ev.suite) {
        if (ev.skip || ev.todo) r.skipped++;
        else if (ev.e === 'pass') r.passed++;
        else {
          r.failed++;
          r.failures.push(ev.name);
        }
      }
      if (queued > 0 && ended >= queued && !exitTimer) {
        exitTimer = setTimeout(() => kill('exit'), opts.exitTimeoutMs);
      }
    };
    const events = readline.createInterface({ input: child.stdio[3] });
    let eventsClosed = false;
    events.once('close', () => (eventsClosed = true));
    events.on('line', (line) => {
      try {
        onEvent(JSON.parse(line));
      } catch {
        // not one of ours
      }
    });
    const wallMs = Math.max(0, Math.min(opts.fileTimeoutMs, (opts.deadline ?? Infinity) - Date.now()));
    const overall = wallMs < opts.fileTimeoutMs;
    const wallTimer = setTimeout(() => kill(overall ? 'deadline' : 'wall'), wallMs);

    child.on('exit', (code, signal) => {
      clearTimeout(wallTimer);
      clearTimeout(exitTimer);
      running.delete(child);
      // The event pipe may still hold the last lines: read it to its end (bounded).
      let done = false;
      const settle = setTimeout(finish, 2000);
      if (eventsClosed) finish();
      else
        events.once('close', () => {
          clearTimeout(settle);
          finish();
        });
      function finish() {
        if (done) return;
        done = true;
        clearTimeout(settle);
        events.close();
        r.durationMs = Date.now() - t0;
        const still = [...pending.keys()];
        if (killedFor === 'exit') {
          r.reason = `its tests ended but the process did not exit within ${seconds(opts.exitTimeoutMs)} (SLUICE_TEST_EXIT_MS): something it opened is still open (a socket, a timer, a child process)`;
        } else if (killedFor === 'wall') {
          r.reason = `still running after ${seconds(opts.fileTimeoutMs)} (SLUICE_TEST_FILE_TIMEOUT_MS)${still.length ? `; not finished: ${still.join('; ')}` : ''}`;
        } else if (killedFor === 'deadline') {
          r.reason = `stopped at the run's total bound (SLUICE_TEST_TOTAL_TIMEOUT_MS)${still.length ? `; not finished: ${still.join('; ')}` : ''}`;
        } else if (code !== 0 && r.failed === 0) {
          r.reason ||= `the test process exited with ${signal ? `signal ${signal}` : `code ${code}`}`;
        } else if (code === 0) {
          r.reason = '';
        }
        if (killedFor || code !== 0 || r.failed > 0) r.status = 'failed';
        if (buffered) process.stdout.write(Buffer.concat(output));
        resolve(r);
      }
    });
  });
}

/**
 * Runs the files, `concurrency` at a time, in order; files not started by `deadline`
 * (epoch ms) are reported as not run. Resolves with one result per file, in order.
 */
async function runFiles(files, opts) {
  const o = { ...options(), ...opts };
  const results = new Array(files.length);
  let next = 0;
  async function worker() {
    while (next < files.length) {
      const i = next++;
      const file = files[i];
      if (o.deadline !== undefined && Date.now() >= o.deadline) {
        results[i] = { file, label: o.label ?? '', status: 'failed', reason: "not run: the run's total bound (SLUICE_TEST_TOTAL_TIMEOUT_MS) was reached", passed: 0, failed: 0, skipped: 0, failures: [], durationMs: 0 };
        continue;
      }
      results[i] = await runOne(file, o);
    }
  }
  await Promise.all(Array.from({ length: Math.min(o.concurrency, files.length) }, worker));
  return results;
}

/** Kills every file still running (the run is being interrupted). */
function killAll() {
  for (const child of running) {
    try {
      process.kill(-child.pid, 'SIGKILL');
    } catch {
      // gone
    }
  }
}

/**
 * Prints the run's summary: failing files by name with why, then the totals, last a
 * line "tests: N passed, N failed, N skipped". A file that failed without a failing test
 * (it hung, did not exit, crashed) counts as one failure. Returns the exit code.
 */
function summarize(results, { out = (s) => process.stdout.write(s), startedAt, notes = [] } = {}) {
  let passed = 0;
  let failed = 0;
  let skipped = 0;
  const bad = [];
  for (const r of results) {
    passed += r.passed;
    skipped += r.skipped;
    failed += r.failed;
    if (r.status !== 'passed') {
      if (r.failed === 0) failed++;
      bad.push(r);
    }
  }
  const name = (r) => `${r.label ? `${r.label} ` : ''}${r.file}`;
  const lines = ['', '── summary ──', `files: ${results.length} run, ${results.length - bad.length} passed, ${bad.length} failed`];
  for (const note of notes) lines.push(note);
  if (bad.length) {
    lines.push('failing files:');
    for (const r of bad) {
      const why = [r.failed ? `${r.failed} failing test${r.failed === 1 ? '' : 's'}: ${r.failures.slice(0, 5).join('; ')}${r.failures.length > 5 ? '; …' : ''}` : '', r.reason].filter(Boolean).join('; ');
      lines.push(`  ✖ ${name(r)} (${seconds(r.durationMs)}): ${why}`);
    }
  }
  const slow = [...results].sort((a, b) => b.durationMs - a.durationMs).slice(0, 5).filter((r) => r.durationMs > 0);
  if (slow.length) lines.push(`slowest: ${slow.map((r) => `${r.label ? `${r.label} ` : ''}${path.basename(r.file)} ${seconds(r.durationMs)}`).join(', ')}`);
  if (startedAt !== undefined) lines.push(`duration: ${seconds(Date.now() - startedAt)}`);
  lines.push(`tests: ${passed} passed, ${failed} failed, ${skipped} skipped`);
  out(`${lines.join('\n')}\n`);
  return failed > 0 ? 1 : 0;
}

module.exports = { runFiles, summarize, killAll, options };

if (require.main === module) {
  const files = process.argv.slice(2);
  const startedAt = Date.now();
  const total = knob('SLUICE_TEST_TOTAL_TIMEOUT_MS', 0);
  runFiles(files, { env: process.env, cwd: process.cwd(), ...(total ? { deadline: startedAt + total } : {}) }).then((results) => {
    process.exitCode = summarize(results, { startedAt });
  });
}
