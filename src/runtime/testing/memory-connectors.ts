/**
 * In-memory source and sink connectors for unit tests. They model just enough of a
 * real database to test the delivery contract: a replication "slot" that only moves
 * on ack, a change log with sequence numbers, a sink that applies events by key.
 * Everything they do is recorded, and one shared journal orders sink writes and
 * source acks across both, so a test can prove no ack came before its write.
 */
import { NO_OPTIONS, type ChangeEvent, type ConnectorContext, type ConnectorModule, type CreateArgs, type EventBatch, type Op, type Position, type Row, type SnapshotPlan, type Sink, type StreamSpec, type TableRef, type SnapshotSource, type BeginningSource, type CutoverSource } from '../../core';
import { SluiceError } from '../../errors';

export type JournalEntry =
  | { kind: 'sinkWriteResolved'; connectionId: string; streamId: string; position: Position | null }
  | { kind: 'ack'; connectionId: string; streamId: string; position: Position };

type Phase = 'snapshot' | 'stream' | 'ack';

const keyOf = (pk: string[], row: Row): Row => Object.fromEntries(pk.map((c) => [c, row[c]]));
const keyString = (key: Row): string => JSON.stringify(key);
const tableName = (t: TableRef): string => (t.schema ? `${t.schema}.${t.table}` : t.table);

export class MemorySourceDb {
  readonly tables = new Map<string, { pk: string[]; rows: Map<string, Row> }>();
  /** The change log; an event's sequence number is its index + 1. */
  readonly log: ChangeEvent[] = [];
  /** Highest acknowledged sequence number; null until a snapshot or stream created it. */
  slot: number | null = null;
  readonly acks: Position[] = [];
  batchSize = 2;
  /** Like MySQL: no slot on the server; begin() returns "now" for the run loop to record. */
  stateless = false;
  /** The source tells its current position (cutover); off: a source that cannot. */
  cutover = true;
  sourcesOpened = 0;
  /** What each source was created with (the run hands options over parsed). */
  readonly createdWith: CreateArgs[] = [];
  sourcesClosed = 0;
  readonly #failures: Array<{ phase: Phase; after: number; error: Error }> = [];
  readonly #counts: Record<Phase, number> = { snapshot: 0, stream: 0, ack: 0 };
  #wake = new Set<() => void>();

  constructor(
    readonly connectionId: string,
    private readonly journal: JournalEntry[],
  ) {}

  setTable(name: string, rows: Row[], pk: string[] = ['id']): void {
    this.tables.set(name, { pk, rows: new Map(rows.map((r) => [keyString(keyOf(pk, r)), { ...r }])) });
  }

  insert(table: string, row: Row): number {
    return this.#change(table, 'c', row);
  }

  update(table: string, row: Row): number {
    return this.#change(table, 'u', row);
  }

  delete(table: string, key: Row): number {
    return this.#change(table, 'd', key);
  }

  /** Makes the `after`+1-th batch of `phase` (or the after+1-th ack) throw `error`, once. */
  failAt(phase: Phase, after: number, error: Error): void {
    this.#failures.push({ phase, after, error });
  }

  count(phase: Phase): number {
    return this.#counts[phase];
  }

  #change(name: string, op: Op, row: Row): number {
    const t = this.tables.get(name);
    if (!t) throw new Error(`memory source ${this.connectionId}: no table ${name}`);
    const key = keyOf(t.pk, row);
    const k = keyString(key);
    const before = t.rows.get(k) ?? null;
    if (op === 'd') t.rows.delete(k);
    else t.rows.set(k, { ...row });
    const [schema, table] = name.includes('.') ? name.split('.', 2) : ['', name];
    const seq = this.log.length + 1;
    this.log.push({
      table: { schema: schema!, table: table! },
      op,
      key,
      before,
      after: op === 'd' ? null : { ...row },
      source: this.#sourceInfo(schema!, table!, false, seq),
      ts_ms: Date.now(),
    });
    for (const wake of this.#wake) wake();
    return seq;
  }

  #sourceInfo(schema: string, table: string, snapshot: boolean, seq?: number): ChangeEvent['source'] {
    return { connector: 'memory', name: this.connectionId, db: 'memory', schema, table, ts_ms: Date.now(), snapshot, ...(seq === undefined ? {} : { pos: seq }) };
  }

  #maybeFail(phase: Phase): void {
    const n = this.#counts[phase];
    const i = this.#failures.findIndex((f) => f.phase === phase && f.after <= n);
    if (i >= 0) {
      const [f] = this.#failures.splice(i, 1);
      throw f!.error;
    }
  }

  /** Resolves when a change is pushed, or the signal aborts. */
  #nextChange(signal: AbortSignal): Promise<void> {
    return new Promise((resolve) => {
      const done = (): void => {
        this.#wake.delete(done);
        signal.removeEventListener('abort', done);
        resolve();
      };
      this.#wake.add(done);
      if (signal.aborted) done();
      else signal.addEventListener('abort', done, { once: true });
    });
  }

  async *snapshot(plan: SnapshotPlan, ctx: ConnectorContext, closed: () => boolean): AsyncGenerator<EventBatch> {
    // The slot is created where the snapshot starts, so CDC later replays every change
    // made while the snapshot ran: the consistent point of a real source.
    if (this.slot === null) this.slot = this.log.length;
    const from = plan.resumeFrom;
    let ti = from ? plan.tables.findIndex((t) => tableName(t) === from.table) : 0;
    if (ti < 0) ti = 0;
    for (; ti < plan.tables.length; ti++) {
      const ref = plan.tables[ti]!;
      const t = this.tables.get(tableName(ref));
      if (!t) throw new Error(`memory source ${this.connectionId}: no table ${tableName(ref)}`);
      const rows = [...t.rows.values()].map((r) => ({ ...r }));
      let offset = from && from.table === tableName(ref) ? Number(from.offset) : 0;
      if (offset > 0 && offset >= rows.length) continue;
      do {
        if (ctx.signal.aborted || closed()) return;
        this.#maybeFail('snapshot');
        const chunk = rows.slice(offset, offset + this.batchSize);
        offset += chunk.length;
        this.#counts.snapshot++;
        yield {
          events: chunk.map((row) => ({
            table: ref,
            op: 'r' as const,
            key: keyOf(t.pk, row),
            before: null,
            after: row,
            source: this.#sourceInfo(ref.schema, ref.table, true),
            ts_ms: Date.now(),
          })),
          position: { table: tableName(ref), offset },
          snapshot: { table: ref, rowsDone: offset, rowsTotal: rows.length, tableDone: offset >= rows.length },
        };
      } while (offset < rows.length);
    }
  }

  async *stream(from: Position | null, ctx: ConnectorContext, closed: () => boolean): AsyncGenerator<EventBatch> {
    if (this.slot === null) this.slot = this.log.length;
    let cursor = from && typeof from.seq === 'number' ? from.seq : this.slot;
    while (!ctx.signal.aborted && !closed()) {
      if (cursor >= this.log.length) {
        await this.#nextChange(ctx.signal);
        continue;
      }
      this.#maybeFail('stream');
      const events = this.log.slice(cursor, cursor + this.batchSize);
      cursor += events.length;
      this.#counts.stream++;
      yield { events, position: { seq: cursor } };
    }
  }

  async ack(position: Position, streamId: string): Promise<void> {
    this.#maybeFail('ack');
    this.#counts.ack++;
    this.acks.push(position);
    this.journal.push({ kind: 'ack', connectionId: this.connectionId, streamId, position });
    if (typeof position.seq === 'number') this.slot = Math.max(this.slot ?? 0, position.seq);
  }
}

export interface AppliedEvent {
  table: string;
  op: Op;
  key: string;
  /** The source sequence number for change events; absent for snapshot rows. */
  seq?: number;
}

export class MemorySinkDb {
  /** collection ("schema.table") → key → document */
  readonly collections = new Map<string, Map<string, Row>>();
  /** Every event in the order it was applied, duplicates included. */
  readonly applied: AppliedEvent[] = [];
  writesStarted = 0;
  writesResolved = 0;
  sinksClosed = 0;
  /** The stream spec each sink was created with (mapping resolved), in order. */
  readonly createdFor: StreamSpec[] = [];
  delayMs = 0;
  #gate: Promise<void> | null = null;
  #openGate: (() => void) | null = null;
  #failNext: Error[] = [];
  failAlways: Error | null = null;
  /**
   * Retries for ever as the MongoDB sink does while its server is away, and when the
   * stream is stopped rejects with this (its last error), not with an abort.
   */
  retryUntilStopped: Error | null = null;
  /**
   * Refuses records as the MongoDB sink does (SINK_RECORD_REJECTED with detail.eventIndex):
   * the events before the first refused one are applied, as by an ordered bulkWrite.
   */
  rejectWhen: ((ev: ChangeEvent) => { field: string; message: string } | null) | null = null;

  constructor(
    readonly connectionId: string,
    private readonly journal: JournalEntry[],
  ) {}

  /** Holds every write until `unblock()`: a sink that is down or very slow. */
  block(): void {
    if (!this.#gate) this.#gate = new Promise((resolve) => (this.#openGate = resolve));
  }

  unblock(): void {
    this.#openGate?.();
    this.#gate = null;
    this.#openGate = null;
  }

  failNext(error: Error): void {
    this.#failNext.push(error);
  }

  docs(table: string): Row[] {
    return [...(this.collections.get(table)?.values() ?? [])];
  }

  async write(batch: EventBatch, streamId: string, signal?: AbortSignal): Promise<void> {
    this.writesStarted++;
    const away = this.retryUntilStopped;
    if (away && signal) {
      await new Promise((resolve) => (signal.aborted ? resolve(null) : signal.addEventListener('abort', resolve, { once: true })));
      throw away;
    }
    if (this.#gate) await this.#gate;
    if (this.delayMs > 0) await new Promise((r) => setTimeout(r, this.delayMs));
    const failure = this.#failNext.shift() ?? this.failAlways;
    if (failure) throw failure;
    let events = batch.events;
    let rejected: SluiceError | undefined;
    const bad = this.rejectWhen ? events.findIndex((e) => this.rejectWhen!(e) !== null) : -1;
    if (bad >= 0) {
      const ev = events[bad]!;
      const why = this.rejectWhen!(ev)!;
      const table = tableName(ev.table);
      rejected = new SluiceError('SINK_RECORD_REJECTED', `Cannot convert the record for ${table}, key ${keyString(ev.key)}: ${why.message}`, {
        table,
        key: ev.key,
        field: why.field,
        eventIndex: bad,
        op: ev.op,
        cause: why.message,
      });
      events = events.slice(0, bad);
    }
    for (const ev of events) {
      const name = tableName(ev.table);
      let coll = this.collections.get(name);
      if (!coll) this.collections.set(name, (coll = new Map()));
      const k = keyString(ev.key);
      if (ev.op === 'd') coll.delete(k);
      else coll.set(k, { ...ev.after });
      const seq = typeof ev.source.pos === 'number' && !ev.source.snapshot ? ev.source.pos : undefined;
      this.applied.push({ table: name, op: ev.op, key: k, ...(seq === undefined ? {} : { seq }) });
    }
    if (rejected) throw rejected;
    this.writesResolved++;
    this.journal.push({ kind: 'sinkWriteResolved', connectionId: this.connectionId, streamId, position: batch.position });
  }
}

export interface MemoryConnectors {
  readonly sourceModule: ConnectorModule;
  readonly sinkModule: ConnectorModule;
  /** Shared, ordered record of sink writes and source acks. */
  readonly journal: JournalEntry[];
  source(connectionId: string): MemorySourceDb;
  sink(connectionId: string): MemorySinkDb;
}

export const MEMORY_SOURCE_KIND = 'memory-source';
export const MEMORY_SINK_KIND = 'memory-sink';

export function createMemoryConnectors(): MemoryConnectors {
  const journal: JournalEntry[] = [];
  const sources = new Map<string, MemorySourceDb>();
  const sinks = new Map<string, MemorySinkDb>();
  const source = (id: string): MemorySourceDb => {
    let db = sources.get(id);
    if (!db) sources.set(id, (db = new MemorySourceDb(id, journal)));
    return db;
  };
  const sink = (id: string): MemorySinkDb => {
    let db = sinks.get(id);
    if (!db) sinks.set(id, (db = new MemorySinkDb(id, journal)));
    return db;
  };

  const sourceModule: ConnectorModule = {
    kind: MEMORY_SOURCE_KIND,
    options: { connection: NO_OPTIONS, stream: NO_OPTIONS },
    dialect: 'postgresql',
    roles: ['source'],
    createSource({ connection, stream }: CreateArgs): SnapshotSource & Partial<BeginningSource & CutoverSource> {
      const db = source(connection.id);
      db.sourcesOpened++;
      db.createdWith.push({ connection, stream } as CreateArgs);
      let closed = false;
      const isClosed = (): boolean => closed;
      return {
        snapshot: (plan, ctx) => db.snapshot(plan, ctx, isClosed),
        ...(db.stateless ? { begin: async () => ({ seq: db.log.length }) } : {}),
        stream: (from, ctx) => db.stream(from, ctx, isClosed),
        ...(db.cutover
          ? {
              currentPosition: async () => ({ seq: db.log.length }),
              covers: (position: Position, target: Position) => typeof position.seq === 'number' && typeof target.seq === 'number' && position.seq >= target.seq,
            }
          : {}),
        // A real source cannot ack once its replication connection is gone.
        ack: (position) =>
          closed ? Promise.reject(new Error(`memory source ${connection.id}: ack after close`)) : db.ack(position, stream.id),
        async close() {
          if (!closed) db.sourcesClosed++;
          closed = true;
        },
      };
    },
  };

  const sinkModule: ConnectorModule = {
    kind: MEMORY_SINK_KIND,
    options: { connection: NO_OPTIONS, stream: NO_OPTIONS },
    roles: ['sink'],
    createSink({ connection, stream }: CreateArgs): Sink {
      const db = sink(connection.id);
      db.createdFor.push(stream);
      return {
        write: (batch, ctx) => db.write(batch, stream.id, ctx.signal),
        async close() {
          db.sinksClosed++;
        },
      };
    },
  };

  return { sourceModule, sinkModule, journal, source, sink };
}
