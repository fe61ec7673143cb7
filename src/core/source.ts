/**
 * A source, as small capability interfaces (PeerDB's style): every source streams
 * changes, takes acks and closes; what only some can do is an interface of its own,
 * which a source class declares (`implements SnapshotSource, CutoverSource`) and the
 * run loop asks for with the guard beside it (`if (canCutOver(source))`).
 */
import type { ConnectorContext } from './context';
import type { EventBatch, TableRef } from './event';
import type { Position } from './position';

/** What every source does. */
export interface Source {
  /** Streams changes from `from` (null: from now / from where the snapshot ended). */
  stream(from: Position | null, ctx: ConnectorContext): AsyncIterable<EventBatch>;
  /** Tells the database that everything up to `position` is durable downstream. */
  ack(position: Position): Promise<void>;
  close(): Promise<void>;
}

export interface SnapshotPlan {
  tables: TableRef[];
  /** Where a previous, interrupted snapshot got to; null for a fresh one. */
  resumeFrom: Position | null;
}

/** Reads a consistent snapshot, in batches. A source without it can only run CDC_ONLY streams. */
export interface SnapshotSource extends Source {
  snapshot(plan: SnapshotPlan, ctx: ConnectorContext): AsyncIterable<EventBatch>;
}

/**
 * Fixes "now" for a CDC_ONLY stream that has no position yet (PostgreSQL: creates
 * its slot), so that every change committed after the stream reports CDC running is
 * captured. Called before that report; sources whose `stream(null)` needs no set-up
 * do without. A source that keeps no state on the server (MySQL) returns the position
 * of "now": the run loop records it as the stream's CDC position and passes it to `stream()`.
 */
export interface BeginningSource extends Source {
  begin(ctx: ConnectorContext): Promise<Position | void>;
}

/** Cutover (POST /streams/{id}/cutover): the source can tell where its database's log is now. */
export interface CutoverSource extends Source {
  /**
   * The database's log position now (PostgreSQL `pg_current_wal_lsn()`, MariaDB/MySQL
   * `SHOW MASTER STATUS`). Every change committed before the call lies at or before it.
   */
  currentPosition(): Promise<Position>;
  /** Whether the CDC position `position` (one of this source's batches) is at or past `target` (from currentPosition). */
  covers(position: Position, target: Position): boolean;
}

/** How far behind the database a source is; fields a source cannot tell are left out. */
export interface SourceLag {
  /** Log bytes written by the database and not yet acknowledged by the stream. */
  bytes?: number;
  /** Log bytes the database retains for the stream (a PostgreSQL slot's restart_lsn onwards). */
  retainedBytes?: number;
}

export interface LagReportingSource extends Source {
  /** Asks the database how far behind the stream is; polled for metrics, never on the data path. */
  lag(): Promise<SourceLag>;
}

/** A source that keeps something on the server for the stream. */
export interface DroppableSource extends Source {
  /** Removes what the source created for the stream (slot, publication). */
  drop(): Promise<void>;
}

const has = (s: Source, method: string): boolean => typeof (s as unknown as Record<string, unknown>)[method] === 'function';

export const canSnapshot = (s: Source): s is SnapshotSource => has(s, 'snapshot');
export const canBegin = (s: Source): s is BeginningSource => has(s, 'begin');
export const canCutOver = (s: Source): s is CutoverSource => has(s, 'currentPosition') && has(s, 'covers');
export const reportsLag = (s: Source): s is LagReportingSource => has(s, 'lag');
export const canDropSource = (s: Source): s is DroppableSource => has(s, 'drop');
