#!/usr/bin/env node
// `npm test`: builds, starts the test stack (test/stack) when integration tests
// are selected, runs every test file in one node --test invocation (so the last
// lines are the runner's summary), and stops the stack it started.
//   node test/run.js                 unit + integration
//   node test/run.js --unit          unit tests only (no servers)
//   node test/run.js --integration   integration tests only
//   SLUICE_TEST_KEEP_STACK=1         leave the stack running afterwards
'use strict';
const fs = require('node:fs');
const path = require('node:path');
const { spawnSync } = require('node:child_process');

const root = path.resolve(__dirname, '..');
const args = process.argv.slice(2);
const unitOnly = args.includes('--unit');
const integrationOnly = args.includes('--integration');
const filters = args.filter((a) => !a.startsWith('--'));

function run(cmd, cmdArgs, opts = {}) {
  const r = spawnSync(cmd, cmdArgs, { stdio: 'inherit', cwd: root, ...opts });
  if (r.error) throw r.error;
  return r.status ?? 1;
}

function findTests(dir, out = []) {
  if (!fs.existsSync(dir)) return out;
  for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) findTests(p, out);
    else if (e.name.endsWith('.test.js')) out.push(p);
  }
  return out;
}

function stack(...a) {
  const r = spawnSync('bash', [path.join(root, 'test/stack/stack.sh'), ...a], { cwd: root, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  if (r.status !== 0) process.stderr.write(r.stderr ?? '');
  return r;
}

function stackOnly(servers, action) {
  const r = spawnSync('bash', [path.join(root, 'test/stack/stack.sh'), action], {
    cwd: root,
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, SLUICE_STACK_ONLY: servers.join(' ') },
  });
  if (r.status !== 0) process.stderr.write(r.stderr ?? '');
  return r;
}

function main() {
  fs.rmSync(path.join(root, 'dist'), { recursive: true, force: true });
  if (run(process.execPath, [require.resolve('typescript/bin/tsc'), '-p', 'tsconfig.json']) !== 0) {
    console.error('test: the TypeScript build failed');
    return 1;
  }
  const all = ['src', 'connectors', 'test'].flatMap((d) => findTests(path.join(root, 'dist', d))).sort();
  let files = all.filter((f) => {
    const integration = f.endsWith('.integration.test.js');
    return unitOnly ? !integration : integrationOnly ? integration : true;
  });
  // Filters match the path below dist/ (a checkout path that contains a filter word must not select every file).
  if (filters.length) files = files.filter((f) => filters.some((x) => path.relative(path.join(root, 'dist'), f).includes(x)));
  if (files.length === 0) {
    console.error('test: no test files selected');
    return 1;
  }

  const env = { ...process.env };
  let startedStack = [];
  if (files.some((f) => f.endsWith('.integration.test.js'))) {
    // Stop afterwards only the servers this run started: a developer's running stack stays.
    let wasUp = {};
    try {
      wasUp = JSON.parse(stack('status', '--json').stdout).servers ?? {};
    } catch {
      wasUp = {};
    }
    const names = { postgres: 'postgres', mysql: 'mariadb', kafka: 'kafka', mongodb: 'ferretdb', prometheus: 'prometheus' };
    startedStack = Object.entries(names).filter(([k]) => !wasUp[k]).map(([, v]) => v);
    if (process.env.SLUICE_TEST_KEEP_STACK === '1') startedStack = [];
    const up = spawnSync('bash', [path.join(root, 'test/stack/stack.sh'), 'up'], { cwd: root, stdio: 'inherit' });
    if (up.status !== 0) {
      console.error('test: the test stack did not start (logs under .stack/); see test/stack/README.md');
      if (startedStack.length) stackOnly(startedStack, 'down');
      return 1;
    }
    const urls = JSON.parse(stack('status', '--json').stdout);
    env.SLUICE_TEST_POSTGRES_URL ??= urls.postgres;
    env.SLUICE_TEST_MYSQL_URL ??= urls.mysql;
    env.SLUICE_TEST_KAFKA_BROKERS ??= urls.kafka;
    env.SLUICE_TEST_MONGODB_URL ??= urls.mongodb;
    env.SLUICE_TEST_PROMETHEUS_URL ??= urls.prometheus;
    env.SLUICE_TEST_PROMETHEUS_TARGETS ??= urls.prometheusTargets;
    env.SLUICE_TEST_PROMTOOL ??= urls.promtool;
  }
  let status;
  try {
    status = run(
      process.execPath,
      ['--test', '--test-reporter=spec', `--test-timeout=${process.env.SLUICE_TEST_TIMEOUT_MS ?? 900000}`, ...files.map((f) => path.relative(root, f))],
      { env },
    );
  } finally {
    if (startedStack.length) stackOnly(startedStack, 'down');
  }
  return status;
}

process.exitCode = main();
