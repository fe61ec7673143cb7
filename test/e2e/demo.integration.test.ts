/**
 * `npm run demo` through its real entry point (scripts/demo.js, what package.json runs),
 * in a child process, stopped with SIGINT as Ctrl-C would:
 * - on the running stack, at a short duration: every order reaches MongoDB with its
 *   items embedded (compared with PostgreSQL order by order); after SIGINT nothing it
 *   started is left: the daemon is gone, the stream's replication slot dropped, its data
 *   dir removed, and the stack it reused still runs;
 * - on a stack it brings up itself (its own state dir and ports): SIGINT mid-run stops
 *   the servers it started too (SLUICE_E2E_DEMO_OWN_STACK=0 skips this one);
 * - with --keep, SIGINT leaves the daemon running and says how to stop it.
 * Knob: SLUICE_E2E_DEMO_SECONDS (5), the demo's write duration.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { Client } from 'pg';
import { knob, mongoDb, pgClient } from '../helpers/pipeline';
import { waitFor } from '../helpers/wait-for';
import { slotName } from '../../connectors/postgres/naming';

const ROOT = path.resolve(__dirname, '../../..');
const SECONDS = knob('SLUICE_E2E_DEMO_SECONDS', 5);
// Not a size knob (knob() reads 0 as unset): 0 skips the run on a stack of its own.
const OWN_STACK = process.env.SLUICE_E2E_DEMO_OWN_STACK === '0' ? 0 : 1;

interface Demo {
  proc: ChildProcess;
  out: () => string;
  exited: Promise<number | null>;
  /** Resolves once the output matches, with the match; rejects on exit or after timeoutMs. */
  waitFor: (re: RegExp, timeoutMs: number) => Promise<RegExpExecArray>;
}

function startDemo(args: string[], env: NodeJS.ProcessEnv = process.env): Demo {
  const pkg = JSON.parse(fs.readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as { scripts: Record<string, string> };
  assert.equal(pkg.scripts.demo, 'node scripts/demo.js', 'the test runs what `npm run demo` runs');
  const proc = spawn(process.execPath, [path.join(ROOT, 'scripts/demo.js'), ...args], { cwd: ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  proc.stdout?.on('data', (c: Buffer) => (out += c.toString()));
  proc.stderr?.on('data', (c: Buffer) => (out += c.toString()));
  const exited = new Promise<number | null>((resolve) => proc.once('exit', (code) => resolve(code)));
  return {
    proc,
    out: () => out,
    exited,
    waitFor: (re, timeoutMs) =>
      new Promise((resolve, reject) => {
        const started = Date.now();
        const timer = setInterval(() => {
          const m = re.exec(out);
          if (m) {
            clearInterval(timer);
            resolve(m);
          } else if (proc.exitCode !== null || Date.now() - started > timeoutMs) {
            clearInterval(timer);
            reject(new Error(`the demo did not print ${re} (${proc.exitCode === null ? `within ${timeoutMs} ms` : `exit ${proc.exitCode}`}):\n${out.slice(-6000)}`));
          }
        }, 100);
      }),
  };
}

/** SIGINT, then the exit code within `ms` (SIGKILL and a failure past it). */
async function interrupt(d: Demo, ms = 90_000): Promise<number | null> {
  d.proc.kill('SIGINT');
  const timer = setTimeout(() => d.proc.kill('SIGKILL'), ms);
  const code = await d.exited;
  clearTimeout(timer);
  return code;
}

const running = (pid: number): boolean => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

/** Processes whose command line names `text` (this one excepted). */
function processesMentioning(text: string): string[] {
  const out: string[] = [];
  for (const pid of fs.readdirSync('/proc').filter((p) => /^\d+$/.test(p) && Number(p) !== process.pid)) {
    try {
      const cmd = fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8').replace(/\0/g, ' ');
      if (cmd.includes(text)) out.push(`${pid}: ${cmd}`);
    } catch {
      // gone meanwhile
    }
  }
  return out;
}

async function slotExists(pg: Client, streamId: string): Promise<boolean> {
  return (await pg.query('SELECT 1 FROM pg_replication_slots WHERE slot_name = $1', [slotName(streamId)])).rowCount === 1;
}

test('npm run demo: orders reach MongoDB with their items embedded; Ctrl-C leaves nothing it started running', { timeout: 600_000 }, async () => {
  const d = startDemo(['--duration', String(SECONDS), '--rate', '20', '--port', '0']);
  const pg = await pgClient();
  const mongo = await mongoDb('shop');
  try {
    const [, streamId] = await d.waitFor(/Started stream (\S+):/, 240_000);
    const [, pid, log] = await d.waitFor(/daemon\s+pid (\d+), log (\S+)/, 10_000);
    const dataDir = path.dirname(log as string);
    await d.waitFor(/snapshot \d+%/, 60_000);
    await d.waitFor(/streaming +\d+ events\/s +lag/, 120_000);
    await d.waitFor(/sluice keeps streaming/, 240_000);
    assert.match(d.out(), /POST \/streams\/\{id\}\/verify: PASSED/);
    assert.match(d.out(), /API docs +http:\/\/127\.0\.0\.1:\d+\/docs/);
    assert.match(d.out(), /mongosh "mongodb:\/\/[^"]+\/shop" --eval 'db\.orders\.findOne/);
    assert.match(d.out(), /metrics +http:\/\/127\.0\.0\.1:\d+\/metrics/);
    assert.match(d.out(), /Grafana .*docker compose/);
    assert.ok(fs.existsSync(path.join(dataDir, 'admin.key')), 'the key file it names exists');

    // Every order in PostgreSQL is a document with exactly its items, in line order.
    const orders = (await pg.query('SELECT id, status FROM shop.orders ORDER BY id')).rows as Array<{ id: number; status: string }>;
    const items = (await pg.query('SELECT id, order_id FROM shop.order_items ORDER BY order_id, line_no')).rows as Array<{ id: number; order_id: number }>;
    const byOrder = new Map<number, number[]>();
    for (const it of items) byOrder.set(it.order_id, [...(byOrder.get(it.order_id) ?? []), it.id]);
    const docs = await mongo.db.collection('orders').find({}, { projection: { status: 1, items: 1 } }).toArray();
    assert.ok(orders.length > 100 && items.length > orders.length, `${orders.length} orders, ${items.length} items`);
    assert.equal(docs.length, orders.length, 'one document per order');
    const docOf = new Map(docs.map((doc) => [Number(doc._id), doc]));
    for (const o of orders) {
      const doc = docOf.get(o.id);
      assert.ok(doc, `order ${o.id} in MongoDB`);
      assert.equal(doc.status, o.status, `order ${o.id} status`);
      assert.deepEqual(((doc.items as Array<{ id: number }> | undefined) ?? []).map((i) => Number(i.id)), byOrder.get(o.id) ?? [], `order ${o.id} items`);
    }
    assert.ok(await slotExists(pg, streamId as string), 'the stream holds its slot while it runs');
    assert.ok(running(Number(pid)), 'the daemon runs');

    assert.equal(await interrupt(d), 0, d.out().slice(-3000));
    assert.match(d.out(), /nothing the demo started is left running/);
    assert.equal(running(Number(pid)), false, 'the daemon is gone');
    assert.equal(await slotExists(pg, streamId as string), false, 'the replication slot is dropped');
    assert.equal(fs.existsSync(dataDir), false, 'its data dir is removed');
    assert.equal((await pg.query('SELECT 1 AS ok')).rows[0].ok, 1, 'the stack it reused still runs');
  } finally {
    if (d.proc.exitCode === null) d.proc.kill('SIGKILL');
    await pg.end();
    await mongo.client.close();
  }
});

test('npm run demo --keep: Ctrl-C leaves the daemon running and says how to stop it', { timeout: 300_000 }, async () => {
  const d = startDemo(['--duration', '1', '--orders', '50', '--port', '0', '--keep']);
  let pid = 0;
  let dataDir = '';
  try {
    const [, streamId] = await d.waitFor(/Started stream (\S+):/, 240_000);
    const m = await d.waitFor(/daemon\s+pid (\d+), log (\S+)/, 10_000);
    pid = Number(m[1]);
    dataDir = path.dirname(m[2] as string);
    const [, base] = await d.waitFor(/API +(http:\/\/\S+)\/api\/v1/, 10_000);
    assert.equal(await interrupt(d), 0, d.out().slice(-3000));
    assert.match(d.out(), new RegExp(`Left running \\(--keep\\)[\\s\\S]*kill ${pid}`));
    assert.ok(running(pid), 'the daemon still runs');
    const key = fs.readFileSync(path.join(dataDir, 'admin.key'), 'utf8').trim();
    const r = await fetch(`${base}/api/v1/streams/${streamId}`, { headers: { 'x-api-key': key } });
    assert.equal(r.status, 200);
    // Tidy up as the demo told us to, dropping the stream's slot first.
    await fetch(`${base}/api/v1/streams/${streamId}/stop`, { method: 'POST', headers: { 'x-api-key': key } });
    await waitFor(async () => (await fetch(`${base}/api/v1/streams/${streamId}`, { method: 'DELETE', headers: { 'x-api-key': key } })).status === 204, { timeoutMs: 30_000, intervalMs: 500, message: 'the kept stream deleted' });
  } finally {
    if (d.proc.exitCode === null) d.proc.kill('SIGKILL');
    if (pid && running(pid)) {
      process.kill(pid, 'SIGTERM');
      await waitFor(async () => !running(pid), { timeoutMs: 45_000, intervalMs: 200, message: 'the kept daemon stopped' });
    }
    if (dataDir) fs.rmSync(dataDir, { recursive: true, force: true });
  }
});

test('npm run demo on a stack it brings up itself: Ctrl-C mid-run stops the servers it started', { timeout: 900_000, skip: OWN_STACK === 0 }, async () => {
  const stateDir = fs.mkdtempSync(path.join(os.tmpdir(), 'sluice-demo-stack-'));
  fs.chmodSync(stateDir, 0o755); // the stack's servers run as their own user when root runs it
  // Another state dir and other ports than the stack the tests use; no SLUICE_TEST_* server overrides.
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) if (!k.startsWith('SLUICE_TEST_') && !k.startsWith('SLUICE_STACK_')) env[k] = v;
  env.SLUICE_STACK_DIR = stateDir;
  env.SLUICE_STACK_PORT_OFFSET = String(Number(process.env.SLUICE_STACK_PORT_OFFSET ?? 0) + 37);
  const status = () => JSON.parse(spawnSync('bash', [path.join(ROOT, 'test/stack/stack.sh'), 'status', '--json'], { env, encoding: 'utf8' }).stdout) as { servers: Record<string, boolean> };
  assert.equal(status().servers.postgres, false, 'nothing runs on that state dir yet');
  const d = startDemo(['--duration', '30', '--orders', '100', '--port', '0'], env);
  try {
    await d.waitFor(/Starting postgres and ferretdb from the test stack/, 30_000);
    const m = await d.waitFor(/daemon\s+pid (\d+), log/, 600_000);
    await d.waitFor(/Snapshot done/, 120_000);
    assert.equal(await interrupt(d), 0, d.out().slice(-3000));
    assert.match(d.out(), /nothing the demo started is left running/);
    assert.equal(running(Number(m[1])), false, 'the daemon is gone');
    const after = status();
    assert.deepEqual([after.servers.postgres, after.servers.mongodb], [false, false], 'PostgreSQL and FerretDB are stopped');
    assert.deepEqual(processesMentioning(stateDir), [], 'no process runs out of the state dir');
  } finally {
    if (d.proc.exitCode === null) d.proc.kill('SIGKILL');
    spawnSync('bash', [path.join(ROOT, 'test/stack/stack.sh'), 'down'], { env, stdio: 'ignore' });
    fs.rmSync(stateDir, { recursive: true, force: true });
  }
});
