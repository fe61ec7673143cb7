// Cron schedules of SNAPSHOT streams, and mapping resources resolved at each start,
// through the real Supervisor with the in-memory connectors. Schedules tick every
// second ("* * * * * *") so that runs come fast.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import pino from 'pino';
import { Supervisor, SUPERVISOR_EVENTS, type RunFinished, type ScheduleTick } from './supervisor';
import type { MemoryPersistence } from './persistence';
import type { Row, StreamSpec } from '../core';
import type { MemoryConnectors } from './testing/memory-connectors';
import { memoryWorld } from './testing/memory-world';
import { waitFor } from '../../test/helpers/wait-for';
import { nextRunAfter } from './schedule';

const unhandled: unknown[] = [];
process.on('unhandledRejection', (err) => unhandled.push(err));
after(() => assert.deepEqual(unhandled, [], 'unhandled rejections'));

const EVERY_SECOND = { cron: '* * * * * *', timezone: 'UTC' };

function stream(id: string, over: Partial<StreamSpec> = {}): StreamSpec {
  return {
    id,
    name: id,
    source: { connectionId: 'src' },
    sink: { connectionId: 'dst' },
    transport: { kind: 'direct' },
    mode: 'SNAPSHOT',
    tables: ['public.orders'],
    options: {},
    ...over,
  };
}

const ORDERS: Row[] = [1, 2, 3, 4, 5].map((id) => ({ id, amount: id * 10 }));

const supervisors: Supervisor[] = [];
after(async () => {
  for (const s of supervisors) await s.shutdown({ deadlineMs: 2000 });
});

function setup(streams: StreamSpec[], shared?: { mem: MemoryConnectors; store: MemoryPersistence }) {
  const { mem, registry, store } = memoryWorld(streams, shared);
  const logLines: Array<{ msg: string; streamId?: string; level: number }> = [];
  const logger = pino({ level: 'warn' }, { write: (line: string) => void logLines.push(JSON.parse(line)) });
  const sup = new Supervisor({ registry, logger, persistence: store });
  supervisors.push(sup);
  const src = mem.source('src');
  if (!shared) src.setTable('public.orders', ORDERS);
  const finished: RunFinished[] = [];
  const ticks: ScheduleTick[] = [];
  sup.on(SUPERVISOR_EVENTS.RUN_FINISHED, (e: RunFinished) => finished.push(e));
  sup.on(SUPERVISOR_EVENTS.TICK, (e: ScheduleTick) => ticks.push(e));
  return { mem, store, sup, src, dst: mem.sink('dst'), finished, ticks, logLines };
}

const completed = (store: MemoryPersistence, id = 's1') => store.runs.filter((r) => r.streamId === id && r.result?.status === 'COMPLETED');
const updates = (store: MemoryPersistence, level: string, stage = 'SCHEDULE') => store.jobUpdates.filter((u) => u.level === level && u.stage === stage);

test('each tick starts a run that takes a fresh snapshot, and nextRunAt advances', async () => {
  const { sup, store, dst, finished } = setup([stream('s1', { schedule: EVERY_SECOND })]);
  assert.equal((await sup.status('s1')).nextRunAt, null, 'not armed yet');
  assert.deepEqual((await sup.armSchedules(['s1'])), ['s1']);
  const first = (await sup.status('s1')).nextRunAt;
  assert.ok(first, 'armed: nextRunAt is set');
  const firstMs = Date.parse(first);
  assert.ok(firstMs > Date.now() - 1000 && firstMs <= Date.now() + 1000, `the next run is within a second: ${first}`);

  await waitFor(() => completed(store).length >= 2, { timeoutMs: 8000, message: 'two scheduled runs completed' });
  const done = finished.filter((f) => f.status === 'COMPLETED');
  // Every run copied the whole table again: a completed snapshot is not "resumed" into nothing.
  for (const f of done) assert.equal(f.counters.snapshotRows, 5, `run ${f.runId} copied every row`);
  assert.ok(dst.applied.length >= 10, `two runs wrote 5 rows each (${dst.applied.length})`);
  const started = updates(store, 'INFO').filter((u) => /scheduled run started/.test(u.message));
  assert.ok(started.length >= 2, 'each scheduled run says so in the job updates');
  assert.deepEqual(new Set(started.slice(0, 2).map((u) => u.runId)).size, 2, 'one update per run, under its own run id');
  const later = (await sup.status('s1')).nextRunAt;
  assert.ok(later && Date.parse(later) > firstMs, `nextRunAt moved on (${first} → ${later})`);
  await sup.shutdown({ deadlineMs: 2000 });
  assert.equal((await sup.status('s1')).nextRunAt, null, 'shutdown disarms');
});

test('a tick while a run is still active is skipped, with a WARNING job update and a log line, and the schedule goes on', async () => {
  const { sup, store, dst, ticks, logLines } = setup([stream('s1', { schedule: EVERY_SECOND })]);
  dst.block(); // the first run's first write never returns until unblocked
  await sup.armSchedules(['s1']);
  await waitFor(() => store.runs.length === 1 && dst.writesStarted === 1, { timeoutMs: 5000, message: 'the first run is writing' });
  const firstRun = store.runs[0]!.runId;
  await waitFor(() => updates(store, 'WARNING').length >= 1, { timeoutMs: 5000, message: 'a skipped tick' });
  const skipped = updates(store, 'WARNING')[0]!;
  assert.equal(skipped.runId, firstRun, 'the skip is logged against the active run');
  assert.match(skipped.message, /scheduled run skipped: the previous run .* is still active \(SNAPSHOTTING\)/);
  assert.equal(store.runs.length, 1, 'no second run opened while the first is active');
  assert.ok(ticks.some((t) => !t.started && t.runId === firstRun), 'the tick event says it was skipped');
  assert.equal((await sup.status('s1')).state, 'SNAPSHOTTING');
  assert.ok(logLines.some((l) => l.level === 40 && l.streamId === 's1' && /scheduled run skipped/.test(l.msg)), 'and a warn line in the daemon log');

  dst.unblock();
  await waitFor(() => completed(store).length >= 2, { timeoutMs: 8000, message: 'the first run completes and a later tick starts another' });
  assert.equal(store.runs[0]!.result?.status, 'COMPLETED');
  assert.ok(ticks.some((t) => t.started && t.runId !== firstRun));
  await sup.shutdown({ deadlineMs: 2000 });
});

test('a tick whose run cannot start is recorded as a failed run, and the schedule goes on', async () => {
  const { sup, store } = setup([stream('s1', { schedule: EVERY_SECOND, source: { connectionId: 'deleted-connection' } })]);
  await sup.armSchedules(['s1']);
  await waitFor(() => store.runs.filter((r) => r.result?.status === 'FAILED').length >= 2, { timeoutMs: 6000, message: 'two failed runs' });
  const failed = await store.runs.filter((r) => r.result?.status === 'FAILED');
  for (const r of failed) assert.equal(r.result?.failureError?.code, 'CONNECTION_NOT_FOUND');
  assert.equal((await sup.status('s1')).state, 'FAILED');
  assert.equal((await sup.status('s1')).error?.code, 'CONNECTION_NOT_FOUND');
  assert.ok(store.jobUpdates.some((u) => u.level === 'ERROR' && u.errorCode === 'CONNECTION_NOT_FOUND'));
  assert.ok((await sup.status('s1')).nextRunAt, 'still scheduled');
  await sup.shutdown({ deadlineMs: 2000 });
});

test('a run that fails at the source is a failed run; the next tick resumes the snapshot from its last chunk', async () => {
  const { sup, store, src, dst } = setup([stream('s1', { schedule: EVERY_SECOND, options: { retry: { maxRetries: 0 } } })]);
  src.failAt('snapshot', 1, Object.assign(new Error('connection reset'), { code: 'SOURCE_UNREACHABLE' }));
  await sup.armSchedules(['s1']);
  await waitFor(() => completed(store).length >= 1, { timeoutMs: 8000, message: 'a run completes after the failed one' });
  assert.deepEqual(store.runs.slice(0, 2).map((r) => r.result?.status), ['FAILED', 'COMPLETED']);
  assert.equal(store.runs[0]!.result?.failureError?.code, 'SOURCE_UNREACHABLE');
  assert.equal(store.runs[1]!.result?.counters.snapshotRows, 3, 'the second run wrote only the rows after the failed run\'s last chunk');
  await sup.shutdown({ deadlineMs: 2000 });
  assert.ok(dst.applied.length >= 5);
});

test('POST /stop ends the current run only: the schedule stays and the next tick starts a new run', async () => {
  const { sup, store, dst } = setup([stream('s1', { schedule: EVERY_SECOND })]);
  dst.block();
  await sup.armSchedules(['s1']);
  await waitFor(() => dst.writesStarted === 1, { timeoutMs: 5000, message: 'the first run is writing' });
  const stopping = sup.stop('s1');
  dst.unblock();
  await stopping;
  assert.equal(store.runs[0]!.result?.status, 'CANCELLED');
  assert.equal((await sup.status('s1')).state, 'STOPPED');
  assert.ok((await sup.status('s1')).nextRunAt, 'a stopped stream keeps its schedule');
  await waitFor(() => completed(store).length >= 1, { timeoutMs: 8000, message: 'a later tick runs the stream again' });
  await sup.shutdown({ deadlineMs: 2000 });
});

test('the schedule follows the spec: re-arming picks up a new cron, a spec without one disarms', async () => {
  const { sup, store } = setup([stream('s1', { schedule: { cron: '0 3 * * *', timezone: 'UTC' } })]);
  await sup.schedule('s1');
  assert.equal(new Date((await sup.status('s1')).nextRunAt!).getUTCHours(), 3);
  store.putStream(stream('s1', { schedule: { cron: '30 4 * * *', timezone: 'Europe/Berlin' } }));
  await sup.schedule('s1');
  assert.equal((await sup.status('s1')).nextRunAt, nextRunAfter({ cron: '30 4 * * *', timezone: 'Europe/Berlin' })?.toISOString());
  store.putStream(stream('s1'));
  await sup.schedule('s1');
  assert.equal((await sup.status('s1')).nextRunAt, null);
  // A schedule on a CDC spec (which the API refuses) is never armed.
  store.putStream(stream('s1', { mode: 'CDC', schedule: EVERY_SECOND }));
  await sup.schedule('s1');
  assert.equal((await sup.status('s1')).nextRunAt, null);
  sup.unschedule('s1');
  await sup.shutdown({ deadlineMs: 2000 });
});

test('a restarted daemon re-arms the schedule from the stored spec', async () => {
  const first = setup([stream('s1', { schedule: EVERY_SECOND })]);
  await first.sup.armSchedules(['s1']);
  await waitFor(() => completed(first.store).length >= 1, { timeoutMs: 5000, message: 'a first scheduled run' });
  await first.sup.shutdown({ deadlineMs: 2000 });
  const before = first.store.runs.length;

  const second = setup([], { mem: first.mem, store: first.store });
  assert.equal((await second.sup.status('s1')).nextRunAt, null);
  assert.deepEqual((await second.sup.armSchedules(['s1', 'no-such-stream'])), ['s1']);
  assert.ok((await second.sup.status('s1')).nextRunAt);
  await waitFor(() => completed(first.store).length >= 2, { timeoutMs: 5000, message: 'the restarted supervisor runs the schedule' });
  assert.ok(first.store.runs.length > before);
  await second.sup.shutdown({ deadlineMs: 2000 });
});

test('a COMPLETED SNAPSHOT stream snapshots afresh on the next start; an interrupted one resumes from its last chunk', async () => {
  const { sup, store, src, dst } = setup([stream('s1', { options: { retry: { maxRetries: 0 } } })]);
  const until = (state: string) => waitFor(async () => (await sup.status('s1')).state === state, { message: `reaches ${state}` });
  await sup.start('s1');
  await until('COMPLETED');
  assert.equal(dst.applied.length, 5);
  // Run 2: batches 1-3 were run 1's; the 5th batch overall (run 2's second) fails.
  src.failAt('snapshot', 4, Object.assign(new Error('connection reset'), { code: 'SOURCE_UNREACHABLE' }));
  await sup.start('s1');
  await until('FAILED');
  assert.equal(dst.applied.length, 7, 'the fresh snapshot started from the first row');
  assert.deepEqual((await store.loadPosition('s1', 'snapshot')), { table: 'public.orders', offset: 2 });
  await sup.start('s1');
  await until('COMPLETED');
  assert.equal(dst.applied.length, 10, 'the failed run was resumed from its last chunk, not restarted');
  assert.deepEqual(store.runs.map((r) => r.result?.counters.snapshotRows), [5, 2, 3]);
  await sup.shutdown({ deadlineMs: 2000 });
});

test('a stream naming a mapping resource: each start hands the sink the rules as they are then', async () => {
  const { sup, store, dst } = setup([stream('s1', { mapping: { mappingId: 'm1' } })]);
  const until = (state: string) => waitFor(async () => (await sup.status('s1')).state === state, { message: `reaches ${state}` });
  await assert.rejects(sup.start('s1'), (err: { code?: string }) => err.code === 'MAPPING_NOT_FOUND');
  assert.equal(store.runs.length, 0, 'an unknown mapping is the caller\'s error, not a failed run');

  store.putMapping('m1', { tables: { 'public.orders': { collection: 'orders_v1' } } });
  await sup.start('s1');
  await until('COMPLETED');
  assert.deepEqual(dst.createdFor.at(-1)?.mapping, { mappingId: 'm1', tables: { 'public.orders': { collection: 'orders_v1' } } });

  store.putMapping('m1', { tables: { 'public.orders': { collection: 'orders_v2', nulls: 'omit' } } });
  await sup.start('s1');
  await until('COMPLETED');
  assert.deepEqual(dst.createdFor.at(-1)?.mapping, { mappingId: 'm1', tables: { 'public.orders': { collection: 'orders_v2', nulls: 'omit' } } });
  assert.deepEqual((await store.getStream('s1'))?.mapping, { mappingId: 'm1' }, 'the stored spec keeps the reference');

  // Inline rules pass through as they are.
  store.putStream(stream('s2', { mapping: { tables: { 'public.orders': { collection: 'inline' } } } }));
  await sup.start('s2');
  await waitFor(async () => (await sup.status('s2')).state === 'COMPLETED');
  assert.deepEqual(dst.createdFor.at(-1)?.mapping, { tables: { 'public.orders': { collection: 'inline' } } });
  await sup.shutdown({ deadlineMs: 2000 });
});
