/**
 * Positions: where a source is in its database's log, or in its snapshot. The run
 * loop treats a Position as opaque: it saves it (as JSON, in the store) only once the
 * batch it came with is durable, and hands it back to the source that made it
 * (`stream(from)`, `ack`, `covers`, a snapshot's `resumeFrom`). Only the source reads
 * its fields; the typed forms below are the ones our sources write.
 */

/** JSON-serialisable, scalar values only (nested data is JSON text, as in a snapshot's `tables`). */
export type Position = { readonly [key: string]: string | number | boolean | null };

/** PostgreSQL: a WAL location, as pg_lsn prints it ("16/B374D848"). CDC positions and cutover targets. */
export type LsnPosition = { readonly lsn: string };

/** Whether `p` carries a WAL location (a snapshot position does not: it is never sent to the database). */
export function isLsnPosition(p: Position | null | undefined): p is Position & LsnPosition {
  return typeof p?.lsn === 'string';
}

/**
 * MySQL/MariaDB: a binlog file and the offset of the next event, at a commit boundary,
 * with the GTID when the server reports one. CDC positions, cutover targets, and a
 * snapshot's consistent point.
 */
export type BinlogPosition = { readonly file: string; readonly pos: number; readonly gtid: string | null };

/** The binlog position `p` holds (a CDC position, or the consistent point of a snapshot position), or null. */
export function binlogPositionOf(p: Position | null | undefined): BinlogPosition | null {
  if (!p || typeof p.file !== 'string' || typeof p.pos !== 'number') return null;
  return { file: p.file, pos: p.pos, gtid: typeof p.gtid === 'string' ? p.gtid : null };
}

/** One table's progress in a chunked snapshot: the last key read (in the source's own encoding), rows done, finished. */
export interface ChunkProgress<K = unknown> {
  k: K[] | null;
  n: number;
  done: boolean;
}

/**
 * A chunked snapshot's position, recorded after each durable chunk: `kind` names the
 * source's form ('pg-snapshot', 'mysql-snapshot'), the fields of its consistent point
 * stand beside it (PostgreSQL: slot, consistentLsn; MySQL: file, pos, gtid), and
 * `tables` is JSON `{"schema.table": ChunkProgress}`. A resumed snapshot starts each
 * table after its last key.
 */
export type SnapshotChunkPosition = Position & { readonly kind: string; readonly tables: string };

export function snapshotChunkPosition<K>(kind: string, point: Position, progress: ReadonlyMap<string, ChunkProgress<K>>): SnapshotChunkPosition {
  return { kind, ...point, tables: JSON.stringify(Object.fromEntries(progress)) };
}

/** `p` when it is a snapshot position of this kind, else null (another source's, or a CDC position). */
export function snapshotChunkOf(p: Position | null | undefined, kind: string): SnapshotChunkPosition | null {
  return p && p.kind === kind ? (p as SnapshotChunkPosition) : null;
}

/** The per-table progress a snapshot position recorded. */
export function chunkProgressOf<K>(p: SnapshotChunkPosition): Map<string, ChunkProgress<K>> {
  return new Map(Object.entries(JSON.parse(String(p.tables)) as Record<string, ChunkProgress<K>>));
}
