/**
 * The sink side of a stream that reads existing topics (transport/kafka/topics-source.ts).
 * Its batches never pass Pipeline.deliver, so the stages deliver runs on the source side
 * run here, where the sink end reads: the `tables` it keeps (when the stream names any),
 * the filter stage (row filters, column include/exclude), and the run's counters, meter
 * and batch reports. The sink end commits a batch's offsets only once this resolved.
 */
import { RUN_EVENTS, parseTableName, type ConnectorContext, type EventBatch, type Sink, type StreamSpec, type TableRef } from '../core';
import type { StreamTransform } from '../transform';
import type { Meter } from '../metrics/stream-meter';
import type { RunCounters } from './persistence';

export interface ReadingDeps {
  ctx: ConnectorContext;
  counters: RunCounters;
  meter: Meter;
  onBatch(batch: EventBatch): void | Promise<void>;
}

/** Keeps the events of the stream's `tables` (all when it names none); counts what it leaves out as filtered. */
function tableKeeper(stream: Pick<StreamSpec, 'tables'>): ((batch: EventBatch, ctx: ConnectorContext) => EventBatch) | null {
  if (stream.tables.length === 0) return null;
  const wanted = stream.tables.map(parseTableName);
  const keeps = (t: TableRef): boolean => wanted.some((w) => w.table === t.table && (w.schema === '' || w.schema === t.schema));
  return (batch, ctx) => {
    const kept = batch.events.filter((e) => keeps(e.table));
    if (kept.length === batch.events.length) return batch;
    for (const e of batch.events) if (!keeps(e.table)) ctx.count?.(RUN_EVENTS.FILTERED, 1, e.table);
    return { ...batch, events: kept };
  };
}

/** `sink` fed by a topics stream's sink end: tables kept, filters applied, every batch counted. */
export function readingSink(sink: Sink, filter: StreamTransform, stream: Pick<StreamSpec, 'tables'>, deps: ReadingDeps): Sink {
  const { counters, meter } = deps;
  const keep = tableKeeper(stream);
  return {
    async write(read: EventBatch, ctx: ConnectorContext): Promise<void> {
      counters.eventsRead += read.events.length;
      meter.read(read);
      const { batch, filtered } = filter(keep ? keep(read, ctx) : read);
      for (const f of filtered) ctx.count?.(RUN_EVENTS.FILTERED, f.n, f.table);
      const lettersBefore = counters.deadLettered;
      try {
        await sink.write(batch, ctx);
      } catch (err) {
        if (!ctx.signal.aborted) meter.failed(batch.events.length);
        throw err;
      }
      // Partitions are written concurrently: dead letters of another partition's batch may
      // land in this window; the total over the run is right.
      const delivered = Math.max(0, batch.events.length - (counters.deadLettered - lettersBefore));
      counters.eventsWritten += delivered;
      counters.cdcEvents += delivered;
      counters.batches++;
      meter.delivered(batch, 'cdc');
      await deps.onBatch(batch);
    },
    close: () => sink.close(),
  };
}
