/**
 * One stream's view of the metric catalogue. The run loop calls it at the pipeline's
 * boundaries (a batch read, a batch durable in the transport, a batch written by the
 * sink, a lag poll), and connectors reach it only through `ConnectorContext.count`.
 */
import { RUN_EVENTS, canPrepare, type ChangeEvent, type EventBatch, type RunEvent, type Sink, type SourceLag, type TableRef, type PreparingSink } from '../core';
import type { Catalogue } from './catalogue';

/** Past this many distinct tables in one stream, further ones share the label "_other". */
export const MAX_TABLES_PER_STREAM = 1000;
export const OTHER_TABLE = '_other';

/**
 * How far behind a stream's run is, as it last measured: source lag in log bytes (the
 * source's lag probe: a PostgreSQL slot's unacknowledged WAL), in seconds (the commit time
 * of the last change delivered; 0 after a heartbeat), and the Kafka consumer's lag in
 * messages. null: not measured yet, or not measurable for this source or transport.
 */
export interface LagView {
  sourceBytes: number | null;
  sourceSeconds: number | null;
  consumerMessages: number | null;
}

export const UNKNOWN_LAG: LagView = Object.freeze({ sourceBytes: null, sourceSeconds: null, consumerMessages: null });

export interface Meter {
  /** A batch came out of the source. */
  read(batch: EventBatch): void;
  /** A batch is durable in the transport (and its position saved). */
  delivered(batch: EventBatch, phase: 'snapshot' | 'cdc'): void;
  /** A batch could not be delivered. */
  failed(events: number): void;
  /** The stream's snapshot is complete (also when it was before this run). */
  snapshotComplete(): void;
  /** The latest answers of the source's and the transport's lag probes (null: unknown). */
  lag(source: SourceLag | null, consumerMessages: number | null): void;
  count(event: RunEvent, n?: number, table?: TableRef): void;
  /** A failed run is restarted by the retry policy. */
  restarted(): void;
  /** The lag as last measured, for the stream's status. */
  lagView(): LagView;
  /** Wraps the sink so that each acknowledged write is counted and timed. */
  sink(sink: Sink): Sink;
  /** Events the sink acknowledged at `now` (default: now), counted and timed: what `sink` does, for a sink that runs elsewhere (a sink worker). */
  written(events: readonly WrittenEvent[], now?: number): void;
}

const noop = (): void => undefined;
export const NOOP_METER: Meter = {
  read: noop,
  delivered: noop,
  failed: noop,
  snapshotComplete: noop,
  lag: noop,
  count: noop,
  restarted: noop,
  lagView: () => UNKNOWN_LAG,
  sink: (s) => s,
  written: noop,
};

/** A written event as the meter needs it (a ChangeEvent is one): its table, op and commit time. */
export interface WrittenEvent {
  table: TableRef;
  op: ChangeEvent['op'];
  source: { ts_ms: number };
}

export class StreamMeter implements Meter {
  readonly #m: Catalogue;
  readonly #stream: string;
  readonly #tables = new Set<string>();
  #lag: LagView = UNKNOWN_LAG;

  constructor(catalogue: Catalogue, stream: string, tables: readonly string[]) {
    this.#m = catalogue;
    this.#stream = stream;
    const s = { stream };
    // Zero-valued series from the start, so rate() and increase() answer before the first event.
    for (const c of [this.#m.eventsFailed, this.#m.deadLetters, this.#m.kafkaErrors, this.#m.mongodbErrors, this.#m.streamRestarts]) c.inc(s, 0);
    for (const t of tables) if (t.includes('.')) this.#initTable(t);
  }

  #initTable(label: string): void {
    this.#tables.add(label);
    const l = { stream: this.#stream, table: label };
    for (const c of [this.#m.eventsRead, this.#m.eventsWritten, this.#m.eventsFiltered, this.#m.snapshotRows]) c.inc(l, 0);
  }

  #table(ref: TableRef): string {
    const label = ref.schema ? `${ref.schema}.${ref.table}` : ref.table;
    if (this.#tables.has(label)) return label;
    if (this.#tables.size >= MAX_TABLES_PER_STREAM) return OTHER_TABLE;
    this.#initTable(label);
    return label;
  }

  /** Events per table label, so a batch costs one inc per table, not per event. */
  #perTable(events: readonly { table: TableRef }[]): Map<string, number> {
    const counts = new Map<string, number>();
    for (const e of events) {
      const t = this.#table(e.table);
      counts.set(t, (counts.get(t) ?? 0) + 1);
    }
    return counts;
  }

  read(batch: EventBatch): void {
    for (const [table, n] of this.#perTable(batch.events)) this.#m.eventsRead.inc({ stream: this.#stream, table }, n);
  }

  delivered(batch: EventBatch, phase: 'snapshot' | 'cdc'): void {
    const stream = this.#stream;
    if (batch.events.length > 0) this.#m.batchSize.observe({ stream, phase }, batch.events.length);
    if (phase === 'snapshot') {
      for (const [table, n] of this.#perTable(batch.events)) this.#m.snapshotRows.inc({ stream, table }, n);
      const s = batch.snapshot;
      if (s) {
        const ratio = s.tableDone ? 1 : s.rowsTotal ? Math.min(1, s.rowsDone / s.rowsTotal) : 0;
        this.#m.snapshotProgress.set({ stream, table: this.#table(s.table) }, ratio);
      }
      return;
    }
    // A heartbeat (no events) means the source had nothing older to give.
    const last = batch.events[batch.events.length - 1];
    const lag = last ? Math.max(0, (Date.now() - last.source.ts_ms) / 1000) : 0;
    this.#m.sourceLagSeconds.set({ stream }, lag);
    this.#lag = { ...this.#lag, sourceSeconds: lag };
  }

  failed(events: number): void {
    this.#m.eventsFailed.inc({ stream: this.#stream }, events);
  }

  snapshotComplete(): void {
    for (const table of this.#tables) this.#m.snapshotProgress.set({ stream: this.#stream, table }, 1);
  }

  lag(source: SourceLag | null, consumerMessages: number | null): void {
    const s = { stream: this.#stream };
    if (source?.bytes !== undefined) this.#m.sourceLagBytes.set(s, source.bytes);
    if (source?.retainedBytes !== undefined) this.#m.slotRetainedWal.set(s, source.retainedBytes);
    if (consumerMessages !== null) this.#m.consumerLag.set(s, consumerMessages);
    this.#lag = {
      ...this.#lag,
      ...(source?.bytes !== undefined ? { sourceBytes: source.bytes } : {}),
      ...(consumerMessages !== null ? { consumerMessages } : {}),
    };
  }

  lagView(): LagView {
    return this.#lag;
  }

  count(event: RunEvent, n = 1, table?: TableRef): void {
    const stream = this.#stream;
    switch (event) {
      case RUN_EVENTS.KAFKA_ERROR:
        return this.#m.kafkaErrors.inc({ stream }, n);
      case RUN_EVENTS.MONGODB_ERROR:
        return this.#m.mongodbErrors.inc({ stream }, n);
      case RUN_EVENTS.DEAD_LETTERED:
        return this.#m.deadLetters.inc({ stream }, n);
      case RUN_EVENTS.FILTERED:
        return this.#m.eventsFiltered.inc({ stream, table: table ? this.#table(table) : OTHER_TABLE }, n);
    }
  }

  restarted(): void {
    this.#m.streamRestarts.inc({ stream: this.#stream });
  }

  sink(sink: Sink): Sink {
    return meteredSink(sink, (events) => this.written(events));
  }

  written(events: readonly WrittenEvent[], now = Date.now()): void {
    const stream = this.#stream;
    for (const [table, n] of this.#perTable(events)) this.#m.eventsWritten.inc({ stream, table }, n);
    for (const e of events) {
      // Snapshot rows carry the snapshot's read time, not a commit: they would only blur the histogram.
      if (e.op !== 'r') this.#m.latency.observe({ stream }, Math.max(0, (now - e.source.ts_ms) / 1000));
    }
  }
}

/** `sink`, calling `onWritten` with each batch's events once the sink acknowledged them. */
export function meteredSink(sink: Sink, onWritten: (events: readonly ChangeEvent[]) => void): Sink {
  const counted: Sink = {
    write: async (batch, ctx) => {
      await sink.write(batch, ctx);
      onWritten(batch.events);
    },
    close: () => sink.close(),
  };
  if (!canPrepare(sink)) return counted;
  const preparing: PreparingSink = { ...counted, prepare: (tables, ctx) => sink.prepare(tables, ctx) };
  return preparing;
}
