import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { ChangeEvent, ChunkProgress, EventBatch } from '../core';
import { readChunks, tableKey, type ChunkReader, type ChunkedSnapshot } from './chunked-snapshot';

interface Table {
  ref: { schema: string; table: string };
  rows: number[];
}

/** A table read from memory: keys are the row values, chunks follow the key. */
function spec(tables: Table[], opts: Partial<ChunkedSnapshot<Table, number, number>> = {}): ChunkedSnapshot<Table, number, number> & { closed: string[]; finished: string[] } {
  const closed: string[] = [];
  const finished: string[] = [];
  const progress = new Map<string, ChunkProgress<number>>(tables.map((t) => [tableKey(t.ref), { k: null, n: 0, done: false }]));
  return {
    tables,
    progress,
    chunkSize: 3,
    parallelism: 2,
    rowLimit: () => undefined,
    signal: new AbortController().signal,
    open: async (t): Promise<ChunkReader<number, number>> => ({
      begin: async () => undefined,
      estimate: async () => t.rows.length,
      read: async (after, limit) => t.rows.filter((r) => after === null || r > after[0]!).slice(0, limit),
      keyOf: (row) => [row],
      finish: async () => void finished.push(t.ref.table),
      close: async () => void closed.push(t.ref.table),
    }),
    toEvent: (t, row) => ({ table: t.ref, op: 'r', key: { id: row }, before: null, after: { id: row }, source: {} as ChangeEvent['source'], ts_ms: 0 }),
    position: (p) => ({ kind: 'test', tables: JSON.stringify([...p]) }),
    closed,
    finished,
    ...opts,
  };
}

async function drain(it: AsyncIterable<EventBatch>): Promise<EventBatch[]> {
  const out: EventBatch[] = [];
  for await (const b of it) out.push(b);
  return out;
}

test('every row of every table, in key-ordered chunks, each batch positioned at the progress so far', async () => {
  const s = spec([
    { ref: { schema: 's', table: 'a' }, rows: [1, 2, 3, 4, 5, 6, 7] },
    { ref: { schema: 's', table: 'b' }, rows: [10, 20] },
  ]);
  const batches = await drain(readChunks(s));
  const ids = (t: string) => batches.filter((b) => b.snapshot!.table.table === t).flatMap((b) => b.events.map((e) => e.key.id));
  assert.deepEqual(ids('a'), [1, 2, 3, 4, 5, 6, 7]);
  assert.deepEqual(ids('b'), [10, 20]);
  assert.deepEqual(s.progress.get('s.a'), { k: [7], n: 7, done: true });
  assert.deepEqual(s.progress.get('s.b'), { k: [20], n: 2, done: true });
  const last = batches.filter((b) => b.snapshot!.table.table === 'a').at(-1)!;
  assert.equal(last.snapshot!.tableDone, true);
  assert.equal(last.snapshot!.rowsDone, 7);
  assert.deepEqual(s.finished.sort(), ['a', 'b']);
  assert.deepEqual(s.closed.sort(), ['a', 'b']);
});

test('a resumed table continues after its last key; a finished one is skipped; rowCount limits the rows', async () => {
  const s = spec([
    { ref: { schema: 's', table: 'a' }, rows: [1, 2, 3, 4, 5, 6, 7] },
    { ref: { schema: 's', table: 'b' }, rows: [10, 20] },
    { ref: { schema: 's', table: 'c' }, rows: [1, 2, 3, 4, 5] },
  ], { rowLimit: (ref) => (ref.table === 'c' ? 4 : undefined) });
  s.progress.set('s.a', { k: [3], n: 3, done: false });
  s.progress.set('s.b', { k: [20], n: 2, done: true });
  const batches = await drain(readChunks(s));
  const ids = (t: string) => batches.filter((b) => b.snapshot!.table.table === t).flatMap((b) => b.events.map((e) => e.key.id));
  assert.deepEqual(ids('a'), [4, 5, 6, 7]);
  assert.deepEqual(ids('b'), []);
  assert.deepEqual(ids('c'), [1, 2, 3, 4]);
  assert.deepEqual(s.progress.get('s.a'), { k: [7], n: 7, done: true });
});

test('an error while building a chunk\'s events ends the snapshot with it at once; no worker is left waiting', async () => {
  const bad = new Error('cannot decode row 5');
  const s = spec([{ ref: { schema: 's', table: 'a' }, rows: [1, 2, 3, 4, 5, 6, 7, 8, 9] }], {
    parallelism: 1,
    toEvent: (t, row) => {
      if (row === 5) throw bad;
      return { table: t.ref, op: 'r', key: { id: row }, before: null, after: { id: row }, source: {} as ChangeEvent['source'], ts_ms: 0 };
    },
  });
  let timer: NodeJS.Timeout | undefined;
  const outcome = await Promise.race([
    drain(readChunks(s)).then(() => 'ended', (e: unknown) => e),
    new Promise((r) => (timer = setTimeout(() => r('hangs'), 2000))),
  ]);
  clearTimeout(timer);
  assert.equal(outcome, bad);
  assert.deepEqual(s.closed, ['a'], 'the worker released its connection');
});

test('a worker\'s error ends the snapshot with it, and the other workers stop', async () => {
  const bad = new Error('connection lost');
  const s = spec([
    { ref: { schema: 's', table: 'a' }, rows: [1, 2, 3, 4, 5, 6, 7, 8, 9] },
    { ref: { schema: 's', table: 'b' }, rows: [1, 2, 3] },
  ]);
  const open = s.open;
  s.open = async (t) => {
    const r = await open(t);
    return t.ref.table === 'b' ? { ...r, read: async () => Promise.reject(bad) } : r;
  };
  await assert.rejects(drain(readChunks(s)), (e) => e === bad);
  assert.deepEqual(s.closed.sort(), ['a', 'b']);
});
