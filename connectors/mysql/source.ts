/**
 * The MySQL/MariaDB Source: preflight, snapshot, binlog stream, cleanup.
 *
 * CDC position: `{file, pos, gtid}` (binlog.ts). Snapshot position:
 * `{kind:'mysql-snapshot', file, pos, gtid, tables}` (snapshot.ts); the run loop
 * hands the last snapshot position to stream() when no CDC position was saved
 * yet, and CDC then starts at the snapshot's consistent point.
 */
import { binlogPositionOf, type ConnectorContext, type CreateArgs, type EventBatch, type Position, type SnapshotPlan, type StreamSpec, type TableRef, type SnapshotSource, type BeginningSource, type CutoverSource, type BinlogPosition } from '../../src/core';
import { SluiceError } from '../../src/errors';
import { ConnectionSet } from '../../src/source-kit/connections';
import { LiveStream } from '../../src/source-kit/live-stream';
import { snapshotReadOptions, tableRefs } from '../../src/source-kit/stream-tables';
import { describeTables, missingPrivileges, serverInfo, type ServerInfo, type TableMeta } from './catalog';
import { clientConfig, connect, toSourceError, type Conn, type MysqlConfig } from './naming';
import { readSnapshot, SNAPSHOT_POSITION_KIND } from './snapshot';
import { BinlogStream, type BinlogStart } from './binlog';
import { SchemaHistory } from './schema-history';
import { serverIdFor } from './zongji';
import { DEFAULT_TYPE_OPTIONS, type TypeOptions } from './types';
import { mysqlConnectionOptions, mysqlStreamOptions, type MysqlStreamOptions } from './options';

export class MysqlSource implements SnapshotSource, BeginningSource, CutoverSource {
  readonly #config: MysqlConfig;
  readonly #stream: StreamSpec;
  /** The stream's options it reads (options.ts), parsed with their defaults. */
  readonly #opts: MysqlStreamOptions;
  readonly #typeOptions: TypeOptions;
  readonly #serverId: number;
  readonly #conns = new ConnectionSet<Conn>((c) => c.end(), (c, ended) => c.raw.once('end', ended));
  readonly #binlog = new LiveStream<BinlogStart, BinlogStream>();

  constructor(args: CreateArgs) {
    this.#config = clientConfig(args.connection.url, args.connection.options);
    this.#stream = args.stream;
    this.#opts = mysqlStreamOptions(args.stream);
    const o = mysqlConnectionOptions(args.connection);
    this.#typeOptions = { ...DEFAULT_TYPE_OPTIONS, tinyInt1AsBoolean: o.tinyInt1AsBoolean, bigintUnsigned: this.#opts.bigintUnsignedHandling };
    this.#serverId = o.serverId ?? serverIdFor(args.stream.id);
  }

  async #preflight(refs: TableRef[]): Promise<{ server: ServerInfo; tables: TableMeta[] }> {
    if (this.#conns.closed) throw new SluiceError('SOURCE_READ_FAILED', 'the MySQL source is closed', { stream: this.#stream.id });
    const meta = await connect(this.#config);
    try {
      const server = await serverInfo(meta);
      const bad: Array<[string, string, string]> = [];
      if (!(server.logBin.toUpperCase() === 'ON' || server.logBin === '1')) bad.push(['log_bin', server.logBin, 'Enable the binary log (log_bin in my.cnf) and restart the server.']);
      if (server.binlogFormat.toUpperCase() !== 'ROW') bad.push(['binlog_format', server.binlogFormat, 'SET GLOBAL binlog_format = ROW (and in my.cnf).']);
      if (server.binlogRowImage.toUpperCase() !== 'FULL') bad.push(['binlog_row_image', server.binlogRowImage, 'SET GLOBAL binlog_row_image = FULL (and in my.cnf).']);
      if (bad.length > 0) {
        const [setting, value, suggestion] = bad[0]!;
        throw new SluiceError('SOURCE_CONFIG_INVALID', `${setting} is ${value}; binlog CDC needs log_bin=ON, binlog_format=ROW, binlog_row_image=FULL`, {
          stream: this.#stream.id,
          setting,
          value,
        }, { suggestion });
      }
      const missing = await missingPrivileges(meta, this.#config.database);
      if (missing.length > 0) {
        throw new SluiceError('SOURCE_PRIVILEGES_MISSING', `the connection user lacks ${missing.join(', ')}`, { stream: this.#stream.id, missing });
      }
      const tables = await describeTables(meta, refs, this.#typeOptions);
      return { server, tables };
    } catch (err) {
      throw toSourceError(err, 'checking the source', { stream: this.#stream.id });
    } finally {
      await meta.end().catch(() => undefined);
    }
  }

  /** `db.table`, or `table` in the connection's database. */
  #refs(tables: string[] | TableRef[]): TableRef[] {
    return tableRefs(tables, this.#config.database);
  }

  async *snapshot(plan: SnapshotPlan, ctx: ConnectorContext): AsyncGenerator<EventBatch> {
    const { server, tables } = await this.#preflight(this.#refs(plan.tables));
    const sizes = { chunkSize: this.#opts.snapshotChunkSize, parallelism: this.#opts.snapshotParallelism };
    const read = snapshotReadOptions(this.#stream, 'mysql', tables, sizes, ctx, this.#conns.track);
    yield* readSnapshot({ ...read, config: this.#config, mariadb: server.mariadb }, plan);
  }

  /**
   * The server still holds `file` (SHOW BINARY LOGS), or SOURCE_POSITION_LOST: a binlog
   * purged (PURGE BINARY LOGS, binlog_expire_logs_seconds) past the saved position leaves
   * changes that can no longer be read, and reading on from a later file would skip them.
   */
  async #checkHeld(at: BinlogPosition): Promise<void> {
    const c = await connect(this.#config);
    let files: string[];
    try {
      files = (await c.query<{ Log_name: string }>('SHOW BINARY LOGS')).map((r) => r.Log_name);
    } catch (err) {
      throw toSourceError(err, 'listing the binary logs', { stream: this.#stream.id });
    } finally {
      await c.end().catch(() => undefined);
    }
    if (files.includes(at.file)) return;
    throw new SluiceError(
      'SOURCE_POSITION_LOST',
      `the binary log ${at.file} holding the stream's saved position ${at.file}:${at.pos} is no longer on the server (it holds ${files[0] ?? 'none'} to ${files[files.length - 1] ?? 'none'}): the changes since then were purged`,
      { stream: this.#stream.id, position: { file: at.file, pos: at.pos }, oldestBinlog: files[0] ?? null },
    );
  }

  async #currentEnd(): Promise<BinlogPosition> {
    const c = await connect(this.#config);
    try {
      const [m] = await c.query<{ File: string; Position: number }>('SHOW MASTER STATUS');
      if (!m) throw new SluiceError('SOURCE_CONFIG_INVALID', 'SHOW MASTER STATUS returned nothing: the binary log is off', { stream: this.#stream.id });
      return { file: m.File, pos: Number(m.Position), gtid: null };
    } finally {
      await c.end().catch(() => undefined);
    }
  }

  /**
   * CDC_ONLY with no position yet: the binlog end now, recorded by the run loop before
   * the stream reports CDC running, so every later commit is read, even after a pause or
   * a crash before the first batch.
   */
  async begin(_ctx?: ConnectorContext): Promise<Position> {
    // The tables' shapes first: a DDL between the two reads is then in the binlog after "now" and applied.
    const { tables } = await this.#preflight(this.#refs(this.#stream.tables));
    return { ...(await this.#now()), shapes: SchemaHistory.of(tables).encoded };
  }

  async #now(): Promise<BinlogPosition> {
    return this.#currentEnd().catch((err: unknown) => {
      throw toSourceError(err, 'reading the binlog position', { stream: this.#stream.id });
    });
  }

  /** Cutover target: the binlog end now (SHOW MASTER STATUS). */
  async currentPosition(): Promise<Position> {
    return { ...(await this.#now()) };
  }

  /** Binlog files are numbered (name.000042): the later file, or the same file at or past the offset. */
  covers(position: Position, target: Position): boolean {
    const [at, to] = [binlogPositionOf(position), binlogPositionOf(target)];
    if (!at || !to) return false;
    const seq = (file: string): number => Number(/\.(\d+)$/.exec(file)?.[1] ?? NaN);
    const [a, b] = [seq(at.file), seq(to.file)];
    if (Number.isNaN(a) || Number.isNaN(b)) return at.file === to.file && at.pos >= to.pos;
    return a > b || (a === b && at.pos >= to.pos);
  }

  async *stream(from: Position | null, ctx: ConnectorContext): AsyncGenerator<EventBatch> {
    const { tables } = await this.#preflight(this.#refs(this.#stream.tables));
    const saved = binlogPositionOf(from);
    if (saved && from?.kind === SNAPSHOT_POSITION_KIND) ctx.logger.info({ ...saved }, 'CDC starts at the snapshot\'s consistent point');
    if (saved) await this.#checkHeld(saved);
    // CDC_ONLY without a recorded "now" (begin() not called): from now, with the shapes just read.
    // A saved position carries the schema history as of it (absent in positions saved before it existed).
    const start: BinlogStart = saved
      ? { ...saved, shapes: typeof from?.shapes === 'string' ? from.shapes : null }
      : { ...(await this.#now()), shapes: SchemaHistory.of(tables).encoded };
    const binlog = new BinlogStream({
      config: this.#config,
      tables,
      typeOptions: this.#typeOptions,
      serverId: this.#serverId,
      name: this.#stream.name,
      logger: ctx.logger,
      ...(ctx.report ? { report: ctx.report } : {}),
      heartbeatIntervalMs: this.#opts.heartbeatIntervalMs,
      maxBatch: this.#opts.maxBatchSize,
      reconnectTimeoutMs: this.#opts.reconnectTimeoutMs,
    });
    yield* this.#binlog.read(binlog, start, ctx.signal);
  }

  get backlog(): { queued: number; paused: boolean } | null {
    return this.#binlog.backlog;
  }

  async ack(_position: Position): Promise<void> {
    // MySQL keeps no replica state for us: the position the run loop saves after
    // this call is where the next run starts.
  }

  async close(): Promise<void> {
    this.#conns.refuse();
    await this.#binlog.close();
    await this.#conns.closeAll();
  }
}
