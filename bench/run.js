#!/usr/bin/env node
// `npm run bench -- <scenario>`: builds, brings up the test stack (and stops it
// afterwards if it started it), runs bench/<scenario>.ts, which measures sluice and
// its baseline in the same run and writes bench/results/<date>-<scenario>.{json,md}.
'use strict';
const fs = require('node:fs');
const path = require('node:path');
const { spawnSync } = require('node:child_process');

const root = path.resolve(__dirname, '..');
const scenario = process.argv[2];
const available = fs.readdirSync(__dirname).filter((f) => f.endsWith('.ts') && f !== 'report.ts' && f !== 'common.ts').map((f) => f.slice(0, -3));
if (!scenario || !available.includes(scenario)) {
  console.error(`usage: npm run bench -- <scenario>   (${available.join(', ')})`);
  process.exit(2);
}
const run = (cmd, args, opts = {}) => spawnSync(cmd, args, { cwd: root, stdio: 'inherit', ...opts }).status ?? 1;
if (run(process.execPath, [require.resolve('typescript/bin/tsc'), '-p', 'tsconfig.json']) !== 0) process.exit(1);
const stack = (...a) => spawnSync('bash', ['test/stack/stack.sh', ...a], { cwd: root, encoding: 'utf8' });
const wasUp = /"up":\s*true/.test(stack('status', '--json').stdout ?? '');
if (run('bash', ['test/stack/stack.sh', 'up']) !== 0) process.exit(1);
const urls = JSON.parse(stack('status', '--json').stdout);
const env = {
  ...process.env,
  SLUICE_TEST_POSTGRES_URL: urls.postgres,
  SLUICE_TEST_MYSQL_URL: urls.mysql,
  SLUICE_TEST_KAFKA_BROKERS: urls.kafka,
  SLUICE_TEST_MONGODB_URL: urls.mongodb,
  SLUICE_TEST_SCHEMA_REGISTRY_URL: urls.schemaRegistry,
};
const status = run(process.execPath, [path.join(root, 'dist/bench', `${scenario}.js`), ...process.argv.slice(3)], { env });
if (!wasUp) stack('down');
process.exitCode = status;
