#!/usr/bin/env node
// `node bench/cpuprofile-top.js <file.cpuprofile> [N]`: where a V8 CPU profile (node
// --cpu-prof, e.g. the daemon under `npm run bench` with BENCH_DAEMON_NODE_ARGS=--cpu-prof)
// spent its time: self time summed by function, and by package or source directory,
// the top N (20) of each, as Markdown tables for a bench report's notes.
'use strict';
const fs = require('node:fs');

const [file, topArg] = process.argv.slice(2);
if (!file) {
  console.error('usage: node bench/cpuprofile-top.js <file.cpuprofile> [N]');
  process.exit(2);
}
const top = Number(topArg ?? 20);
const profile = JSON.parse(fs.readFileSync(file, 'utf8'));
const byId = new Map(profile.nodes.map((n) => [n.id, n]));
const self = new Map();
// timeDeltas[i] is the time before samples[i]: the sample's node gets it.
profile.samples.forEach((id, i) => self.set(id, (self.get(id) ?? 0) + (profile.timeDeltas[i] ?? 0)));
const total = [...self.values()].reduce((a, b) => a + b, 0);

/** Where a script lives: a package under node_modules, a sluice directory, or node's own. */
function area(url) {
  if (!url) return '(native / V8)';
  const nm = url.lastIndexOf('node_modules/');
  if (nm >= 0) {
    const rest = url.slice(nm + 'node_modules/'.length).split('/');
    return `npm ${rest[0].startsWith('@') ? `${rest[0]}/${rest[1]}` : rest[0]}`;
  }
  if (url.startsWith('node:')) return 'node core';
  const dist = url.indexOf('/dist/');
  if (dist >= 0) return `sluice ${url.slice(dist + 6).split('/').slice(0, -1).join('/')}`;
  return url;
}

const parent = new Map();
for (const n of profile.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
const SPECIAL = new Set(['(idle)', '(garbage collector)', '(program)', '(root)']);
/**
 * The package or directory a sample is charged to: its own script's, or, for a native
 * function or node's core (Buffer copies, string writes), the first caller outside them,
 * so kafkajs's buffer copies count as kafkajs. GC, idle and V8's own time stay apart.
 */
function chargedTo(id) {
  const name = byId.get(id).callFrame.functionName;
  if (SPECIAL.has(name)) return name;
  for (let cur = id; cur !== undefined; cur = parent.get(cur)) {
    const url = byId.get(cur).callFrame.url;
    if (url && !url.startsWith('node:')) return area(url);
  }
  return area(byId.get(id).callFrame.url);
}

const byFn = new Map();
const byArea = new Map();
for (const [id, t] of self) {
  const n = byId.get(id);
  const cf = n.callFrame;
  const where = cf.url ? `${cf.url.replace(/^.*\/(dist|node_modules)\//, '$1/')}:${cf.lineNumber + 1}` : '';
  const key = `${cf.functionName || '(anonymous)'} ${where}`.trim();
  byFn.set(key, (byFn.get(key) ?? 0) + t);
  const a = chargedTo(id);
  byArea.set(a, (byArea.get(a) ?? 0) + t);
}

const idleTime = [...self].filter(([id]) => byId.get(id).callFrame.functionName === '(idle)').reduce((a, [, t]) => a + t, 0);
const busy = total - idleTime;
/** Shares are of the busy (non-idle) time. */
const pct = (t) => `${((100 * t) / busy).toFixed(1)}%`;
const ms = (t) => `${(t / 1000).toFixed(0)}`;
const table = (title, m) => {
  const rows = [...m].sort((a, b) => b[1] - a[1]).slice(0, top);
  return [`| ${title} | self ms | share |`, '| --- | ---: | ---: |', ...rows.map(([k, t]) => `| ${k.replace(/\|/g, '\\|')} | ${ms(t)} | ${pct(t)} |`)].join('\n');
};
byArea.delete('(idle)');
byFn.delete('(idle)');
console.log(`Profile ${file}: ${(total / 1e6).toFixed(1)} s sampled, ${(busy / 1e6).toFixed(1)} s busy (shares below are of the busy time).\n`);
console.log(table('self time charged to (native and node-core frames to their first caller outside them)', byArea));
console.log('');
console.log(table('by function (self time)', byFn));
