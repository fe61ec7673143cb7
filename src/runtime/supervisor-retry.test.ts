// The retry policy through the real Supervisor with the in-memory connectors: a run that
// fails with a retriable code restarts from its last saved position while the stream
// stays RUNNING; a non-retriable failure or an exhausted policy fails it; pause, stop and
// shutdown during a back-off act at once. maxBackoffMs 1000 keeps the waits under 1 s.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import pino from 'pino';
import { Supervisor, SUPERVISOR_EVENTS, type StateChange, type StreamStatusView } from './supervisor';
import type { MemoryPersistence } from './persistence';
import type { Row, StreamSpec } from '../core';
import { SluiceError } from '../errors';
import { NOOP_METER } from '../metrics/stream-meter';
import type { MemoryConnectors } from './testing/memory-connectors';
import { memoryWorld } from './testing/memory-world';
import { waitFor } from '../../test/helpers/wait-for';

const unhandled: unknown[] = [];
process.on('unhandledRejection', (err) => unhandled.push(err));
after(() => assert.deepEqual(unhandled, [], 'unhandled rejections'));

const FAST = { maxBackoffMs: 1000 };
const away = () => new SluiceError('SOURCE_UNREACHABLE', 'reading the replication stream: read ECONNRESET');
const sinkAway = () => new SluiceError('SINK_UNREACHABLE', 'connection refused');

function stream(id: string, mode: StreamSpec['mode'], retry: Record<string, number> = FAST): StreamSpec {
  return { id, name: id, source: { connectionId: 'src' }, sink: { connectionId: 'dst' }, transport: { kind: 'direct' }, mode, tables: ['public.orders'], options: { retry } };
}

const supervisors: Supervisor[] = [];
after(async () => {
  for (const s of supervisors) await s.shutdown({ deadlineMs: 2000 });
});

function setup(streams: StreamSpec[], shared?: { mem: MemoryConnectors; store: MemoryPersistence }) {
  const { mem, registry, store } = memoryWorld(streams, shared);
  const restarts = { n: 0 };
  const sup = new Supervisor({ registry, logger: pino({ level: 'silent' }), persistence: store, meter: () => ({ ...NOOP_METER, restarted: () => void restarts.n++ }) });
  supervisors.push(sup);
  const states: string[] = [];
  const seen: StreamStatusView['retrying'][] = [];
  sup.on(SUPERVISOR_EVENTS.STATE, (e: StateChange) => states.push(e.to));
  const src = mem.source('src');
  if (!shared) src.setTable('public.orders', [1, 2, 3, 4, 5].map((id) => ({ id, amount: id * 10 })));
  // Samples the retrying view as it changes.
  const watch = setInterval(async () => {
    for (const s of streams) {
      const r = (await sup.status(s.id)).retrying;
      if (r && !seen.some((x) => x?.attempt === r.attempt)) seen.push(r);
    }
  }, 2);
  after(() => clearInterval(watch));
  return { mem, store, sup, src, dst: mem.sink('dst'), restarts, states, seen };
}

const until = (sup: Supervisor, id: string, probe: (s: StreamStatusView) => boolean, message: string, timeoutMs = 8000) =>
  waitFor(async () => probe((await sup.status(id))), { message, timeoutMs });
const ids = (rows: Row[]) => rows.map((r) => Number(r.id)).sort((a, b) => a - b);

test('a retriable source failure under CDC restarts the run from its saved position; the stream stays RUNNING and heals', async () => {
  const { sup, src, dst, store, restarts, states, seen } = setup([stream('s1', 'CDC')]);
  await sup.start('s1');
  await until(sup, 's1', (s) => s.state === 'STREAMING', 'streaming');
  await waitFor(() => dst.docs('public.orders').length === 5);
  // The source goes away twice in a row (a database restart), then comes back.
  src.failAt('stream', src.count('stream'), away());
  src.failAt('stream', src.count('stream'), away());
  src.insert('public.orders', { id: 6, amount: 60 });
  await until(sup, 's1', (s) => s.retrying?.attempt === 2, 'second restart scheduled');
  const view = sup.status('s1');
  assert.equal((await view).state, 'STREAMING');
  assert.equal((await view).status, 'RUNNING', 'RUNNING while retrying');
  assert.equal((await view).retrying!.lastError.code, 'SOURCE_UNREACHABLE');
  assert.match((await view).retrying!.lastError.message, /ECONNRESET/);
  assert.ok(Date.parse((await view).retrying!.nextAttemptAt) > Date.parse((await view).retrying!.since));
  src.insert('public.orders', { id: 7, amount: 70 });
  await waitFor(() => dst.docs('public.orders').length === 7, { message: 'rows 6 and 7 arrive after the restarts', timeoutMs: 8000 });
  await until(sup, 's1', (s) => s.retrying === undefined, 'retrying cleared');

  assert.deepEqual(ids(dst.docs('public.orders')), [1, 2, 3, 4, 5, 6, 7]);
  assert.equal(restarts.n, 2, 'sluice_stream_restarts_total counted each restart');
  assert.deepEqual(seen.map((r) => r?.attempt), [1, 2]);
  assert.ok(!states.includes('FAILED'), `never FAILED: ${states.join(' → ')}`);
  assert.equal(store.runs.length, 1, 'the restarts continue the same run');
  const warnings = store.jobUpdates.filter((u) => u.level === 'WARNING');
  assert.deepEqual(warnings.map((u) => [u.errorCode, u.stage, (u.detail as { attempt?: number }).attempt]), [
    ['SOURCE_UNREACHABLE', 'CDC', 1],
    ['SOURCE_UNREACHABLE', 'CDC', 2],
  ]);
  assert.match(warnings[0]!.message, /restarts from its last saved position/);
  assert.ok(store.jobUpdates.some((u) => u.level === 'INFO' && /recovered after 2 restarts/.test(u.message)));
  assert.ok(!store.jobUpdates.some((u) => u.level === 'ERROR'));
  await sup.stop('s1');
});

test('a snapshot interrupted by a retriable failure resumes after its last chunk, in the same run', async () => {
  const { sup, src, dst, store, restarts } = setup([stream('s1', 'SNAPSHOT')]);
  src.failAt('snapshot', 1, away());
  await sup.start('s1');
  await until(sup, 's1', (s) => s.state === 'COMPLETED', 'completed');
  assert.equal(restarts.n, 1);
  assert.equal(dst.applied.length, 5, 'no chunk read twice: resumed after the saved one');
  assert.deepEqual(store.runs.map((r) => r.result?.status), ['COMPLETED']);
});

test('a failure that is not retriable fails the stream at once', async () => {
  const { sup, src, store, restarts } = setup([stream('s1', 'CDC')]);
  await sup.start('s1');
  await until(sup, 's1', (s) => s.state === 'STREAMING', 'streaming');
  src.failAt('stream', src.count('stream'), new SluiceError('SOURCE_SCHEMA_CHANGED', 'the table changed'));
  src.insert('public.orders', { id: 6 });
  await until(sup, 's1', (s) => s.state === 'FAILED', 'failed');
  assert.equal(restarts.n, 0);
  assert.equal((await sup.status('s1')).error!.code, 'SOURCE_SCHEMA_CHANGED');
  assert.equal(store.jobUpdates.filter((u) => u.level === 'WARNING').length, 0);
});

test('an exhausted policy (maxRetries) fails the stream with the last error, saying it gave up', async () => {
  const { sup, mem, src, store, restarts } = setup([stream('s1', 'CDC_ONLY', { maxRetries: 2, maxBackoffMs: 1000 })]);
  src.setTable('public.orders', []);
  mem.sink('dst').failAlways = sinkAway();
  await sup.start('s1');
  await until(sup, 's1', (s) => s.state === 'STREAMING', 'streaming');
  src.insert('public.orders', { id: 1 });
  await until(sup, 's1', (s) => s.state === 'FAILED', 'failed after 2 restarts');
  assert.equal(restarts.n, 2);
  const st = sup.status('s1');
  assert.equal((await st).error!.code, 'SINK_UNREACHABLE');
  assert.match((await st).error!.message, /connection refused \(gave up after 2 restarts over \d+ s: options.retry.maxRetries is 2\)/);
  assert.equal((await st).retrying, undefined);
  assert.equal(store.runs[0]!.result!.failureError!.code, 'SINK_UNREACHABLE');
  assert.deepEqual(src.acks, [], 'nothing acked that was not written');
});

/** A stream whose sink is away, waiting for its third restart (a wait of 1-2 s under the default 60 s cap). */
async function inBackoff() {
  const ctx = setup([stream('s1', 'CDC_ONLY', {})]);
  ctx.src.setTable('public.orders', []);
  ctx.dst.failAlways = sinkAway();
  await ctx.sup.start('s1');
  await until(ctx.sup, 's1', (s) => s.state === 'STREAMING', 'streaming');
  ctx.src.insert('public.orders', { id: 1 });
  await until(ctx.sup, 's1', (s) => (s.retrying?.attempt ?? 0) >= 2, 'second restart scheduled');
  return ctx;
}

test('pause during a back-off acts at once; resume retries at once and heals', async () => {
  const { sup, dst, restarts } = await inBackoff();
  const next = Date.parse((await sup.status('s1')).retrying!.nextAttemptAt);
  const t0 = Date.now();
  const paused = await sup.pause('s1');
  assert.ok(Date.now() - t0 < 400, `pause took ${Date.now() - t0} ms`);
  assert.ok(Date.now() < next, 'before the next attempt was due');
  assert.equal(paused.state, 'PAUSED');
  assert.equal(paused.retrying, undefined);
  const n = restarts.n;
  dst.failAlways = null;
  await sup.resume('s1');
  await waitFor(() => dst.docs('public.orders').length === 1, { message: 'the row arrives after resume' });
  assert.equal(restarts.n, n, 'resume is a fresh run, not a restart');
  await sup.stop('s1');
});

test('stop during a back-off acts at once and ends the run CANCELLED', async () => {
  const { sup, store } = await inBackoff();
  const t0 = Date.now();
  const stopped = await sup.stop('s1');
  assert.ok(Date.now() - t0 < 400, `stop took ${Date.now() - t0} ms`);
  assert.equal(stopped.state, 'STOPPED');
  assert.equal(store.runs[0]!.result!.status, 'CANCELLED');
});

test('shutdown during a back-off is clean and keeps the stream running for the next daemon, which heals it', async () => {
  const { sup, mem, store, dst } = await inBackoff();
  const t0 = Date.now();
  assert.equal(await sup.shutdown({ deadlineMs: 5000 }), true);
  assert.ok(Date.now() - t0 < 400, `shutdown took ${Date.now() - t0} ms`);
  assert.equal((await store.getState('s1'))!.state, 'STREAMING', 'persisted as running');
  dst.failAlways = null;
  const next = setup([], { mem, store });
  assert.deepEqual((await next.sup.resumeAll()).started, ['s1']);
  await waitFor(() => dst.docs('public.orders').length === 1, { message: 'the next daemon delivers the row' });
  await next.sup.stop('s1');
});

test('a run that fails while cutting over restarts and cuts over again: the stream ends COMPLETED with every change', async () => {
  const { sup, src, dst, store, restarts, states } = setup([stream('s1', 'CDC_ONLY')]);
  src.setTable('public.orders', []);
  await sup.start('s1');
  await until(sup, 's1', (s) => s.state === 'STREAMING', 'streaming');
  dst.failNext(sinkAway());
  src.insert('public.orders', { id: 1 });
  await sup.cutover('s1');
  await until(sup, 's1', (s) => s.state === 'COMPLETED', 'completed after the restart');
  assert.equal(restarts.n, 1);
  assert.deepEqual(ids(dst.docs('public.orders')), [1]);
  assert.ok(!states.includes('FAILED') && states.includes('COMPLETING'), states.join(' → '));
  assert.deepEqual(store.runs.map((r) => r.result?.status), ['COMPLETED']);
});

test('a state store that cannot write (disk full): the run stops, nothing unsaved is acked, and it heals once the store writes again', async () => {
  const { sup, src, dst, store, states } = setup([stream('s1', 'CDC')]);
  let full = false;
  const diskFull = () => new SluiceError('STATE_STORE_WRITE_FAILED', 'the state store cannot be written (SQLITE_FULL: database or disk is full)');
  // Every write of the store fails while "full", bookkeeping included (as SQLite's would).
  for (const name of ['savePosition', 'addJobUpdate', 'saveState', 'finishRun', 'markSnapshotDone'] as const) {
    const write = store[name].bind(store) as (...args: unknown[]) => void;
    Object.assign(store, { [name]: (...args: unknown[]) => (full ? (() => { throw diskFull(); })() : write(...args)) });
  }
  await sup.start('s1');
  await until(sup, 's1', (s) => s.state === 'STREAMING', 'streaming');
  await waitFor(() => dst.docs('public.orders').length === 5);
  const savedBefore = store.positionLog.length;
  full = true;
  src.insert('public.orders', { id: 6, amount: 60 });
  await until(sup, 's1', (s) => s.retrying?.lastError.code === 'STATE_STORE_WRITE_FAILED', 'retrying on the store write failure');
  assert.equal((await sup.status('s1')).status, 'RUNNING');
  // Row 6 reached the sink, but its position was not saved: the source must not have heard of it.
  const saved = new Set(store.positionLog.map((p) => JSON.stringify(p.position)));
  for (const a of src.acks) assert.ok(saved.has(JSON.stringify(a)), `acked ${JSON.stringify(a)}, never saved`);
  assert.equal(store.positionLog.length, savedBefore);
  full = false;
  src.insert('public.orders', { id: 7, amount: 70 });
  await waitFor(() => dst.docs('public.orders').length === 7, { message: 'rows 6 and 7 arrive once the store writes', timeoutMs: 8000 });
  await until(sup, 's1', (s) => s.retrying === undefined, 'retrying cleared');
  assert.ok(!states.includes('FAILED'), `never FAILED: ${states.join(' → ')}`);
  assert.ok(store.positionLog.length > savedBefore, 'positions saved again');
  await sup.stop('s1');
});
