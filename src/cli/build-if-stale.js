#!/usr/bin/env node
// Runs before `npm start` (and `npm run demo`): compiles the TypeScript when dist/ is
// missing or older than any source file, so `npm ci && npm start` works on a fresh clone.
'use strict';
const fs = require('node:fs');
const path = require('node:path');
const { execFileSync } = require('node:child_process');

const root = path.resolve(__dirname, '..', '..');
const marker = path.join(root, 'dist', 'src', 'cli', 'main.js');

function newest(dir) {
  let t = 0;
  if (!fs.existsSync(dir)) return t;
  for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) t = Math.max(t, newest(p));
    else if (e.name.endsWith('.ts')) t = Math.max(t, fs.statSync(p).mtimeMs);
  }
  return t;
}

const built = fs.existsSync(marker) ? fs.statSync(marker).mtimeMs : 0;
const sources = Math.max(
  newest(path.join(root, 'src')),
  newest(path.join(root, 'connectors')),
  newest(path.join(root, 'scripts')),
  fs.statSync(path.join(root, 'tsconfig.json')).mtimeMs,
);
if (built < sources) {
  process.stderr.write('sluice: building (tsc)…\n');
  execFileSync(process.execPath, [require.resolve('typescript/bin/tsc', { paths: [root] }), '-p', path.join(root, 'tsconfig.json')], { stdio: 'inherit', cwd: root });
  fs.utimesSync(marker, new Date(), new Date());
}
