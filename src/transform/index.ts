/**
 * The transform stage as the run loop uses it: one function from a batch the
 * source read to the batch that is published, plus what was dropped. Pure; the
 * runner calls it in the source's process, so what it removes never leaves it.
 */
import type { EventBatch, StreamSpec } from '../core';
import { ColumnFilter } from './columns';
import { RowFilter, type Dialect, type FilterResult } from './filters';

export { validateFilters } from './filters';

export type StreamTransform = (batch: EventBatch) => FilterResult;

export function streamTransform(stream: Pick<StreamSpec, 'relationalTableFilters'>, dialect: Dialect, opts: { filterReads?: boolean } = {}): StreamTransform {
  const rows = new RowFilter(stream, dialect, Date.now, opts.filterReads ?? false);
  const columns = new ColumnFilter(stream);
  if (!rows.active && !columns.active) return (batch) => ({ batch, filtered: [] });
  return (read) => {
    const { batch, filtered } = rows.apply(read);
    if (!columns.active || batch.events.length === 0) return { batch, filtered };
    return { batch: { ...batch, events: batch.events.map((e) => columns.event(e)) }, filtered };
  };
}
