#!/usr/bin/env node
// `npm test`: builds, starts the test stack (test/stack) when integration tests are
// selected, runs every test file in its own `node --test` process with a safety net
// (test/runner/run-files.js: per-file and whole-run bounds, and a file whose process does
// not exit after its tests fails by name), runs the Kafka compatibility phase, prints one
// summary (its last line "tests: N passed, N failed, N skipped") and stops the servers it
// started.
//   node test/run.js                 unit + integration
//   node test/run.js --unit          unit tests only (no servers)
//   node test/run.js --integration   integration tests only
//   node test/run.js word ...        only the files whose path under dist/ contains a word
//   SLUICE_TEST_KEEP_STACK=1         leave the stack running afterwards
// Bounds (ms): SLUICE_TEST_TIMEOUT_MS per test (900000), SLUICE_TEST_FILE_TIMEOUT_MS per
// file (1200000), SLUICE_TEST_EXIT_MS from a file's last test to its process's exit
// (60000), SLUICE_TEST_TOTAL_TIMEOUT_MS for the whole run (4500000, under CI's 90 min).
// Kafka compatibility: the Kafka transport's integration tests and the kafka-stop e2e,
// when selected, run a second time against a Kafka 3.9 (the stack's kafka-compat
// instance, started for the phase); SLUICE_TEST_KAFKA_COMPAT=0 skips it.
'use strict';
const fs = require('node:fs');
const path = require('node:path');
const { spawnSync } = require('node:child_process');
const { runFiles, summarize, killAll } = require('./runner/run-files');

const root = path.resolve(__dirname, '..');
const args = process.argv.slice(2);
const unitOnly = args.includes('--unit');
const integrationOnly = args.includes('--integration');
const filters = args.filter((a) => !a.startsWith('--'));
const startedAt = Date.now();
const totalMs = Number(process.env.SLUICE_TEST_TOTAL_TIMEOUT_MS || 4_500_000);
const deadline = startedAt + totalMs;

/** The files run a second time against Kafka 3.9 (paths under dist/). */
const KAFKA_COMPAT = [/^src\/transport\/kafka\/.*\.integration\.test\.js$/, /^test\/e2e\/kafka-stop\.integration\.test\.js$/];

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

/** bash test/stack/stack.sh ACTION..., output captured; `only` acts on those servers alone. */
function stack(action, { only, inherit = false } = {}) {
  const env = only ? { ...process.env, SLUICE_STACK_ONLY: only.join(' ') } : process.env;
  const r = spawnSync('bash', [path.join(root, 'test/stack/stack.sh'), ...action], {
    cwd: root,
    env,
    encoding: 'utf8',
    stdio: ['ignore', inherit ? 'inherit' : 'pipe', inherit ? 'inherit' : 'pipe'],
  });
  if (r.status !== 0 && !inherit) process.stderr.write(r.stderr ?? '');
  return r;
}

/** Runs test/stack/mysql8auth.sh (started on demand by the tests that need it and left up for the others); returns its stdout. */
function mysql8auth(action) {
  const r = spawnSync('bash', [path.join(root, 'test/stack/mysql8auth.sh'), ...action], { cwd: root, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  return r.stdout ?? '';
}

function stackStatus() {
  try {
    return JSON.parse(stack(['status', '--json']).stdout);
  } catch {
    return {};
  }
}

/** The test variables from `stack.sh status --json` (a variable already set wins). */
function stackEnv(urls, env) {
  const tls = urls.tls ?? {};
  const sasl = urls.kafkaSaslSsl ?? {};
  const vars = {
    SLUICE_TEST_POSTGRES_URL: urls.postgres,
    SLUICE_TEST_MYSQL_URL: urls.mysql,
    SLUICE_TEST_KAFKA_BROKERS: urls.kafka,
    SLUICE_TEST_KAFKA_VERSION: urls.kafkaVersion,
    SLUICE_TEST_MONGODB_URL: urls.mongodb,
    SLUICE_TEST_PROMETHEUS_URL: urls.prometheus,
    SLUICE_TEST_PROMETHEUS_TARGETS: urls.prometheusTargets,
    SLUICE_TEST_PROMTOOL: urls.promtool,
    SLUICE_TEST_SCHEMA_REGISTRY_URL: urls.schemaRegistry,
    SLUICE_TEST_TLS_CA: tls.ca,
    SLUICE_TEST_TLS_SERVER_CERT: tls.serverCert,
    SLUICE_TEST_TLS_SERVER_KEY: tls.serverKey,
    SLUICE_TEST_TLS_UNTRUSTED_CA: tls.untrustedCa,
    SLUICE_TEST_TLS_CLIENT_CERT: tls.clientCert,
    SLUICE_TEST_TLS_CLIENT_KEY: tls.clientKey,
    SLUICE_TEST_TLS_OTHER_HOST_CERT: tls.otherHostCert,
    SLUICE_TEST_TLS_OTHER_HOST_KEY: tls.otherHostKey,
    SLUICE_TEST_TLS_WRONG_HOST: tls.wrongHost,
    SLUICE_TEST_MONGODB_TLS_URL: tls.mongodb,
    SLUICE_TEST_KAFKA_SASL_SSL_BROKERS: sasl.brokers,
    SLUICE_TEST_KAFKA_SASL_SSL_WRONG_HOST_BROKERS: sasl.wrongHostBrokers,
    SLUICE_TEST_KAFKA_SASL_USERS: sasl.users ? JSON.stringify(sasl.users) : undefined,
  };
  for (const [k, v] of Object.entries(vars)) if (v !== undefined) env[k] ??= v;
}

async function main() {
  fs.rmSync(path.join(root, 'dist'), { recursive: true, force: true });
  if (run(process.execPath, [require.resolve('typescript/bin/tsc'), '-p', 'tsconfig.json']) !== 0) {
    console.error('test: the TypeScript build failed');
    return 1;
  }
  const dist = path.join(root, 'dist');
  const all = ['src', 'connectors', 'test'].flatMap((d) => findTests(path.join(dist, d))).sort();
  let files = all.filter((f) => {
    const integration = f.endsWith('.integration.test.js');
    return unitOnly ? !integration : integrationOnly ? integration : true;
  });
  // Filters match the path below dist/ (a checkout path that contains a filter word must not select every file).
  if (filters.length) files = files.filter((f) => filters.some((x) => path.relative(dist, f).includes(x)));
  if (files.length === 0) {
    console.error('test: no test files selected');
    return 1;
  }

  const env = { ...process.env };
  const keep = process.env.SLUICE_TEST_KEEP_STACK === '1';
  let startedStack = [];
  const mysql8authWasUp = /"up":true/.test(mysql8auth(['status', '--json']));
  const integration = files.some((f) => f.endsWith('.integration.test.js'));
  if (integration) {
    // Stop afterwards only the servers this run started: a developer's running stack stays.
    const wasUp = stackStatus().servers ?? {};
    const names = { postgres: 'postgres', mysql: 'mariadb', kafka: 'kafka', mongodb: 'ferretdb', prometheus: 'prometheus', schemaRegistry: 'registry' };
    startedStack = keep ? [] : Object.entries(names).filter(([k]) => !wasUp[k]).map(([, v]) => v);
    if (stack(['up'], { inherit: true }).status !== 0) {
      console.error('test: the test stack did not start (logs under .stack/); see test/stack/README.md');
      if (startedStack.length) stack(['down'], { only: startedStack });
      return 1;
    }
    stackEnv(stackStatus(), env);
  }

  const rel = (f) => path.relative(root, f);
  const results = [];
  const notes = [];
  try {
    results.push(...(await runFiles(files.map(rel), { env, cwd: root, deadline })));

    // The compatibility phase: the same Kafka files against Kafka 3.9, on its own port.
    const compat = files.filter((f) => KAFKA_COMPAT.some((re) => re.test(path.relative(dist, f).split(path.sep).join('/'))));
    // Only when the tests use the stack's own Kafka (a broker of the user's own stays alone).
    const ownKafka = !process.env.SLUICE_TEST_KAFKA_BROKERS;
    if (compat.length && process.env.SLUICE_TEST_KAFKA_COMPAT !== '0' && ownKafka && Date.now() < deadline) {
      results.push(...(await compatPhase(compat.map(rel), env, keep, notes)));
    }
  } finally {
    if (startedStack.length) stack(['down'], { only: startedStack });
    if (!keep && !mysql8authWasUp) mysql8auth(['down']);
  }
  return summarize(results, { startedAt, notes });
}

async function compatPhase(files, env, keep, notes) {
  const before = stackStatus();
  const label = `[kafka ${before.kafkaCompatVersion ?? 'compat'}]`;
  console.log(`\n── ${label} compatibility phase: ${files.length} file(s) against Kafka ${before.kafkaCompatVersion} ──`);
  const t0 = Date.now();
  if (stack(['up'], { only: ['kafka-compat'], inherit: true }).status !== 0) {
    return files.map((file) => ({ file, label, status: 'failed', reason: 'the compatibility Kafka did not start (see its log under the stack dir, kafka-compat/)', passed: 0, failed: 0, skipped: 0, failures: [], durationMs: 0 }));
  }
  try {
    const compatEnv = { ...env, SLUICE_TEST_KAFKA_BROKERS: before.kafkaCompat, SLUICE_TEST_KAFKA_VERSION: before.kafkaCompatVersion };
    return await runFiles(files, { env: compatEnv, cwd: root, deadline, label });
  } finally {
    if (!keep || !before.servers?.kafkaCompat) stack(['down'], { only: ['kafka-compat'] });
    notes.push(`${label} compatibility phase: ${files.length} file(s) in ${Math.round((Date.now() - t0) / 1000)} s, Kafka ${before.kafkaCompatVersion} at ${before.kafkaCompat}`);
  }
}

for (const sig of ['SIGINT', 'SIGTERM']) {
  process.once(sig, () => {
    killAll();
    process.exit(130);
  });
}

main().then(
  (code) => {
    process.exitCode = code;
  },
  (err) => {
    console.error(err);
    killAll();
    process.exitCode = 1;
  },
);
