/**
 * The initial snapshot, and the binlog position CDC starts from.
 *
 * Fresh start: one connection opens `START TRANSACTION WITH CONSISTENT SNAPSHOT`
 * and reads the binlog position of that same instant:
 *   - MariaDB reports it as the status variables Binlog_snapshot_file /
 *     Binlog_snapshot_position of the transaction — no lock at all — and
 *     BINLOG_GTID_POS(file, pos) gives the GTID position;
 *   - MySQL has no such variables: FLUSH TABLES WITH READ LOCK is held only across
 *     START TRANSACTION WITH CONSISTENT SNAPSHOT and SHOW MASTER STATUS (a few
 *     milliseconds, but it waits for running statements to finish and blocks
 *     writes meanwhile; it needs the RELOAD privilege), then UNLOCK TABLES.
 * Each table is then read by a worker inside its own consistent-snapshot
 * transaction, in keyset chunks ordered by the key.
 *
 * Why this converges, including after a resume (plain reads from the last
 * finished chunk, the old transactions gone with the old process): CDC starts at
 * the recorded position, which is at or before every table's read view, and the
 * binlog (FULL row images, commit order) replays every change committed since.
 * Each snapshot row is a full image keyed by primary key and the sink applies
 * images idempotently, so a row read "too new" is overwritten by the same or a
 * later image when CDC replays its changes, and a row deleted meanwhile is deleted
 * again. The snapshot ends before CDC starts, so no stale snapshot row lands after
 * a newer change. Chunks sent before a crash but not recorded are read again:
 * at-least-once, converging the same way. The cost: the binlog files from the
 * recorded position must still exist when CDC starts (expire_logs_days /
 * binlog_expire_logs_seconds longer than the snapshot).
 */
import { chunkProgressOf, snapshotChunkOf, snapshotChunkPosition, type BinlogPosition, type ChunkProgress, type EventBatch, type Position, type SnapshotPlan } from '../../src/core';
import { readChunks, snapshotEvent, tableKey, type ChunkReader } from '../../src/source-kit/chunked-snapshot';
import type { SnapshotReadOptions } from '../../src/source-kit/stream-tables';
import type { TableMeta } from './catalog';
import { connect, ident, qualified, toSourceError, type Conn, type MysqlConfig } from './naming';
import { decodeRow, sourceInfo } from './rows';
import { SchemaHistory } from './schema-history';
import type { CompiledWhere } from '../../src/transform/where';

export interface SnapshotOptions extends SnapshotReadOptions<TableMeta, Conn> {
  config: MysqlConfig;
  mariadb: boolean;
}

/** A key value as stored in the position: text, or bytes as hex. */
type KeyValue = ['s', string] | ['b', string];

type TableProgress = ChunkProgress<KeyValue>;

export const SNAPSHOT_POSITION_KIND = 'mysql-snapshot';

/** `{kind:'mysql-snapshot', file, pos, gtid, tables}`; tables is JSON `{"db.table": {k, n, done}}`. */
export function snapshotPosition(at: BinlogPosition, progress: Map<string, TableProgress>, shapes: string | null = null): Position {
  return snapshotChunkPosition(SNAPSHOT_POSITION_KIND, { file: at.file, pos: at.pos, gtid: at.gtid, ...(shapes !== null ? { shapes } : {}) }, progress);
}

/** Opens a consistent-snapshot transaction on `conn` and returns the binlog position of its read view. */
export async function consistentPoint(conn: Conn, mariadb: boolean): Promise<BinlogPosition> {
  if (mariadb) {
    await conn.query('START TRANSACTION WITH CONSISTENT SNAPSHOT, READ ONLY');
    const rows = await conn.query<{ Variable_name: string; Value: string }>(`SHOW STATUS LIKE 'binlog_snapshot_%'`);
    const v = new Map(rows.map((r) => [r.Variable_name.toLowerCase(), r.Value]));
    const file = v.get('binlog_snapshot_file') ?? '';
    const pos = Number(v.get('binlog_snapshot_position') ?? 0);
    let gtid: string | null = null;
    try {
      const [g] = await conn.query<{ g: string | null }>('SELECT BINLOG_GTID_POS(?, ?) AS g', [file, pos]);
      gtid = g?.g || null;
    } catch {
      gtid = null;
    }
    return { file, pos, gtid };
  }
  await conn.query('FLUSH TABLES WITH READ LOCK');
  try {
    await conn.query('START TRANSACTION WITH CONSISTENT SNAPSHOT, READ ONLY');
    const [m] = await conn.query<{ File: string; Position: number; Executed_Gtid_Set?: string }>('SHOW MASTER STATUS');
    return { file: m!.File, pos: Number(m!.Position), gtid: m!.Executed_Gtid_Set || null };
  } finally {
    await conn.query('UNLOCK TABLES');
  }
}

export async function* readSnapshot(opts: SnapshotOptions, plan: SnapshotPlan): AsyncGenerator<EventBatch> {
  const progress = new Map<string, TableProgress>();
  const resume = snapshotChunkOf(plan.resumeFrom, SNAPSHOT_POSITION_KIND);
  let at: BinlogPosition;
  // The tables' shapes where CDC will start (schema-history.ts), kept by every snapshot position.
  let shapes: string | null = SchemaHistory.of(opts.tables).encoded;
  if (resume) {
    shapes = typeof resume.shapes === 'string' ? resume.shapes : null;
    at = { file: String(resume.file), pos: Number(resume.pos), gtid: resume.gtid === null ? null : String(resume.gtid) };
    for (const [t, p] of chunkProgressOf<KeyValue>(resume)) progress.set(t, p);
    opts.logger.info({ ...at }, 'resuming the snapshot from its last chunk; CDC from the recorded position reconciles');
  } else {
    const anchor = await connect(opts.config);
    opts.track(anchor);
    try {
      at = await consistentPoint(anchor, opts.mariadb);
    } catch (err) {
      throw toSourceError(err, 'opening the consistent snapshot', {});
    } finally {
      await anchor.end().catch(() => undefined);
    }
    opts.logger.info({ ...at }, 'snapshot consistent point');
  }
  for (const t of opts.tables) if (!progress.has(tableKey(t.ref))) progress.set(tableKey(t.ref), { k: null, n: 0, done: false });
  // Position first, before any rows: a crash before the first chunk resumes with the same point.
  yield { events: [], position: snapshotPosition(at, progress, shapes) };
  try {
    yield* readChunks<TableMeta, KeyValue, Record<string, unknown>>({
      ...opts,
      progress,
      open: (t) => tableReader(opts, t),
      toEvent: (t, raw) =>
        snapshotEvent(t, decodeRow(t, (name) => raw[name]), (now) =>
          sourceInfo({ name: opts.name, db: t.ref.schema }, t.ref.schema, t.ref.table, { file: at.file, pos: at.pos, gtid: at.gtid, snapshot: true, ts_ms: now }),
        ),
      position: (p) => snapshotPosition(at, p, shapes),
    });
  } catch (err) {
    throw toSourceError(err, 'reading the snapshot', {});
  }
}

/** One table's read on a connection of its own, in a consistent-snapshot transaction of its own. */
async function tableReader(opts: SnapshotOptions, t: TableMeta): Promise<ChunkReader<KeyValue, Record<string, unknown>>> {
  const conn = await connect(opts.config);
  opts.track(conn);
  return {
    begin: async () => void (await conn.query('START TRANSACTION WITH CONSISTENT SNAPSHOT, READ ONLY')),
    estimate: (limit) => estimateRows(conn, t, limit),
    read: (after, limit) => readChunk(conn, t, after, limit, opts.where(t.ref)),
    keyOf: (row) => t.key.map((k) => keyValue(row[k])),
    finish: async () => void (await conn.query('COMMIT')),
    close: () => conn.end().catch(() => undefined),
  };
}

function keyValue(v: unknown): KeyValue {
  return Buffer.isBuffer(v) ? ['b', v.toString('hex')] : ['s', String(v)];
}

const keyParam = (k: KeyValue): unknown => (k[0] === 'b' ? Buffer.from(k[1], 'hex') : k[1]);

/** Keyset pagination, expanded to OR-ed prefixes so every chunk is an index range scan. */
async function readChunk(conn: Conn, t: TableMeta, after: KeyValue[] | null, limit: number, filter: CompiledWhere | undefined): Promise<Array<Record<string, unknown>>> {
  const cols = t.columns.map((c) => ident(c.name)).join(', ');
  const order = t.key.map(ident).join(', ');
  let where = '';
  const values: unknown[] = [];
  if (after) {
    const terms: string[] = [];
    for (let i = 0; i < t.key.length; i++) {
      const parts = t.key.slice(0, i).map((k, j) => {
        values.push(keyParam(after[j]!));
        return `${ident(k)} = ?`;
      });
      values.push(keyParam(after[i]!));
      parts.push(`${ident(t.key[i]!)} > ?`);
      terms.push(`(${parts.join(' AND ')})`);
    }
    where = `WHERE (${terms.join(' OR ')})`;
  }
  if (filter) {
    // Regenerated from the parsed clause (src/transform/where); its strings are `?` parameters after ours.
    const sql = filter.sql(() => '?');
    where = `${where ? `${where} AND` : 'WHERE'} ${sql.text}`;
    values.push(...sql.params);
  }
  return conn.query(`SELECT ${cols} FROM ${qualified(t.ref.schema, t.ref.table)} ${where} ORDER BY ${order} LIMIT ${limit}`, values);
}

async function estimateRows(conn: Conn, t: TableMeta, limit: number | undefined): Promise<number> {
  const [r] = await conn.query<{ n: string | null }>('SELECT TABLE_ROWS AS n FROM information_schema.TABLES WHERE TABLE_SCHEMA = ? AND TABLE_NAME = ?', [
    t.ref.schema,
    t.ref.table,
  ]);
  const n = Number(r?.n ?? 0);
  return limit === undefined ? n : Math.min(n, limit);
}
