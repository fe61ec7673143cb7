/**
 * A sink, as small capability interfaces (see source.ts): every sink writes batches
 * durably and closes; preparing a fresh snapshot and dropping what it keeps are
 * interfaces of their own, asked for with the guards below.
 */
import type { ConnectorContext } from './context';
import type { EventBatch, TableRef } from './event';

/** What every sink does. */
export interface Sink {
  /** Resolves only once the batch is durably written (MongoDB acknowledged). A batch may be empty. */
  write(batch: EventBatch, ctx: ConnectorContext): Promise<void>;
  close(): Promise<void>;
}

export interface PreparingSink extends Sink {
  /**
   * Called once before a fresh snapshot starts writing (never on a resumed one),
   * e.g. to honour `options.dropCollections`.
   */
  prepare(tables: TableRef[], ctx: ConnectorContext): Promise<void>;
}

export interface DroppableSink extends Sink {
  /**
   * Removes what the sink keeps for the stream beside the documents it wrote (MongoDB:
   * the embedding staging collections `_sluice_embed.<streamId>.…`); the documents stay.
   * Called when the stream is deleted (Supervisor.release): first with `check: true`,
   * before the source's drop, which only makes sure the sink can be reached and drops
   * nothing, then without, after the source's drop. Idempotent. Throws SINK_UNREACHABLE
   * when the sink cannot be reached.
   */
  drop(opts?: { check?: boolean }): Promise<void>;
}

const has = (s: Sink, method: string): boolean => typeof (s as unknown as Record<string, unknown>)[method] === 'function';

export const canPrepare = (s: Sink): s is PreparingSink => has(s, 'prepare');
export const canDropSink = (s: Sink): s is DroppableSink => has(s, 'drop');
