/**
 * The chunked snapshot both SQL sources share (Debezium's RelationalSnapshotChangeEventSource
 * plays this part for all its connectors): tables are read by a pool of workers, each table
 * in keyset chunks ordered by its key inside one read transaction of its own, and every
 * chunk becomes a batch positioned at the progress of all tables so far, so that a resumed
 * snapshot continues after its last finished chunk.
 *
 * A connector supplies only its SQL and its decoding: how a worker opens a table's read
 * (`open`: connect, begin its consistent read), reads one chunk after a key, estimates the
 * rows, and turns a row into a ChangeEvent; and what position records the progress.
 *
 * Memory: one hand-off slot per worker. A worker waits until its chunk is taken, so at
 * most `parallelism` chunks are held however slow the consumer is.
 *
 * Failure: a worker's error, and an error while building a chunk's events (a value the
 * connector cannot decode), ends the generator with that error; every worker is released
 * first, so nothing waits for a chunk nobody will take.
 */
import { keyOf, type ChangeEvent, type ChunkProgress, type EventBatch, type Position, type Row, type SourceInfo, type TableRef, type TableSchema } from '../core';

/** One table's read on one worker's connection. */
export interface ChunkReader<K, R> {
  /** Opens the table's read transaction (the consistent view the chunks share). */
  begin(): Promise<void>;
  /** Rows of the table (the source's estimate), at most `limit`; for progress only. */
  estimate(limit: number | undefined): Promise<number>;
  /** Up to `limit` rows after key `after` (null: from the start), in key order. */
  read(after: K[] | null, limit: number): Promise<R[]>;
  /** The key of a row read, as it is kept in the position. */
  keyOf(row: R): K[];
  /** Ends the read transaction once the table is done. */
  finish(): Promise<void>;
  /** Releases the connection, whatever happened. */
  close(): Promise<void>;
}

export interface ChunkedSnapshot<T extends { ref: TableRef }, K, R> {
  tables: T[];
  /** Per table ("schema.table"): last key, rows done, finished; tables already done are skipped. */
  progress: Map<string, ChunkProgress<K>>;
  chunkSize: number;
  parallelism: number;
  /** Per-table row limit (relationalTableFilters rowCount). */
  rowLimit(ref: TableRef): number | undefined;
  signal: AbortSignal;
  /** A connection for one table's read (the worker calls begin, reads, finish, then close). */
  open(table: T): Promise<ChunkReader<K, R>>;
  /** A snapshot row as a change event (op 'r'). */
  toEvent(table: T, row: R): ChangeEvent;
  /** The position that records `progress` (and the source's consistent point). */
  position(progress: Map<string, ChunkProgress<K>>): Position;
}

export const tableKey = (r: TableRef): string => `${r.schema}.${r.table}`;

interface Chunk<T, K, R> {
  table: T;
  rows: R[];
  lastKey: K[] | null;
  done: boolean;
  rowsTotal: number;
}

/** Reads every unfinished table in chunks and yields one batch per chunk, in the order chunks are ready. */
export async function* readChunks<T extends { ref: TableRef }, K, R>(s: ChunkedSnapshot<T, K, R>): AsyncGenerator<EventBatch> {
  const { progress } = s;
  const pending = s.tables.filter((t) => !progress.get(tableKey(t.ref))!.done);
  const ready: Array<{ chunk: Chunk<T, K, R>; taken: () => void }> = [];
  let failure: unknown = null;
  let wake: (() => void) | null = null;
  let stopped = false;
  const notify = (): void => {
    wake?.();
    wake = null;
  };

  const worker = async (): Promise<void> => {
    for (let t = pending.shift(); t && !stopped; t = pending.shift()) {
      const reader = await s.open(t);
      try {
        await reader.begin();
        const p = progress.get(tableKey(t.ref))!;
        const limit = s.rowLimit(t.ref);
        const rowsTotal = await reader.estimate(limit);
        let lastKey = p.k;
        let done = p.n;
        for (;;) {
          if (stopped || s.signal.aborted) return;
          const n = limit === undefined ? s.chunkSize : Math.max(0, Math.min(s.chunkSize, limit - done));
          const rows = n === 0 ? [] : await reader.read(lastKey, n);
          done += rows.length;
          if (rows.length > 0) lastKey = reader.keyOf(rows[rows.length - 1]!);
          const finished = rows.length < n || n === 0 || (limit !== undefined && done >= limit);
          await new Promise<void>((taken) => {
            ready.push({ chunk: { table: t, rows, lastKey, done: finished, rowsTotal }, taken });
            notify();
          });
          if (finished) break;
        }
        await reader.finish();
      } finally {
        await reader.close();
      }
    }
  };

  const workers = Array.from({ length: Math.max(1, Math.min(s.parallelism, pending.length)) }, () =>
    worker().catch((err: unknown) => {
      failure ??= err;
      notify();
    }),
  );
  let running = workers.length;
  for (const w of workers) void w.then(() => { running--; notify(); });

  try {
    for (;;) {
      if (failure) throw failure;
      const next = ready.shift();
      if (!next) {
        if (running === 0) break;
        await new Promise<void>((r) => (wake = r));
        continue;
      }
      const { chunk } = next;
      // Release the worker first: if building the events throws, the finally below
      // must not wait for ever on a worker blocked on a chunk nobody will take.
      next.taken();
      const key = tableKey(chunk.table.ref);
      const rowsDone = progress.get(key)!.n + chunk.rows.length;
      progress.set(key, { k: chunk.lastKey, n: rowsDone, done: chunk.done });
      const batch: EventBatch = {
        events: chunk.rows.map((r) => s.toEvent(chunk.table, r)),
        position: s.position(progress),
        snapshot: { table: chunk.table.ref, rowsDone, rowsTotal: Math.max(chunk.rowsTotal, rowsDone), tableDone: chunk.done },
      };
      yield batch;
    }
  } finally {
    stopped = true;
    for (const r of ready.splice(0)) r.taken();
    await Promise.all(workers);
  }
}

/** A row the snapshot read, as its change event: op 'r', no before image, read now. */
export function snapshotEvent(table: { ref: TableRef; key: string[]; schema: TableSchema }, after: Row, source: (nowMs: number) => SourceInfo): ChangeEvent {
  const now = Date.now();
  return { table: table.ref, op: 'r', key: keyOf(table.key, after), before: null, after, source: source(now), ts_ms: now, schema: table.schema };
}
