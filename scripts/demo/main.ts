/**
 * `npm run demo`: sluice end to end in one command, for a newcomer after `npm ci`.
 * It brings up PostgreSQL and FerretDB from the test stack (or reuses them), seeds a
 * small `shop` schema, starts a daemon, creates the connections and a stream that
 * embeds each order's items inside the order, starts it, writes to the shop for a
 * bounded time while a progress line shows the snapshot, then events/s and lag, checks
 * the result, and keeps running until Ctrl-C. Ctrl-C stops what it started: the
 * stream (deleted, so its replication slot is dropped), the daemon, the stack servers
 * it brought up, its temporary data dir; `--keep` leaves them running instead.
 *
 *   npm run demo [-- --duration 60] [--rate 20] [--orders 1000] [--port 8278] [--keep]
 */
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { Client } from 'pg';
import { MongoClient } from 'mongodb';
import { httpRequest } from '../../src/cli/http';
import { SHOP_MAPPING, SHOP_TABLES, seedShop, shopCounts, writeShop, type Generator } from './shop';
import { progressLine, snapshotOf, type LineContext, type Snapshot } from './progress';
import { slotName } from '../../connectors/postgres/naming';

const ROOT = path.resolve(__dirname, '../../..');
const STACK = path.join(ROOT, 'test/stack/stack.sh');
const CLI = path.join(ROOT, 'dist/src/cli/main.js');
const USAGE = `npm run demo [-- options]
  --duration S   how long the write generator runs (default 60; env SLUICE_DEMO_DURATION)
  --rate N       transactions per second it writes (default 20)
  --orders N     orders in the seeded shop (default 500)
  --port P       the API's port (default 8278, or a free one when taken; 0: a free one)
  --keep         on Ctrl-C, leave the daemon and the stack servers running
`;

export interface DemoOptions {
  duration: number;
  rate: number;
  orders: number;
  port: number | undefined;
  keep: boolean;
}

export function parseDemoArgs(argv: string[], env: NodeJS.ProcessEnv = process.env): DemoOptions | 'help' {
  const o: DemoOptions = { duration: Number(env.SLUICE_DEMO_DURATION || 60), rate: 20, orders: 500, port: undefined, keep: false };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i] as string;
    const [flag, inline] = a.includes('=') ? (a.split(/=(.*)/s, 2) as [string, string]) : [a, undefined];
    const value = (): number => {
      const v = Number(inline ?? argv[++i]);
      if (!Number.isFinite(v) || v < 0) throw new Error(`${flag} needs a number`);
      return v;
    };
    if (flag === '--help' || flag === '-h') return 'help';
    else if (flag === '--keep') o.keep = true;
    else if (flag === '--duration') o.duration = value();
    else if (flag === '--rate') o.rate = Math.max(1, value());
    else if (flag === '--orders') o.orders = Math.max(1, Math.floor(value()));
    else if (flag === '--port') o.port = Math.floor(value());
    else throw new Error(`unknown option ${a}`);
  }
  if (!Number.isFinite(o.duration) || o.duration < 0) throw new Error('SLUICE_DEMO_DURATION must be a number of seconds');
  return o;
}

const say = (text = ''): void => void process.stdout.write(`${text}\n`);
const tty = process.stdout.isTTY === true;
const bold = (s: string): string => (tty ? `\x1b[1m${s}\x1b[0m` : s);

class Interrupted extends Error {}

/** What the demo started, so that Ctrl-C stops exactly that. */
interface Started {
  stackServers: string[];
  daemon?: ChildProcess;
  dataDir?: string;
  base?: string;
  key?: string;
  streamId?: string;
  /** The last polls (oldest first), across the phases, for a rate over a few seconds. */
  recent: Snapshot[];
  /** Rows the snapshot reads: what was seeded. */
  snapshotTotal?: number;
  pg?: Client;
  gen?: Generator;
}

interface StackStatus {
  postgres: string;
  mongodb: string;
  servers: { postgres: boolean; mongodb: boolean };
}

function stackStatus(): StackStatus {
  const r = spawnSync('bash', [STACK, 'status', '--json'], { cwd: ROOT, encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`test/stack/stack.sh status failed: ${r.stderr}`);
  return JSON.parse(r.stdout) as StackStatus;
}

/** Runs stack.sh in its own process group (a terminal's Ctrl-C must not cut it off half way). */
function stackSh(args: string[], only: string[]): Promise<number> {
  return new Promise((resolve) => {
    const p = spawn('bash', [STACK, ...args], { cwd: ROOT, env: { ...process.env, SLUICE_STACK_ONLY: only.join(' ') }, detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
    const prefix = (c: Buffer) => process.stdout.write(c.toString().replace(/^(?=.)/gm, '  stack | '));
    p.stdout.on('data', prefix);
    p.stderr.on('data', prefix);
    p.on('exit', (code) => resolve(code ?? 1));
  });
}

function portFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.createServer();
    s.once('error', () => resolve(false));
    s.listen(port, '127.0.0.1', () => s.close(() => resolve(true)));
  });
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const wake = (): void => {
      clearTimeout(t);
      resolve();
    };
    const t = setTimeout(() => {
      signal.removeEventListener('abort', wake);
      resolve();
    }, ms);
    signal.addEventListener('abort', wake, { once: true });
  });
}

const alive = (p: ChildProcess | undefined): boolean => p !== undefined && p.exitCode === null && p.signalCode === null;

async function api(s: Started, method: string, p: string, body?: unknown): Promise<{ status: number; body: any }> {
  const headers: Record<string, string> = { 'x-api-key': s.key ?? '' };
  if (body !== undefined) headers['content-type'] = 'application/json';
  const r = await httpRequest(`${s.base}${p}`, { method, headers, body: body === undefined ? undefined : JSON.stringify(body), timeoutMs: 120_000 });
  return { status: r.status, body: r.text ? JSON.parse(r.text) : undefined };
}

async function must(s: Started, method: string, p: string, body?: unknown): Promise<any> {
  const r = await api(s, method, p, body);
  if (r.status >= 300) throw new Error(`${method} ${p} answered ${r.status}: ${JSON.stringify(r.body?.error ?? r.body)}`);
  return r.body;
}

async function startStack(s: Started): Promise<StackStatus> {
  let st = stackStatus();
  const missing = (['postgres', 'ferretdb'] as const).filter((x) => !st.servers[x === 'ferretdb' ? 'mongodb' : x]);
  if (missing.length) {
    say(`Starting ${missing.join(' and ')} from the test stack (the first time it installs them: a few minutes)…`);
    // Recorded first: a Ctrl-C during the start still stops what came up.
    s.stackServers = [...missing];
    const code = await stackSh(['up'], missing);
    if (code !== 0) throw new Error(`test/stack/stack.sh up failed (exit ${code}); see its output above`);
    st = stackStatus();
  } else say(`Reusing the running stack: PostgreSQL ${new URL(st.postgres).port}, FerretDB ${new URL(st.mongodb).port}.`);
  return st;
}

async function startSluice(s: Started, opts: DemoOptions): Promise<void> {
  s.dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'sluice-demo-'));
  const port = opts.port ?? ((await portFree(8278)) ? 8278 : 0);
  const log = path.join(s.dataDir, 'sluice.log');
  const fd = fs.openSync(log, 'a');
  // Its own process group, so that the terminal's Ctrl-C reaches the demo only, which then stops it in order.
  s.daemon = spawn(process.execPath, [CLI, 'start'], {
    env: { PATH: process.env.PATH, HOME: process.env.HOME, SLUICE_DATA_DIR: s.dataDir, SLUICE_API_HOST: '127.0.0.1', SLUICE_API_PORT: String(port), SLUICE_LOG_PRETTY: 'false' },
    detached: true,
    stdio: ['ignore', fd, fd],
  });
  fs.closeSync(fd);
  const until = Date.now() + 60_000;
  while (Date.now() < until) {
    const m = /"api":"(http:\/\/[^"]+)"[^\n]*"msg":"sluice started"/.exec(fs.readFileSync(log, 'utf8'));
    if (m) {
      s.base = m[1];
      s.key = fs.readFileSync(path.join(s.dataDir, 'admin.key'), 'utf8').trim();
      return;
    }
    if (!alive(s.daemon)) break;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`the daemon did not start; its log:\n${fs.readFileSync(log, 'utf8').slice(-3000)}`);
}

function whereToLook(s: Started, st: StackStatus): void {
  const keyFile = path.join(s.dataDir as string, 'admin.key');
  const mongo = new URL(st.mongodb);
  mongo.pathname = '/shop';
  say('');
  say(bold('Where to look while it runs'));
  say(`  API        ${s.base}/api/v1   (key in ${keyFile})`);
  say(`             curl -s -H "X-API-Key: $(cat ${keyFile})" ${s.base}/api/v1/streams/${s.streamId}`);
  say(`  API docs   ${s.base}/docs`);
  say(`  metrics    ${s.base}/metrics`);
  say(`  MongoDB    ${mongo.toString()}`);
  say(`             mongosh "${mongo.toString()}" --eval 'db.orders.findOne({status: "paid"})'`);
  say(`  PostgreSQL psql "${st.postgres}" -c 'SELECT status, count(*) FROM shop.orders GROUP BY 1'`);
  say('  Grafana    with docker compose (docker compose up -d): http://127.0.0.1:3000 (admin/admin),');
  say('             dashboards "sluice / fleet overview" and "sluice / stream detail"');
  say(`  daemon     pid ${s.daemon?.pid}, log ${path.join(s.dataDir as string, 'sluice.log')}`);
  say('');
}

async function poll(s: Started): Promise<Snapshot & { view: any }> {
  const view = await must(s, 'GET', `/api/v1/streams/${s.streamId}`);
  const metrics = (await httpRequest(`${s.base}/metrics`, { timeoutMs: 30_000 })).text;
  return { ...snapshotOf(Date.now(), view, metrics, s.streamId as string), view };
}

/** Prints the progress line until `done` says stop; on a TTY in place, else every `everyMs`. */
async function watch(
  s: Started,
  signal: AbortSignal,
  done: (now: Snapshot & { view: any }) => boolean | Promise<boolean>,
  extra: () => Omit<LineContext, 'tables' | 'snapshotTotal'>,
  everyMs: number,
): Promise<Snapshot & { view: any }> {
  const recent = s.recent;
  let printed = 0;
  for (;;) {
    if (signal.aborted) throw new Interrupted();
    const now = await poll(s);
    if (now.state === 'FAILED') {
      const e = now.view.failureError ?? {};
      throw new Error(`the stream failed: ${e.code ?? ''} ${e.message ?? ''}${e.suggestion ? `\n  ${e.suggestion}` : ''}`);
    }
    const line = progressLine(now, recent, { tables: SHOP_TABLES, snapshotTotal: s.snapshotTotal ?? 0, ...extra() });
    if (tty) process.stdout.write(`\r\x1b[2K${line}`);
    else if (Date.now() - printed >= everyMs) {
      say(line);
      printed = Date.now();
    }
    recent.push(now);
    if (recent.length > 5) recent.shift();
    if (await done(now)) {
      if (tty) process.stdout.write('\n');
      return now;
    }
    await sleep(1000, signal);
  }
}

async function check(s: Started, st: StackStatus, signal: AbortSignal): Promise<void> {
  const pgCounts = await shopCounts(s.pg as Client);
  const mongoUrl = new URL(st.mongodb);
  const mongo = new MongoClient(mongoUrl.toString(), { serverSelectionTimeoutMS: 10_000 });
  try {
    const orders = await mongo.db('shop').collection('orders').find({}, { projection: { items: 1 } }).toArray();
    const embedded = orders.reduce((sum, o) => sum + ((o.items as unknown[] | undefined)?.length ?? 0), 0);
    const mark = (a: number, b: number) => (a === b ? 'equal' : 'DIFFERENT');
    say(`  orders: ${pgCounts.orders} in PostgreSQL, ${orders.length} documents in MongoDB (${mark(pgCounts.orders, orders.length)})`);
    say(`  items:  ${pgCounts.items} rows in PostgreSQL, ${embedded} embedded in their orders (${mark(pgCounts.items, embedded)})`);
    const sample = await mongo.db('shop').collection('orders').findOne({ 'items.1': { $exists: true } });
    if (sample) say(`  one order as MongoDB has it:\n    ${JSON.stringify(sample)}`);
  } finally {
    await mongo.close();
  }
  if (signal.aborted) throw new Interrupted();
  const verified = await api(s, 'POST', `/api/v1/streams/${s.streamId}/verify`, {});
  if (verified.status === 200) {
    say(`  POST /streams/{id}/verify: ${verified.body.status} (${(verified.body.tables as Array<{ table: string; mode: string; sourceCount: number; sinkCount: number }>).map((t) => `${t.table}${t.mode === 'embedded' ? ' embedded' : ''} ${t.sinkCount}/${t.sourceCount}`).join(', ')})`);
  } else say(`  POST /streams/{id}/verify answered ${verified.status}: ${JSON.stringify(verified.body?.error ?? verified.body)}`);
}

async function run(opts: DemoOptions, s: Started, signal: AbortSignal): Promise<void> {
  say(bold('sluice demo: PostgreSQL shop → sluice → MongoDB, orders with their items embedded'));
  const st = await startStack(s);
  if (signal.aborted) throw new Interrupted();
  s.pg = new Client({ connectionString: st.postgres });
  await s.pg.connect();
  const seeded = await seedShop(s.pg, { customers: Math.max(10, Math.floor(opts.orders / 5)), orders: opts.orders });
  say(`Seeded the shop schema: ${seeded.customers} customers, ${seeded.orders} orders, ${seeded.items} order items (foreign keys, items cascade).`);
  s.snapshotTotal = seeded.customers + seeded.orders + seeded.items;
  if (signal.aborted) throw new Interrupted();
  await startSluice(s, opts);
  const sinkUrl = new URL(st.mongodb);
  sinkUrl.pathname = '/shop';
  const src = await must(s, 'POST', '/api/v1/connections', { name: 'shop-postgres', kind: 'postgresql', url: st.postgres });
  const dst = await must(s, 'POST', '/api/v1/connections', { name: 'shop-mongodb', kind: 'mongodb', url: sinkUrl.toString() });
  const stream = await must(s, 'POST', '/api/v1/streams', {
    name: 'shop',
    source: { connectionId: src.id },
    sink: { connectionId: dst.id },
    transport: { kind: 'direct' },
    mode: 'CDC',
    tables: [...SHOP_TABLES],
    mapping: SHOP_MAPPING,
    options: { dropCollections: true, heartbeatIntervalMs: 1000 },
  });
  s.streamId = stream.id as string;
  await must(s, 'POST', `/api/v1/streams/${s.streamId}/start`, {});
  say(`Started stream ${s.streamId}: snapshot of ${SHOP_TABLES.join(', ')}, then change data capture.`);
  whereToLook(s, st);

  await watch(s, signal, (now) => now.state === 'STREAMING', () => ({ writes: 0 }), 3000);
  say(`Snapshot done. Writing to the shop for ${opts.duration} s at ${opts.rate} transactions/s…`);
  let genError: unknown;
  const gen = writeShop(s.pg, { perSecond: opts.rate, seconds: opts.duration, onError: (err) => (genError = err) });
  s.gen = gen;
  const endAt = Date.now() + opts.duration * 1000;
  let genDone = false;
  void gen.done.then(() => (genDone = true));
  await watch(s, signal, () => genDone, () => ({ writes: gen.count, remainingSeconds: (endAt - Date.now()) / 1000 }), 5000);
  if (genError) throw new Error(`the write generator failed: ${(genError as Error).message}`);
  // Caught up, exactly: the stream's replication slot has confirmed the last write, which
  // sluice does only once MongoDB has it (the delivery contract); heartbeats move it on.
  const lastWrite = (await s.pg.query('SELECT pg_current_wal_lsn()::text AS lsn')).rows[0].lsn as string;
  const giveUpAt = Date.now() + 120_000;
  const confirmed = async (): Promise<boolean> => {
    const r = await (s.pg as Client).query('SELECT confirmed_flush_lsn >= $1::pg_lsn AS ok FROM pg_replication_slots WHERE slot_name = $2', [lastWrite, slotName(s.streamId as string)]);
    if (r.rows[0]?.ok === true) return true;
    if (Date.now() < giveUpAt) return false;
    say('\nThe stream has not confirmed the last write after 2 minutes; checking what arrived anyway.');
    return true;
  };
  await watch(s, signal, confirmed, () => ({ writes: gen.count, remainingSeconds: 0 }), 5000);
  say(bold(`Writes done (${gen.count} transactions). What arrived:`));
  await check(s, st, signal);
  say('');
  say(bold(opts.keep ? 'sluice keeps streaming. Ctrl-C ends the demo and leaves everything running (--keep).' : 'sluice keeps streaming: write to shop.* yourself and watch. Ctrl-C stops everything the demo started.'));
  await watch(s, signal, () => false, () => ({ writes: gen.count, remainingSeconds: 0 }), 60_000);
}

async function cleanup(s: Started, opts: DemoOptions, force: () => boolean): Promise<void> {
  s.gen?.stop();
  await Promise.race([s.gen?.done, new Promise((r) => setTimeout(r, 5000))]);
  await s.pg?.end().catch(() => undefined);
  if (opts.keep) {
    say('');
    say(bold('Left running (--keep):'));
    if (alive(s.daemon)) say(`  the daemon, pid ${s.daemon?.pid} (${s.base}; data ${s.dataDir}): stop it with  kill ${s.daemon?.pid}`);
    if (s.stackServers.length) say(`  the stack's ${s.stackServers.join(' and ')}: stop with  SLUICE_STACK_ONLY="${s.stackServers.join(' ')}" npm run stack:down`);
    s.daemon?.unref();
    return;
  }
  if (alive(s.daemon) && s.streamId && !force()) {
    say('Stopping: the stream (deleted: its replication slot is dropped), the daemon, then what the demo started of the stack…');
    await api(s, 'POST', `/api/v1/streams/${s.streamId}/stop`).catch(() => undefined);
    const until = Date.now() + 30_000;
    let deleted = false;
    while (!deleted && Date.now() < until && !force()) {
      const r = await api(s, 'DELETE', `/api/v1/streams/${s.streamId}`).catch(() => ({ status: 0, body: undefined }));
      deleted = r.status === 204 || r.status === 404;
      if (!deleted) await new Promise((res) => setTimeout(res, 500));
    }
    if (!deleted) say(`  the stream ${s.streamId} could not be deleted: its replication slot stays in PostgreSQL (drop it with pg_drop_replication_slot)`);
  }
  if (alive(s.daemon)) {
    const d = s.daemon as ChildProcess;
    const exited = new Promise((r) => d.once('exit', r));
    d.kill(force() ? 'SIGKILL' : 'SIGTERM');
    const timer = setTimeout(() => alive(d) && d.kill('SIGKILL'), 40_000);
    await exited;
    clearTimeout(timer);
  }
  if (s.stackServers.length) {
    const code = await stackSh(['down'], s.stackServers);
    if (code !== 0) say(`  stack.sh down exited ${code}: check with  npm run stack:status`);
  }
  if (s.dataDir) fs.rmSync(s.dataDir, { recursive: true, force: true });
  say('Stopped; nothing the demo started is left running.');
}

export async function main(argv: string[]): Promise<number> {
  let opts: DemoOptions | 'help';
  try {
    opts = parseDemoArgs(argv);
  } catch (err) {
    process.stderr.write(`demo: ${(err as Error).message}\n\n${USAGE}`);
    return 2;
  }
  if (opts === 'help') {
    process.stdout.write(USAGE);
    return 0;
  }
  const s: Started = { stackServers: [], recent: [] };
  const ctl = new AbortController();
  let signals = 0;
  const onSignal = (): void => {
    signals++;
    if (signals === 1) {
      if (tty) process.stdout.write('\n');
      ctl.abort();
    } else say('Second signal: killing the daemon without deleting the stream.');
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  let code = 0;
  try {
    await run(opts, s, ctl.signal);
  } catch (err) {
    if (!(err instanceof Interrupted) && !ctl.signal.aborted) {
      if (tty) process.stdout.write('\n');
      process.stderr.write(`demo failed: ${(err as Error).message}\n`);
      code = 1;
    }
  }
  await cleanup(s, opts, () => signals > 1);
  return code;
}

if (require.main === module) {
  void main(process.argv.slice(2)).then((code) => process.exit(code));
}
