import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import pino from 'pino';
import { Supervisor, SUPERVISOR_EVENTS, type StateChange } from './supervisor';
import { createRegistry } from './registry';
import { createMemoryPersistence, type MemoryPersistence } from './persistence';
import type { ConnectionSpec, Row, StreamSpec } from '../core';
import { createMemoryConnectors, type MemoryConnectors } from './testing/memory-connectors';
import { waitFor } from '../../test/helpers/wait-for';

// A connector error must never escape as an unhandled rejection.
const unhandled: unknown[] = [];
process.on('unhandledRejection', (err) => unhandled.push(err));
after(() => assert.deepEqual(unhandled, [], 'unhandled rejections'));

const conn = (id: string, kind: string): ConnectionSpec => ({ id, name: id, kind, url: `memory://${id}`, options: {} });

function stream(id: string, mode: StreamSpec['mode'], over: Partial<StreamSpec> = {}): StreamSpec {
  return {
    id,
    name: id,
    source: { connectionId: 'src' },
    sink: { connectionId: 'dst' },
    transport: { kind: 'direct' },
    mode,
    tables: ['public.orders'],
    options: {},
    ...over,
  };
}

const ORDERS: Row[] = [1, 2, 3, 4, 5].map((id) => ({ id, amount: id * 10 }));

function setup(streams: StreamSpec[], shared?: { mem: MemoryConnectors; store: MemoryPersistence }) {
  const mem = shared?.mem ?? createMemoryConnectors();
  const registry = createRegistry();
  registry.register(mem.sourceModule);
  registry.register(mem.sinkModule);
  const store =
    shared?.store ??
    createMemoryPersistence({
      connections: [conn('src', 'memory-source'), conn('src2', 'memory-source'), conn('dst', 'memory-sink'), conn('dst2', 'memory-sink')],
    });
  for (const s of streams) store.putStream(s);
  const sup = new Supervisor({ registry, logger: pino({ level: 'silent' }), persistence: store });
  const src = mem.source('src');
  if (!shared) src.setTable('public.orders', ORDERS);
  return { mem, store, sup, src, dst: mem.sink('dst') };
}

const byId = (rows: Row[]) => [...rows].sort((a, b) => Number(a.id) - Number(b.id));
const cdcSeqs = (applied: { seq?: number }[]) => applied.filter((a) => a.seq !== undefined).map((a) => a.seq);
const range = (from: number, to: number) => Array.from({ length: to - from + 1 }, (_, i) => from + i);
const stateOf = (sup: Supervisor, id: string) => async () => (await sup.status(id)).state;
const until = async (sup: Supervisor, id: string, state: string) =>
  waitFor(async () => (await sup.status(id)).state === state, { message: `${id} reaches ${state} (now ${(await sup.status(id)).state})` });

test('SNAPSHOT mode copies every row and ends COMPLETED', async () => {
  const { sup, dst, store, mem } = setup([stream('s1', 'SNAPSHOT')]);
  const states: string[] = [];
  sup.on(SUPERVISOR_EVENTS.STATE, (e: StateChange) => states.push(`${e.from}>${e.to}`));
  await sup.start('s1');
  await until(sup, 's1', 'COMPLETED');

  assert.deepEqual(byId(dst.docs('public.orders')), ORDERS);
  const st = sup.status('s1');
  assert.equal((await st).status, 'COMPLETED');
  assert.equal((await st).cdcStatus, 'NOT_STARTED');
  assert.deepEqual(
    { read: (await st).statistics.eventsRead, written: (await st).statistics.eventsWritten, rows: (await st).statistics.snapshotRows, cdc: (await st).statistics.cdcEvents },
    { read: 5, written: 5, rows: 5, cdc: 0 },
  );
  assert.deepEqual(states, ['CREATED>STARTING', 'STARTING>SNAPSHOTTING', 'SNAPSHOTTING>COMPLETED']);
  assert.equal((await store.isSnapshotDone('s1')), true);
  assert.deepEqual((await store.loadPosition('s1', 'snapshot')), { table: 'public.orders', offset: 5 });
  assert.equal(store.runs[0]!.result!.status, 'COMPLETED');
  assert.equal(store.runs[0]!.result!.counters.snapshotRows, 5);
  assert.deepEqual((await store.getState('s1')), { state: 'COMPLETED', error: null });
  // Everything opened was closed, and the snapshot acked nothing in the database.
  await waitFor(() => mem.source('src').sourcesClosed === 1 && dst.sinksClosed === 1);
  assert.deepEqual(mem.source('src').acks, []);
});

test('an interrupted snapshot resumes after the last durable chunk, re-reading nothing', async () => {
  // No restarts: the next start resumes it (supervisor-retry.test.ts has the restarts).
  const { sup, src, dst, store } = setup([stream('s1', 'SNAPSHOT', { options: { retry: { maxRetries: 0 } } })]);
  src.failAt('snapshot', 2, Object.assign(new Error('connection reset'), { code: 'SOURCE_UNREACHABLE' }));
  await sup.start('s1');
  await until(sup, 's1', 'FAILED');
  assert.equal(dst.applied.length, 4, 'two chunks of two rows were written before the failure');
  assert.deepEqual((await store.loadPosition('s1', 'snapshot')), { table: 'public.orders', offset: 4 });

  await sup.start('s1');
  await until(sup, 's1', 'COMPLETED');
  assert.equal(dst.applied.length, 5, 'only the fifth row was read again');
  assert.deepEqual(byId(dst.docs('public.orders')), ORDERS);
  assert.deepEqual(store.runs.map((r) => r.result?.status), ['FAILED', 'COMPLETED']);
});

test('CDC mode snapshots, then streams the changes made during and after the snapshot', async () => {
  const { sup, src, dst } = setup([stream('s1', 'CDC')]);
  dst.block(); // hold the snapshot's first write while the table changes under it
  await sup.start('s1');
  await waitFor(() => dst.writesStarted === 1);
  assert.equal((await sup.status('s1')).state, 'SNAPSHOTTING');
  src.update('public.orders', { id: 1, amount: 11 });
  src.insert('public.orders', { id: 6, amount: 60 });
  dst.unblock();
  await until(sup, 's1', 'STREAMING');
  assert.equal((await sup.status('s1')).cdcStatus, 'RUNNING');

  src.delete('public.orders', { id: 2 });
  src.insert('public.orders', { id: 7, amount: 70 });
  const expected = byId([...src.tables.get('public.orders')!.rows.values()]);
  await waitFor(() => cdcSeqs(dst.applied).length === 4);
  assert.deepEqual(byId(dst.docs('public.orders')), expected);
  assert.equal(expected.length, 6);
  assert.deepEqual(cdcSeqs(dst.applied), [1, 2, 3, 4]);
  assert.equal((await sup.status('s1')).statistics.cdcEvents, 4);
  await sup.stop('s1');
});

test('a source position is acked only after the sink acknowledged every event up to it', async () => {
  const { sup, src, dst, mem, store } = setup([stream('s1', 'CDC_ONLY')]);
  src.batchSize = 3;
  dst.delayMs = 1; // make the write slow enough that an early ack would show
  await sup.start('s1');
  await until(sup, 's1', 'STREAMING');
  for (let i = 10; i < 30; i++) src.insert('public.orders', { id: i, amount: i });
  await waitFor(() => src.acks.some((p) => p.seq === 20));

  const acks = mem.journal.flatMap((e, i) => (e.kind === 'ack' ? [{ i, seq: Number(e.position.seq) }] : []));
  assert.ok(acks.length >= 7, `expected one ack per batch, got ${acks.length}`);
  for (const ack of acks) {
    const written = mem.journal.findIndex(
      (e) => e.kind === 'sinkWriteResolved' && e.streamId === 's1' && Number(e.position?.seq) === ack.seq,
    );
    assert.ok(written >= 0, `ack of seq ${ack.seq} has no sink write`);
    assert.ok(written < ack.i, `ack of seq ${ack.seq} came before its sink write resolved`);
  }
  assert.deepEqual(acks.map((a) => a.seq), [...acks.map((a) => a.seq)].sort((a, b) => a - b), 'acks went backwards');
  // The saved position never runs ahead of what the database was told.
  for (const p of store.positionLog.filter((p) => p.phase === 'cdc')) {
    assert.ok(src.acks.some((a) => a.seq === p.position.seq), `saved ${p.position.seq} that was never acked`);
  }
  await sup.stop('s1');
});

test('pause finishes the batches in flight; resume continues from them: nothing lost, nothing duplicated', async () => {
  const { sup, src, dst, store } = setup([stream('s1', 'CDC_ONLY')]);
  await sup.start('s1');
  await until(sup, 's1', 'STREAMING');
  dst.block();
  for (let i = 10; i < 14; i++) src.insert('public.orders', { id: i });
  await waitFor(() => dst.writesStarted === 1);
  const pausing = sup.pause('s1');
  assert.equal((await sup.status('s1')).state, 'STREAMING', 'paused before the in-flight batch was durable');
  dst.unblock();
  const view = await pausing;
  assert.equal(view.state, 'PAUSED');
  assert.deepEqual({ status: view.status, cdcStatus: view.cdcStatus }, { status: 'RUNNING', cdcStatus: 'PAUSED' });
  // The batches read while the first was blocked were in flight (pipelined): they are
  // finished too, and the position saved is the last of them.
  const written = cdcSeqs(dst.applied);
  assert.ok(written.length >= 2, 'the batch in flight was written');
  assert.deepEqual(written, range(1, written.length), 'the batches in flight were written, in order');
  assert.deepEqual((await store.loadPosition('s1', 'cdc')), { seq: written.length });
  assert.equal(src.sourcesClosed, src.sourcesOpened, 'a paused stream must release its source');

  for (let i = 14; i < 20; i++) src.insert('public.orders', { id: i });
  const writesWhilePaused = dst.writesStarted;
  await sup.resume('s1');
  await waitFor(() => cdcSeqs(dst.applied).length === 10);
  assert.ok(dst.writesStarted > writesWhilePaused);
  assert.deepEqual(cdcSeqs(dst.applied), range(1, 10));
  assert.equal(store.runs.length, 1, 'pause and resume stay within one run');
  await sup.stop('s1');
});

test('CDC_ONLY on a source without server-side state: the "now" begin() returns is recorded before CDC reports running', async () => {
  const { sup, src, dst, store } = setup([stream('s1', 'CDC_ONLY')]);
  src.stateless = true;
  src.insert('public.orders', { id: 1 });
  await sup.start('s1');
  await until(sup, 's1', 'STREAMING');
  // No batch was delivered yet: a pause or crash now resumes here, not at a later "now".
  assert.deepEqual((await store.loadPosition('s1', 'cdc')), { seq: 1 });
  assert.equal(dst.applied.length, 0, 'the change before "now" is not captured');
  src.insert('public.orders', { id: 2 });
  await waitFor(() => cdcSeqs(dst.applied).length === 1);
  assert.deepEqual(cdcSeqs(dst.applied), [2]);
  await sup.stop('s1');
});

test('stop closes everything and ends CANCELLED; illegal requests are refused with their codes', async () => {
  const { sup, src, dst, store } = setup([stream('s1', 'CDC_ONLY'), stream('s2', 'CDC_ONLY', { source: { connectionId: 'src2' } })]);
  await assert.rejects(sup.pause('s1'), { code: 'STREAM_INVALID_TRANSITION' });
  await sup.start('s1');
  await assert.rejects(sup.start('s1'), { code: 'STREAM_ALREADY_RUNNING' });
  await until(sup, 's1', 'STREAMING');
  src.insert('public.orders', { id: 9 });
  await waitFor(() => dst.writesResolved === 1);

  const view = await sup.stop('s1');
  assert.deepEqual({ state: view.state, status: view.status, cdcStatus: view.cdcStatus }, { state: 'STOPPED', status: 'CANCELLED', cdcStatus: 'CANCELLED' });
  assert.equal(src.sourcesClosed, 1);
  assert.equal(dst.sinksClosed, 1);
  assert.equal(store.runs[0]!.result!.status, 'CANCELLED');
  await assert.rejects(sup.pause('s1'), { code: 'STREAM_INVALID_TRANSITION' });
  await assert.rejects(sup.start('nope'), { code: 'STREAM_NOT_FOUND' });

  // A paused stream can be stopped too.
  await sup.start('s2');
  await until(sup, 's2', 'STREAMING');
  await sup.pause('s2');
  assert.equal((await sup.stop('s2')).state, 'STOPPED');
  assert.deepEqual(store.runs.map((r) => r.result?.status), ['CANCELLED', 'CANCELLED']);
});

test('a failing sink fails its stream alone, with an ERROR job update and no ack', async () => {
  const { sup, src, dst, mem, store } = setup([
    stream('good', 'CDC_ONLY'),
    // No restarts: the failure is final at once (supervisor-retry.test.ts has the restarts).
    stream('bad', 'CDC_ONLY', { source: { connectionId: 'src2' }, sink: { connectionId: 'dst2' }, options: { retry: { maxRetries: 0 } } }),
  ]);
  const src2 = mem.source('src2');
  src2.setTable('public.orders', []);
  mem.sink('dst2').failAlways = Object.assign(new Error('E11000 not master'), { code: 'SINK_UNREACHABLE', suggestion: 'check MongoDB' });
  await sup.start('good');
  await sup.start('bad');
  await until(sup, 'bad', 'STREAMING');
  src2.insert('public.orders', { id: 1 });
  await until(sup, 'bad', 'FAILED');

  const st = sup.status('bad');
  assert.deepEqual({ status: (await st).status, cdcStatus: (await st).cdcStatus }, { status: 'FAILED', cdcStatus: 'FAILED' });
  assert.deepEqual((await st).error, { code: 'SINK_UNREACHABLE', message: 'E11000 not master', suggestion: 'check MongoDB' });
  const errors = store.jobUpdates.filter((u) => u.level === 'ERROR');
  assert.equal(errors.length, 1);
  assert.deepEqual(
    { stream: errors[0]!.streamId, stage: errors[0]!.stage, code: errors[0]!.errorCode, suggestion: errors[0]!.suggestion },
    { stream: 'bad', stage: 'CDC', code: 'SINK_UNREACHABLE', suggestion: 'check MongoDB' },
  );
  const badRun = await store.runs.find((r) => r.streamId === 'bad')!;
  assert.equal(badRun.result!.status, 'FAILED');
  assert.equal(badRun.result!.failureError!.code, 'SINK_UNREACHABLE');
  assert.deepEqual(src2.acks, [], 'a failed write was acked');
  assert.equal((await store.getState('bad'))!.state, 'FAILED');

  // The other stream keeps flowing.
  assert.equal((await sup.status('good')).state, 'STREAMING');
  src.insert('public.orders', { id: 42 });
  await waitFor(() => dst.docs('public.orders').some((d) => d.id === 42));
  await sup.stop('good');
});

test('a stream stopped while its sink retries through an outage ends STOPPED, not FAILED, and acks nothing unwritten', async () => {
  const { sup, src, dst, store } = setup([stream('s1', 'CDC_ONLY')]);
  await sup.start('s1');
  await until(sup, 's1', 'STREAMING');
  dst.retryUntilStopped = Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:27017'), { name: 'MongoServerSelectionError' });
  src.insert('public.orders', { id: 7 });
  await waitFor(() => dst.writesStarted === 1, { message: 'the write is retrying' });
  const view = await sup.stop('s1');
  assert.deepEqual({ state: view.state, status: view.status }, { state: 'STOPPED', status: 'CANCELLED' });
  assert.equal(view.error, undefined);
  assert.equal(store.runs[0]!.result!.status, 'CANCELLED');
  assert.deepEqual(src.acks, [], 'a write that never succeeded was acked');
});

test('resumeAll restarts a stream persisted as running from its saved position, and re-pauses a paused one', async () => {
  const { sup, src, dst, store } = setup([stream('run', 'CDC_ONLY'), stream('held', 'CDC_ONLY', { source: { connectionId: 'src2' } })]);
  for (let i = 10; i < 16; i++) src.insert('public.orders', { id: i });
  // As a crashed daemon would have left it: running, with seq 3 durable.
  await store.saveState('run', { state: 'STREAMING' });
  await store.savePosition('run', 'cdc', { seq: 3 });
  await store.saveState('held', { state: 'PAUSED' });

  const result = await sup.resumeAll();
  assert.deepEqual(result, { started: ['run'], paused: ['held'], failed: [] });
  await waitFor(() => cdcSeqs(dst.applied).length === 3);
  assert.deepEqual(cdcSeqs(dst.applied), [4, 5, 6], 'resumed from the saved position, not from the start or the end');
  assert.equal((await sup.status('held')).state, 'PAUSED');
  assert.equal((await sup.status('held')).cdcStatus, 'PAUSED');
  await sup.resume('held');
  await until(sup, 'held', 'STREAMING');
  await Promise.all([sup.stop('run'), sup.stop('held')]);
});

test('resumeAll fails a stream whose connection disappeared and still starts the others', async () => {
  const { sup, store } = setup([stream('ok', 'CDC_ONLY'), stream('orphan', 'CDC_ONLY', { source: { connectionId: 'gone' } })]);
  await store.saveState('ok', { state: 'STREAMING' });
  await store.saveState('orphan', { state: 'STREAMING' });
  const result = await sup.resumeAll();
  assert.deepEqual(result, { started: ['ok'], paused: [], failed: ['orphan'] });
  assert.equal((await sup.status('orphan')).state, 'FAILED');
  assert.equal((await sup.status('orphan')).error!.code, 'CONNECTION_NOT_FOUND');
  await sup.stop('ok');
});

test('shutdown finishes the batches in flight, keeps streams resumable, and a new daemon continues exactly there', async () => {
  const first = setup([stream('s1', 'CDC_ONLY'), stream('s2', 'CDC_ONLY', { source: { connectionId: 'src2' } })]);
  const { sup, src, dst, store, mem } = first;
  mem.source('src2').setTable('public.orders', []);
  await sup.start('s1');
  await sup.start('s2');
  await until(sup, 's1', 'STREAMING');
  await sup.pause('s2');
  dst.block();
  for (let i = 10; i < 14; i++) src.insert('public.orders', { id: i });
  await waitFor(() => dst.writesStarted === 1);

  const closing = sup.shutdown({ deadlineMs: 10_000 });
  assert.equal(sup.isRunning(), false);
  await assert.rejects(sup.start('s2'), { code: 'SHUTTING_DOWN' });
  dst.unblock();
  assert.equal(await closing, true);
  const written = cdcSeqs(dst.applied);
  assert.ok(written.length >= 2);
  assert.deepEqual(written, range(1, written.length));
  // Acked in order, the last one being the position saved.
  assert.deepEqual(src.acks.at(-1), { seq: written.length });
  assert.deepEqual(src.acks.map((a) => (a as { seq: number }).seq), [...src.acks.map((a) => (a as { seq: number }).seq)].sort((a, b) => a - b));
  assert.deepEqual((await store.loadPosition('s1', 'cdc')), { seq: written.length });
  assert.equal((await store.getState('s1'))!.state, 'STREAMING', 'shutdown must not mark a stream stopped');
  assert.equal((await store.getState('s2'))!.state, 'PAUSED');
  assert.deepEqual(store.runs.map((r) => r.result?.status), ['INTERRUPTED', 'INTERRUPTED']);
  assert.deepEqual((await store.listStreamsToResume()).sort(), ['s1', 's2']);

  const second = setup([], { mem, store });
  await second.sup.resumeAll();
  await waitFor(() => cdcSeqs(dst.applied).length === 4);
  assert.deepEqual(cdcSeqs(dst.applied), [1, 2, 3, 4]);
  assert.equal((await second.sup.status('s2')).state, 'PAUSED');
  assert.ok(await second.sup.shutdown({ deadlineMs: 10_000 }));
});

test('shutdown reports false when a sink never answers within the deadline', async () => {
  const { sup, src, dst, store } = setup([stream('s1', 'CDC_ONLY')]);
  await sup.start('s1');
  await until(sup, 's1', 'STREAMING');
  dst.block();
  src.insert('public.orders', { id: 10 });
  await waitFor(() => dst.writesStarted === 1);
  assert.equal(await sup.shutdown({ deadlineMs: 30 }), false);
  assert.deepEqual(src.acks, [], 'nothing may be acked for a write that never completed');
  assert.equal((await store.loadPosition('s1', 'cdc')), null);
  dst.unblock(); // let the test's loop end
  await waitFor(() => store.runs[0]!.result?.status === 'INTERRUPTED');
});

test('a listener that throws does not fail the stream', async () => {
  const { sup } = setup([stream('s1', 'SNAPSHOT')]);
  sup.on(SUPERVISOR_EVENTS.BATCH, () => {
    throw new Error('metrics bug');
  });
  await sup.start('s1');
  await waitFor(async () => ['COMPLETED', 'FAILED'].includes((await stateOf(sup, 's1')())));
  assert.equal((await sup.status('s1')).state, 'COMPLETED');
});

test('cutover: COMPLETING at once, then every change up to the position at the request is written and the stream is COMPLETED', async () => {
  const { sup, src, dst, store } = setup([stream('s1', 'CDC_ONLY')]);
  await assert.rejects(sup.cutover('s1'), { code: 'STREAM_INVALID_TRANSITION' }, 'not before it runs');
  await sup.start('s1');
  await until(sup, 's1', 'STREAMING');
  dst.block(); // the sink lags: the cutover must wait for it
  for (let i = 10; i < 20; i++) src.insert('public.orders', { id: i, amount: i });
  await waitFor(() => dst.writesStarted >= 1);
  const target = src.log.length;
  const view = await sup.cutover('s1');
  assert.equal(view.state, 'COMPLETING');
  assert.equal(view.cdcStatus, 'COMPLETING');
  assert.equal(view.status, 'RUNNING');
  await assert.rejects(sup.cutover('s1'), { code: 'STREAM_INVALID_TRANSITION' }, 'only once');
  await assert.rejects(sup.pause('s1'), { code: 'STREAM_INVALID_TRANSITION' }, 'a draining stream is not paused');
  await new Promise((r) => setTimeout(r, 50));
  assert.equal((await sup.status('s1')).state, 'COMPLETING', 'still draining while the sink holds the batch');
  dst.unblock();
  await until(sup, 's1', 'COMPLETED');
  assert.deepEqual(cdcSeqs(dst.applied), range(1, target));
  assert.deepEqual((await sup.status('s1')).cdcStatus, 'COMPLETED');
  assert.equal(store.runs.at(-1)!.result!.status, 'COMPLETED');
  const messages = store.jobUpdates.filter((u) => u.streamId === 's1').map((u) => u.message);
  assert.ok(messages.some((m) => m.startsWith('cutover requested')));
  assert.ok(messages.some((m) => m.startsWith('cutover: draining')));
  assert.ok(messages.some((m) => m.startsWith('cutover: every change up to')));
  // A later change stays in the source.
  src.insert('public.orders', { id: 99, amount: 1 });
  await new Promise((r) => setTimeout(r, 50));
  assert.equal(cdcSeqs(dst.applied).length, target);
});

test('cutover of an idle stream completes at once: the saved position already covers the source', async () => {
  const { sup, src, dst } = setup([stream('s1', 'CDC_ONLY')]);
  await sup.start('s1');
  await until(sup, 's1', 'STREAMING');
  src.insert('public.orders', { id: 10, amount: 1 });
  await waitFor(() => cdcSeqs(dst.applied).length === 1);
  await sup.cutover('s1');
  await until(sup, 's1', 'COMPLETED');
});

test('cutover is refused for a SNAPSHOT stream, a paused one, and a source that cannot tell its position', async () => {
  const { sup, src } = setup([stream('snap', 'SNAPSHOT'), stream('p', 'CDC_ONLY', { source: { connectionId: 'src2' }, sink: { connectionId: 'dst2' } }), stream('s1', 'CDC_ONLY')]);
  await sup.start('snap');
  await assert.rejects(sup.cutover('snap'), { code: 'STREAM_INVALID_TRANSITION' });
  await sup.start('p');
  await until(sup, 'p', 'STREAMING');
  await sup.pause('p');
  await assert.rejects(sup.cutover('p'), { code: 'STREAM_INVALID_TRANSITION' });
  src.cutover = false;
  await sup.start('s1');
  await until(sup, 's1', 'STREAMING');
  await assert.rejects(sup.cutover('s1'), { code: 'CONNECTOR_CUTOVER_UNSUPPORTED' });
  assert.equal((await sup.status('s1')).state, 'STREAMING', 'the stream goes on');
  await sup.stop('s1');
  await sup.stop('p');
});

test('a stream persisted as COMPLETING cuts over again by itself after a restart', async () => {
  const first = setup([stream('s1', 'CDC_ONLY')]);
  await first.sup.start('s1');
  await until(first.sup, 's1', 'STREAMING');
  first.src.insert('public.orders', { id: 10, amount: 1 });
  await waitFor(() => cdcSeqs(first.dst.applied).length === 1);
  // As a crash in COMPLETING leaves it: the state persisted, no process behind it.
  await first.store.saveState('s1', { state: 'COMPLETING', error: null });
  await first.sup.shutdown({ deadlineMs: 5000 });
  await first.store.saveState('s1', { state: 'COMPLETING', error: null });
  const second = setup([], { mem: first.mem, store: first.store });
  first.src.insert('public.orders', { id: 11, amount: 1 });
  await second.sup.resumeAll();
  await until(second.sup, 's1', 'COMPLETED');
  assert.deepEqual(cdcSeqs(first.dst.applied), [1, 2]);
});
