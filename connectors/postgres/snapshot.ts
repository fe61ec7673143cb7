/**
 * The initial snapshot, consistent with the slot it starts the change stream from.
 *
 * Fresh start: the slot is created with EXPORT_SNAPSHOT on a replication
 * connection that stays open until every table is read; each table is read in a
 * REPEATABLE READ transaction that adopts that snapshot. Snapshot + CDC from the
 * slot's consistent point is then exactly the source: every change committed
 * before the point is in the snapshot, every later one comes from the slot.
 *
 * Resume (plan.resumeFrom set, slot still there, the exported snapshot died with
 * the old process): each table continues after its last finished chunk with a
 * plain read of the current data. This still converges, without DBLog/Debezium
 * style watermarks, because
 *   1. the slot has not moved past its consistent point — nothing is acked before
 *      the snapshot ends — so CDC replays, in commit order, every change made since
 *      the point, including those made while we were down or reading;
 *   2. each snapshot row is a full row image keyed by primary key, and the sink
 *      applies images idempotently (replace by key), so a row read "too new" by the
 *      plain read is overwritten by the same or a later image when CDC replays the
 *      changes to it, and a row deleted meanwhile is deleted again by its replayed
 *      DELETE;
 *   3. the snapshot ends before CDC starts (the run loop is sequential), so no
 *      stale snapshot row can land after a newer change event for the same key.
 * Watermarks exist to interleave snapshot chunks with a live change stream (DBLog,
 * Debezium incremental snapshots); we never interleave, and the slot retains the
 * WAL since the point, so replay does the reconciliation. The cost is WAL retained
 * for the snapshot's duration. Chunks already sent before a crash but not recorded
 * are read again: at-least-once, converging by (2).
 */
import type { Client, ClientConfig } from 'pg';
import { chunkProgressOf, snapshotChunkOf, snapshotChunkPosition, type ChunkProgress, type EventBatch, type Position, type SnapshotPlan } from '../../src/core';
import { readChunks, snapshotEvent, tableKey, type ChunkReader } from '../../src/source-kit/chunked-snapshot';
import type { SnapshotReadOptions } from '../../src/source-kit/stream-tables';
import type { TableMeta, TypeCatalog } from './catalog';
import { slotInfo } from './catalog';
import { connect, toSourceError } from './pg-errors';
import { ident, qualified } from './naming';
import { decodeRow, sourceInfo } from './rows';
import type { CompiledWhere } from '../../src/transform/where';

export interface SnapshotOptions extends SnapshotReadOptions<TableMeta, Client> {
  config: ClientConfig;
  slot: string;
  types: TypeCatalog;
  db: string;
}

/** Per table: last key (raw text per key column, or a ctid), rows done, finished. */
type TableProgress = ChunkProgress<string>;

export const SNAPSHOT_POSITION_KIND = 'pg-snapshot';

/**
 * Snapshot position: `{kind:'pg-snapshot', slot, consistentLsn, tables}` where
 * `tables` is JSON `{"schema.table": {k, n, done}}` (Position values are scalars).
 */
export function snapshotPosition(slot: string, consistentLsn: string, progress: Map<string, TableProgress>): Position {
  return snapshotChunkPosition(SNAPSHOT_POSITION_KIND, { slot, consistentLsn }, progress);
}

export async function* readSnapshot(opts: SnapshotOptions, plan: SnapshotPlan): AsyncGenerator<EventBatch> {
  const meta = await connect(opts.config);
  opts.track(meta);
  let exporter: Client | null = null;
  try {
    let slot = await slotInfo(meta, opts.slot);
    if (slot.exists && slot.walStatus === 'lost') {
      // Invalidated (max_slot_wal_keep_size): it can serve no CDC, so a snapshot (a
      // resnapshot after SOURCE_POSITION_LOST) starts over with a new one.
      opts.logger.warn({ slot: opts.slot }, 'replication slot was invalidated (wal_status lost); dropping it for a new consistent point');
      await meta.query('SELECT pg_drop_replication_slot($1)', [opts.slot]);
      slot = { exists: false };
    }
    let consistentLsn: string;
    let snapshotName: string | null = null;
    const progress = new Map<string, TableProgress>();
    const resume = snapshotChunkOf(plan.resumeFrom, SNAPSHOT_POSITION_KIND);
    if (!slot.exists) {
      if (resume) opts.logger.warn({ slot: opts.slot }, 'replication slot is gone; the snapshot starts over from a new consistent point');
      exporter = await connect({ ...opts.config, replication: 'database' } as ClientConfig, 'opening the replication connection');
      opts.track(exporter);
      const res = await exporter.query(`CREATE_REPLICATION_SLOT ${ident(opts.slot)} LOGICAL pgoutput EXPORT_SNAPSHOT`);
      const row = res.rows[0] as { consistent_point: string; snapshot_name: string };
      consistentLsn = row.consistent_point;
      snapshotName = row.snapshot_name;
      opts.logger.info({ slot: opts.slot, consistentLsn, snapshotName }, 'replication slot created with an exported snapshot');
    } else if (resume) {
      consistentLsn = String(resume.consistentLsn);
      for (const [t, p] of chunkProgressOf<string>(resume)) progress.set(t, p);
      opts.logger.info({ slot: opts.slot, consistentLsn }, 'resuming the snapshot with plain reads; CDC from the slot reconciles');
    } else {
      // A slot without a recorded snapshot (crash before the first chunk was durable):
      // same argument as a resume, from nothing done.
      consistentLsn = slot.confirmedFlushLsn ?? '0/0';
      opts.logger.info({ slot: opts.slot, consistentLsn }, 'slot exists without snapshot progress; reading tables with plain reads');
    }
    for (const t of opts.tables) {
      const key = tableKey(t.ref);
      const p = progress.get(key);
      // A whole-row key pages by ctid, which only means something inside one snapshot.
      if (!p || (snapshotName === null && t.keyIsWholeRow && !p.done)) progress.set(key, { k: null, n: 0, done: false });
    }
    yield* readChunks<TableMeta, string, unknown[]>({
      ...opts,
      progress,
      open: (t) => tableReader(opts, t, snapshotName),
      toEvent: (t, raw) =>
        snapshotEvent(t, decodeRow(t.columns, (_n, i) => raw[i + 1] as string | null, opts.types.lookup, tableKey(t.ref)), (now) =>
          sourceInfo(opts, t.ref.schema, t.ref.table, { lsn: consistentLsn, snapshot: true, ts_ms: now, txId: null }),
        ),
      position: (p) => snapshotPosition(opts.slot, consistentLsn, p),
    });
  } catch (err) {
    throw toSourceError(err, 'reading the snapshot', { slot: opts.slot });
  } finally {
    await meta.end().catch(() => undefined);
    // Only now may the exported snapshot go: every table has been read.
    if (exporter) await exporter.end().catch(() => undefined);
  }
}

/** One table's read on a connection of its own, inside the exported snapshot when there is one. */
async function tableReader(opts: SnapshotOptions, t: TableMeta, snapshotName: string | null): Promise<ChunkReader<string, unknown[]>> {
  const client = await connect(opts.config);
  opts.track(client);
  return {
    begin: async () => {
      if (!snapshotName) return;
      await client.query('BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY');
      await client.query(`SET TRANSACTION SNAPSHOT '${snapshotName}'`);
    },
    estimate: (limit) => estimateRows(client, t, limit),
    read: (after, limit) => readChunk(client, t, after, limit, opts.where(t.ref)),
    keyOf: (row) => keyTexts(t, row),
    finish: async () => {
      if (snapshotName) await client.query('COMMIT');
    },
    close: () => client.end().catch(() => undefined),
  };
}

/** Key column texts of a fetched row (the columns come after the ctid). */
function keyTexts(t: TableMeta, row: unknown[]): string[] {
  if (t.keyIsWholeRow) return [row[0] as string];
  return t.key.map((k) => row[1 + t.columns.findIndex((c) => c.name === k)] as string);
}

async function readChunk(client: Client, t: TableMeta, after: string[] | null, limit: number, where: CompiledWhere | undefined): Promise<unknown[][]> {
  const cols = t.columns.map((c) => ident(c.name)).join(', ');
  const from = qualified(t.ref.schema, t.ref.table);
  const conds: string[] = [];
  const values: unknown[] = [...(after ?? [])];
  let order: string;
  if (t.keyIsWholeRow) {
    if (after) conds.push('ctid > $1::tid');
    order = 'ctid';
  } else {
    const keyCols = t.key.map((k) => ident(k)).join(', ');
    const params = t.key.map((k, i) => `$${i + 1}::${t.columns.find((c) => c.name === k)!.sourceType}`).join(', ');
    // Keyset pagination: each chunk is an index range scan, whatever the table size.
    if (after) conds.push(`(${keyCols}) > (${params})`);
    order = keyCols;
  }
  if (where) {
    // Regenerated from the parsed clause (src/transform/where); its strings are parameters after ours.
    const sql = where.sql((i) => `$${values.length + i + 1}`);
    conds.push(sql.text);
    values.push(...sql.params);
  }
  const text = `SELECT ctid::text, ${cols} FROM ${from} ${conds.length ? `WHERE ${conds.join(' AND ')}` : ''} ORDER BY ${order} LIMIT ${limit}`;
  const res = await client.query({ text, values, rowMode: 'array' });
  return res.rows as unknown[][];
}

async function estimateRows(client: Client, t: TableMeta, limit: number | undefined): Promise<number> {
  const { rows } = await client.query('SELECT reltuples::bigint AS n FROM pg_class WHERE oid = $1', [t.oid]);
  let n = Number((rows[0] as { n: string } | undefined)?.n ?? -1);
  // reltuples is -1 until the table was first vacuumed or analysed.
  if (n < 0) n = Number(((await client.query(`SELECT count(*) AS n FROM ${qualified(t.ref.schema, t.ref.table)}`)).rows[0] as { n: string }).n);
  return limit === undefined ? n : Math.min(n, limit);
}
