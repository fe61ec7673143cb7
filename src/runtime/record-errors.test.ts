import { test } from 'node:test';
import assert from 'node:assert/strict';
import pino from 'pino';
import { Supervisor } from './supervisor';
import { createRegistry } from './registry';
import { createMemoryPersistence } from './persistence';
import { Decimal, eventJson, type ConnectionSpec, type Row, type StreamSpec } from '../core';
import { createMemoryConnectors } from './testing/memory-connectors';
import { waitFor } from '../../test/helpers/wait-for';
import { MAX_WARNINGS } from './record-errors';

const conn = (id: string, kind: string): ConnectionSpec => ({ id, name: id, kind, url: `memory://${id}`, options: {} });

/** 10 rows, batches of 2; the rows in `poison` carry a value the sink refuses (field "ratio"). */
async function run(errorHandling: 'FAIL' | 'WARN' | 'SKIP' | undefined, errorTolerance: number | undefined, poison: number[], rows = 10) {
  const mem = createMemoryConnectors();
  const registry = createRegistry();
  registry.register(mem.sourceModule);
  registry.register(mem.sinkModule);
  const store = createMemoryPersistence({ connections: [conn('src', 'memory-source'), conn('dst', 'memory-sink')] });
  const options: StreamSpec['options'] = {};
  if (errorHandling) options.errorHandling = errorHandling;
  if (errorTolerance !== undefined) options.errorTolerance = errorTolerance;
  const spec: StreamSpec = { id: 's', name: 's', source: { connectionId: 'src' }, sink: { connectionId: 'dst' }, transport: { kind: 'direct' }, mode: 'SNAPSHOT', tables: ['public.m'], options };
  store.putStream(spec);
  const src = mem.source('src');
  const table: Row[] = Array.from({ length: rows }, (_, i) => ({ id: i + 1, ratio: poison.includes(i + 1) ? Number.NaN : (i + 1) / 2 }));
  src.setTable('public.m', table);
  const dst = mem.sink('dst');
  dst.rejectWhen = (ev) => (typeof ev.after?.ratio === 'number' && Number.isNaN(ev.after.ratio) ? { field: 'ratio', message: 'NaN is not stored by this server' } : null);
  const sup = new Supervisor({ registry, logger: pino({ level: 'silent' }), persistence: store });
  await sup.start('s');
  await waitFor(async () => ['COMPLETED', 'FAILED'].includes((await sup.status('s')).state), { message: 'run ends' });
  const status = sup.status('s');
  const ids = dst.docs('public.m').map((d) => d.id as number).sort((a, b) => a - b);
  const letters = await store.deadLetters.map((l) => ({ table: l.table, key: l.key, op: l.op, field: l.field, code: l.error.code, runId: l.runId }));
  const warnings = store.jobUpdates.filter((u) => u.level === 'WARNING');
  const errors = store.jobUpdates.filter((u) => u.level === 'ERROR');
  const run = store.runs[0]!;
  return { status, ids, letters, warnings, errors, run, store };
}

const good = (n: number, poison: number[]) => Array.from({ length: n }, (_, i) => i + 1).filter((i) => !poison.includes(i));
const letter = (id: number, runId: string) => ({ table: 'public.m', key: { id }, op: 'r', field: 'ratio', code: 'SINK_RECORD_REJECTED', runId });

for (const tolerance of [0, 3]) {
  test(`FAIL (tolerance ${tolerance}): the first bad record fails the run, names table, key and field; nothing dead-lettered`, async () => {
    const r = await run('FAIL', tolerance, [3, 7]);
    assert.equal((await r.status).state, 'FAILED');
    assert.equal((await r.status).error?.code, 'SINK_RECORD_REJECTED');
    assert.match((await r.status).error!.message, /public\.m/);
    assert.match((await r.status).error!.message, /"id":3/);
    assert.match((await r.status).error!.suggestion!, /Column "ratio" of public\.m .*excludeColumns/);
    assert.equal((await r.status).statistics.eventsFailed, 1);
    assert.equal((await r.status).statistics.deadLettered, 0);
    assert.equal((await r.status).statistics.eventsWritten, 2);
    assert.deepEqual(r.ids, [1, 2]);
    assert.deepEqual(r.letters, []);
    assert.equal(r.warnings.length, 0);
    assert.equal(r.run.result?.status, 'FAILED');
    assert.equal(r.run.result?.failureError?.code, 'SINK_RECORD_REJECTED');
    assert.deepEqual(r.errors.map((u) => u.detail), [{ locationType: 'TABLE', locationName: 'public.m', fieldName: 'ratio', key: { id: 3 } }]);
  });
}

test('the default is FAIL with tolerance 0', async () => {
  const r = await run(undefined, undefined, [3]);
  assert.equal((await r.status).state, 'FAILED');
  assert.equal((await r.status).error?.code, 'SINK_RECORD_REJECTED');
  assert.deepEqual(r.ids, [1, 2]);
});

for (const mode of ['WARN', 'SKIP'] as const) {
  test(`${mode} tolerance 0: the first bad record exceeds it; the run fails with RECORD_ERROR_TOLERANCE_EXCEEDED`, async () => {
    const r = await run(mode, 0, [3, 7]);
    assert.equal((await r.status).state, 'FAILED');
    assert.equal((await r.status).error?.code, 'RECORD_ERROR_TOLERANCE_EXCEEDED');
    assert.match((await r.status).error!.message, /record error 1 exceeds errorTolerance 0/);
    assert.match((await r.status).error!.message, /"id":3/);
    assert.match((await r.status).error!.suggestion!, /raise errorTolerance.*Column "ratio" of public\.m/);
    assert.deepEqual({ failed: (await r.status).statistics.eventsFailed, dead: (await r.status).statistics.deadLettered, written: (await r.status).statistics.eventsWritten }, { failed: 1, dead: 0, written: 2 });
    assert.deepEqual(r.ids, [1, 2]);
    assert.deepEqual(r.letters, []);
    assert.equal(r.warnings.length, 0);
  });

  test(`${mode} tolerance 3, 2 bad records: both dead-lettered, every good row written, COMPLETED`, async () => {
    const r = await run(mode, 3, [3, 7]);
    assert.equal((await r.status).state, 'COMPLETED');
    assert.equal((await r.status).error, undefined);
    assert.deepEqual(
      { failed: (await r.status).statistics.eventsFailed, dead: (await r.status).statistics.deadLettered, written: (await r.status).statistics.eventsWritten, read: (await r.status).statistics.eventsRead, rows: (await r.status).statistics.snapshotRows },
      { failed: 2, dead: 2, written: 8, read: 10, rows: 8 },
    );
    assert.deepEqual(r.ids, good(10, [3, 7]));
    assert.deepEqual(r.letters, [letter(3, r.run.runId), letter(7, r.run.runId)]);
    assert.equal(r.store.deadLetters[0]!.event?.after?.ratio, Number.NaN);
    assert.match(eventJson(r.store.deadLetters[0]!.event), /"ratio":"NaN"/);
    if (mode === 'WARN') {
      assert.deepEqual(
        r.warnings.map((u) => ({ stage: u.stage, code: u.errorCode, detail: u.detail })),
        [3, 7].map((id) => ({ stage: 'SNAPSHOT', code: 'SINK_RECORD_REJECTED', detail: { locationType: 'TABLE', locationName: 'public.m', fieldName: 'ratio', key: { id } } })),
      );
      assert.match(r.warnings[0]!.suggestion!, /Column "ratio" of public\.m holds a value the sink cannot store \(NaN is not stored by this server\)/);
    } else {
      assert.equal(r.warnings.length, 0, 'SKIP is quiet');
    }
  });

  test(`${mode} tolerance 3, 4 bad records: three dead-lettered, the fourth fails the run at the last durable point`, async () => {
    const r = await run(mode, 3, [3, 5, 7, 9]);
    assert.equal((await r.status).state, 'FAILED');
    assert.equal((await r.status).error?.code, 'RECORD_ERROR_TOLERANCE_EXCEEDED');
    assert.match((await r.status).error!.message, /record error 4 exceeds errorTolerance 3/);
    assert.match((await r.status).error!.message, /"id":9/);
    assert.deepEqual({ failed: (await r.status).statistics.eventsFailed, dead: (await r.status).statistics.deadLettered, written: (await r.status).statistics.eventsWritten }, { failed: 4, dead: 3, written: 5 });
    assert.deepEqual(r.ids, [1, 2, 4, 6, 8]);
    assert.deepEqual(r.letters, [3, 5, 7].map((id) => letter(id, r.run.runId)));
    assert.equal(r.warnings.length, mode === 'WARN' ? 3 : 0);
    assert.equal(r.run.result?.failureError?.code, 'RECORD_ERROR_TOLERANCE_EXCEEDED');
    // The batch holding the fourth bad record was not saved as done: a restart re-reads it.
    const saved = r.store.positionLog.filter((p) => p.phase === 'snapshot').length;
    assert.equal(saved, 4);
  });
}

test(`WARN reports at most ${MAX_WARNINGS} records one by one, then one summary`, async () => {
  const poison = Array.from({ length: 110 }, (_, i) => i + 1);
  const r = await run('WARN', 1000, poison, 120);
  assert.equal((await r.status).state, 'COMPLETED');
  assert.equal((await r.status).statistics.deadLettered, 110);
  assert.equal(r.letters.length, 110);
  assert.equal(r.warnings.length, MAX_WARNINGS + 1);
  assert.match(r.warnings.at(-1)!.message, /further ones are counted/);
  assert.deepEqual(r.ids, Array.from({ length: 10 }, (_, i) => i + 111));
});

test('dead-letter JSON keeps bigint and decimals exact, as text', () => {
  assert.equal(eventJson({ a: 2n ** 64n, d: new Decimal('12345678901234.123456'), b: Buffer.from('hi'), n: Number.POSITIVE_INFINITY, u: undefined }), '{"a":"18446744073709551616","d":"12345678901234.123456","b":"aGk=","n":"Infinity","u":null}');
});

test('CDC on the direct transport: a dead-lettered change is acknowledged with its batch; the change past the tolerance is not', async () => {
  const mem = createMemoryConnectors();
  const registry = createRegistry();
  registry.register(mem.sourceModule);
  registry.register(mem.sinkModule);
  const store = createMemoryPersistence({ connections: [conn('src', 'memory-source'), conn('dst', 'memory-sink')] });
  store.putStream({ id: 'c', name: 'c', source: { connectionId: 'src' }, sink: { connectionId: 'dst' }, transport: { kind: 'direct' }, mode: 'CDC', tables: ['public.m'], options: { errorHandling: 'WARN', errorTolerance: 1 } });
  const src = mem.source('src');
  src.setTable('public.m', [{ id: 1, ratio: 1 }]);
  const dst = mem.sink('dst');
  dst.rejectWhen = (ev) => (typeof ev.after?.ratio === 'number' && Number.isNaN(ev.after.ratio) ? { field: 'ratio', message: 'NaN' } : null);
  const sup = new Supervisor({ registry, logger: pino({ level: 'silent' }), persistence: store });
  await sup.start('c');
  await waitFor(async () => (await sup.status('c')).cdcStatus === 'RUNNING', { message: 'CDC running' });
  src.insert('public.m', { id: 2, ratio: Number.NaN }); // seq 1
  src.insert('public.m', { id: 3, ratio: 3 }); // seq 2: batch [1, 2]
  await waitFor(() => src.slot === 2, { message: 'the batch with the dead letter acked' });
  assert.deepEqual(dst.docs('public.m').map((d) => d.id).sort(), [1, 3]);
  assert.deepEqual(store.deadLetters.map((l) => ({ key: l.key, op: l.op, stage: l.stage })), [{ key: { id: 2 }, op: 'c', stage: 'CDC' }]);
  assert.deepEqual(store.jobUpdates.filter((u) => u.level === 'WARNING').map((u) => u.stage), ['CDC']);
  src.insert('public.m', { id: 4, ratio: 4 }); // seq 3
  src.insert('public.m', { id: 5, ratio: Number.NaN }); // seq 4: batch [3, 4] exceeds the tolerance
  await waitFor(async () => (await sup.status('c')).state === 'FAILED', { message: 'fails past the tolerance' });
  assert.equal((await sup.status('c')).error?.code, 'RECORD_ERROR_TOLERANCE_EXCEEDED');
  assert.equal(src.slot, 2, 'nothing of the failing batch is acknowledged');
  assert.deepEqual((await store.loadPosition('c', 'cdc')), { seq: 2 });
  assert.deepEqual({ failed: (await sup.status('c')).statistics.eventsFailed, dead: (await sup.status('c')).statistics.deadLettered }, { failed: 2, dead: 1 });
});
