/**
 * The change stream: the binlog through @vlasky/zongji (on mysql2), turned into EventBatches pulled
 * by the run loop at its own pace.
 *
 * Positions: `{file, pos, gtid}` where pos is the end of a transaction's commit
 * event (XID, or COMMIT / a DDL statement as a Query event): starting there reads
 * the next transaction from its first event, so a resumed stream neither skips
 * nor repeats a committed transaction. A batch cut inside a large transaction
 * carries the position of the last commit before it: after a crash that
 * transaction's rows are read again and applied again as the same full images.
 * MySQL keeps no replica state for us (unlike a PostgreSQL slot): the position
 * saved by the run loop after the transport acknowledged is the only truth, and
 * `ack` has nothing to tell the server.
 *
 * Table maps: zongji reads column names from information_schema when it first
 * sees a table id — at read time, not at the time the event was written. We
 * replace that look-up (`_fetchTableInfo`) with ours, which checks the table map's
 * column count and binlog types against the schema we hold; when they differ we
 * re-read information_schema, and when that still differs the stream stops with
 * SOURCE_SCHEMA_CHANGED instead of shifting values into the wrong columns. See
 * README.md for what this does and does not catch.
 *
 * Back-pressure: events are queued (src/source-kit's ChangeQueue) and the binlog
 * socket paused (mysql2's Connection.pause) above HIGH_WATER rows, resumed below LOW_WATER. Rows, not
 * events: one row event of a multi-row statement holds tens of rows.
 *
 * Reconnect: a lost connection (server restart, network) is retried with backoff
 * for `reconnectTimeoutMs`, from the last commit position read; the events of the
 * transaction that was in flight are dropped and read again.
 */
import { createRequire } from 'node:module';
import type { Logger } from 'pino';
import { Backoff, type ChangeEvent, type ConnectorContext, type EventBatch, type BinlogPosition } from '../../src/core';
import { SluiceError } from '../../src/errors';
import { ChangeQueue } from '../../src/source-kit/change-queue';
import type { TableMeta } from './catalog';
import { connect, isUnreachable, toSourceError, type Conn, type MysqlConfig } from './naming';
import { rowEvents, sourceInfo } from './rows';
import { TableShapes } from './table-shapes';
import type { TypeOptions } from './types';
import { columnSchema, isDdl, type ZongJi, type ZongJiEvent } from './zongji';

/** A lost binlog connection: reconnect attempts back off from 250 ms to 5 s, jittered (src/core/backoff.ts). */
const RECONNECT_BACKOFF = { initialMs: 250, maxMs: 5000 };

export interface BinlogOptions {
  config: MysqlConfig;
  tables: TableMeta[];
  typeOptions: TypeOptions;
  serverId: number;
  name: string;
  logger: Logger;
  report?: ConnectorContext['report'];
  heartbeatIntervalMs: number;
  maxBatch: number;
  reconnectTimeoutMs: number;
}

/** Where the binlog is read from, with the schema history as of there (a position's `shapes`; absent in positions from before the history). */
export type BinlogStart = BinlogPosition & { readonly shapes?: string | null };

/** A commit position, with the schema history as of it. */
type At = BinlogPosition & { shapes: string };

type Item = { kind: 'event'; e: ZongJiEvent } | { kind: 'error'; error: unknown } | { kind: 'tick' } | { kind: 'end' };

const req = createRequire(__filename);

const rowsIn = (item: Item): number => (item.kind === 'event' ? Math.max(1, item.e.rows?.length ?? 0) : 1);

export class BinlogStream {
  static readonly HIGH_WATER = 5000;
  static readonly LOW_WATER = 1000;
  readonly #opts: BinlogOptions;
  /** Weighted by rows (one for an event without rows). */
  readonly #queue = new ChangeQueue<Item>({
    high: BinlogStream.HIGH_WATER,
    low: BinlogStream.LOW_WATER,
    weight: rowsIn,
    pause: () => this.#zongji?.connection.pause(),
    // Not while zongji waits for a table map's columns: a row event parsed before they
    // are installed finds no table map and zongji drops it silently as "filtered".
    // zongji resumes the socket itself once the look-up is done.
    resume: () => {
      if (!this.#fetching) this.#zongji?.connection.resume();
    },
  });
  /** Schema in force per binlog table id (set when its table map was checked). */
  readonly #byTableId = new Map<number, TableMeta>();
  /** The schema history, as of the event zongji parses (ahead of the events taken from the queue). */
  readonly #shapes: TableShapes;
  #zongji: ZongJi | null = null;
  #meta: Conn | null = null;
  /** zongji has paused the socket itself while our table-map look-up runs. */
  #fetching = false;
  #closed = false;
  #timer: NodeJS.Timeout | null = null;

  constructor(opts: BinlogOptions) {
    this.#opts = opts;
    this.#shapes = new TableShapes(opts.tables, opts.typeOptions, opts.logger);
  }

  get backlog(): { queued: number; paused: boolean } {
    return this.#queue.backlog;
  }

  #startZongji(at: BinlogPosition): void {
    const o = this.#opts;
    // An ES module, loaded through require (Node >= 20.19).
    const ZongJiCtor = (req('@vlasky/zongji') as { default: new (dsn: Record<string, unknown>) => ZongJi }).default;
    const zj = new ZongJiCtor({
      host: o.config.host,
      port: o.config.port,
      user: o.config.user,
      password: o.config.password,
      connectTimeout: o.config.connectTimeout,
      // The query sessions' TLS (naming.ts), after a prefer fallback if there was one.
      ...(o.config.ssl ? { ssl: o.config.ssl } : {}),
      charset: 'UTF8MB4_GENERAL_CI',
      // DATE/DATETIME as wall-clock text; TIMESTAMP as the instant (a Date from epoch seconds).
      dateStrings: ['DATE', 'DATETIME'],
    });
    // zongji pauses the socket before calling this and resumes it in `next`; our own
    // back-pressure must neither resume it meanwhile (see the queue's resume) nor be undone by that resume.
    zj._fetchTableInfo = (e, next) => {
      this.#fetching = true;
      this.#shapes.resolve(this.#meta!, e).then(
        (t) => {
          this.#byTableId.set(e.tableId!, t);
          zj.tableMap[e.tableId!] = {
            columnSchemas: t.columns.map(columnSchema),
            parentSchema: e.schemaName,
            tableName: e.tableName,
          };
          if (this.#zongji === zj) this.#fetching = false;
          next();
          if (this.#queue.paused && this.#zongji === zj) zj.connection.pause();
        },
        // No next(): zongji stays paused; the stream ends with this error.
        (error: unknown) => {
          if (this.#zongji === zj) this.#queue.push({ kind: 'error', error });
        },
      );
    };
    zj.on('binlog', (e) => {
      // A stopped reader (before a reconnect) may still finish a table-map look-up and
      // emit: its events are read again by the new one.
      if (this.#zongji !== zj) return;
      if (e.getEventName() === 'tablemap' && e.tableId !== undefined && !this.#byTableId.has(e.tableId)) this.#selfDescribed(zj, e);
      // Runs as zongji parses, before the next event is parsed: bind each row event to
      // the schema of its table map now, and forget cached table maps at DDL, since
      // later events may reuse a table id with a new shape.
      if (e.tableId !== undefined && e.rows) {
        e.meta = this.#byTableId.get(e.tableId);
        if (e.meta) e.writtenBefore = this.#shapes.writtenBefore(e.meta, { file: zj.options.filename, pos: e.nextPosition });
      }
      if (e.getEventName() === 'query' && isDdl(e.query ?? '')) {
        for (const k of Object.keys(zj.tableMap)) delete zj.tableMap[Number(k)];
        this.#byTableId.clear();
        const { gone, shapes } = this.#shapes.onDdl(e.query ?? '', e.schema || null, { file: zj.options.filename, pos: e.nextPosition });
        e.shapes = shapes;
        if (gone.length > 0) e.gone = gone;
      }
      this.#queue.push({ kind: 'event', e });
    });
    zj.on('error', (error) => {
      if (this.#zongji === zj) this.#queue.push({ kind: 'error', error });
    });
    const includeSchema: Record<string, string[]> = {};
    for (const t of o.tables) (includeSchema[t.ref.schema] ??= []).push(t.ref.table);
    zj.start({
      serverId: o.serverId,
      filename: at.file,
      position: at.pos,
      includeEvents: ['rotate', 'tablemap', 'writerows', 'updaterows', 'deleterows', 'xid', 'query', 'mariadbgtid'],
      includeSchema,
    });
    this.#zongji = zj;
  }

  /**
   * A table map that carried its own column names (binlog_row_metadata=FULL): zongji
   * decoded it without asking us (no _fetchTableInfo). Its rows are named as of the
   * event, so they are accepted only when those names and types are the schema we hold
   * (after the same re-read as for other table maps); the socket is paused meanwhile.
   */
  #selfDescribed(zj: ZongJi, e: ZongJiEvent): void {
    this.#opts.logger.debug({ table: `${e.schemaName}.${e.tableName}`, columns: e.columnNames }, 'table map carries its column names (binlog_row_metadata=FULL)');
    this.#fetching = true;
    zj.connection.pause();
    this.#shapes.resolve(this.#meta!, e).then(
      (t) => {
        if (this.#zongji !== zj) return;
        this.#byTableId.set(e.tableId!, t);
        this.#fetching = false;
        if (!this.#queue.paused) zj.connection.resume();
      },
      (error: unknown) => {
        if (this.#zongji === zj) this.#queue.push({ kind: 'error', error });
      },
    ).catch((error: unknown) => {
      if (this.#zongji === zj) this.#queue.push({ kind: 'error', error });
    });
  }

  #stopZongji(): void {
    const zj = this.#zongji;
    this.#zongji = null;
    this.#fetching = false;
    if (!zj) return;
    try {
      zj.stop();
    } catch {
      // already dead
    }
  }

  ack(): void {
    // Nothing to tell MySQL: the run loop's saved position is the replica state.
  }

  async close(): Promise<void> {
    this.#closed = true;
    if (this.#timer) clearInterval(this.#timer);
    this.#queue.close();
    this.#stopZongji();
    await this.#meta?.end().catch(() => undefined);
    this.#meta = null;
  }

  async *batches(from: BinlogStart, signal: AbortSignal): AsyncGenerator<EventBatch> {
    const o = this.#opts;
    this.#meta = await connect(o.config);
    // The shapes as of `from`; for tables they do not tell, the DDL ahead (rows before it are refused).
    await this.#shapes.start(this.#meta, from, from.shapes).catch((err: unknown) => {
      throw toSourceError(err, 'listing DDL statements in the binlog (SHOW BINLOG EVENTS)', { file: from.file, position: from.pos });
    });
    this.#startZongji(from);
    this.#timer = setInterval(() => this.#queue.push({ kind: 'tick' }), Math.max(50, Math.min(o.heartbeatIntervalMs, 5000)));

    let file = from.file;
    /** The last commit boundary read: where a reconnect restarts. */
    let committed: At = { file: from.file, pos: from.pos, gtid: from.gtid, shapes: this.#shapes.encoded };
    // CDC positions are file+pos (zongji reads MariaDB's GTID events, but they are not
    // recorded yet); the snapshot records its GTID position.
    const committedGtid: string | null = null;
    /** The schema history as of `committed`: every position carries it. */
    let shapesAt = committed.shapes;
    let events: ChangeEvent[] = [];
    let eventsAtCommit = 0;
    let position: At | null = null; // commit position covering `events[0..eventsAtCommit)`
    let inTx = false;
    let txTs = Date.now();
    let lastYield = Date.now();
    let lastYieldedPos = `${from.file}:${from.pos}`;
    const cut = (): EventBatch => {
      const head = events.slice(0, eventsAtCommit);
      const tail = events.slice(eventsAtCommit);
      // Events past the last commit go too when the batch is full (a large transaction);
      // their batch is positioned at the commit before them.
      const batch: EventBatch = { events: [...head, ...tail], position: position ? { ...position } : null };
      if (position) lastYieldedPos = `${position.file}:${position.pos}`;
      events = [];
      eventsAtCommit = 0;
      position = null;
      lastYield = Date.now();
      return batch;
    };
    // The first batch records where CDC starts, so a crash before any change still resumes here.
    yield { events: [], position: { ...committed } };

    for (;;) {
      const item = (await this.#queue.take(signal)) ?? { kind: 'end' };
      if (item.kind === 'end') return;
      if (item.kind === 'error') {
        if (!isUnreachable(item.error) || this.#closed) throw toSourceError(item.error, 'reading the binlog', { file, position: committed.pos });
        // Lost connection: drop the in-flight transaction's events and reconnect at the last commit.
        events = events.slice(0, eventsAtCommit);
        inTx = false;
        this.#stopZongji();
        this.#queue.reset();
        this.#byTableId.clear();
        this.#shapes.reset(committed.shapes);
        o.logger.warn({ err: item.error, file: committed.file, pos: committed.pos }, 'binlog connection lost; reconnecting');
        await this.#reconnect(committed, signal);
        file = committed.file;
        continue;
      }
      if (item.kind === 'tick') {
        const here = `${committed.file}:${committed.pos}`;
        if (!inTx && events.length === 0 && here !== lastYieldedPos && Date.now() - lastYield >= o.heartbeatIntervalMs) {
          // Commits of uncaptured tables moved the position: record it so a restart does not re-read them.
          position = { ...committed, gtid: committedGtid };
          yield cut();
        } else if (eventsAtCommit > 0 && !inTx) {
          yield cut();
        }
        continue;
      }
      const e = item.e;
      switch (e.getEventName()) {
        case 'rotate':
          if (e.binlogName) file = e.binlogName.replace(/\0+$/, '');
          break;
        case 'mariadbgtid':
          // MariaDB opens each event group (a transaction, or one DDL) with a GTID event
          // instead of a BEGIN once the reader announces GTID capability, as zongji does.
          inTx = true;
          txTs = e.timestamp;
          break;
        case 'query': {
          const q = (e.query ?? '').trimStart();
          if (/^BEGIN/i.test(q)) {
            inTx = true;
            txTs = e.timestamp;
            break;
          }
          // MariaDB replaces events zongji does not announce it understands (annotate rows,
          // some GTID events) with comment-only dummies; savepoints live inside a transaction.
          if (q.startsWith('#') || /^(SAVEPOINT|ROLLBACK TO)/i.test(q)) break;
          if (isDdl(q)) {
            o.logger.info({ query: q.slice(0, 200) }, 'DDL in the binlog');
            if (e.gone) {
              // What was read before it is delivered (and its position saved) first.
              if (eventsAtCommit > 0) yield cut();
              const [g] = e.gone;
              throw new SluiceError('SOURCE_TABLE_GONE', `the source table ${g!.table} was ${g!.how} while the stream read it (${q.slice(0, 200)} at ${file}:${e.nextPosition})`, { table: g!.table, file, position: e.nextPosition });
            }
            if (e.shapes !== undefined) shapesAt = e.shapes;
            if (/^TRUNCATE\b/i.test(q)) {
              o.report?.({ level: 'WARNING', stage: 'CDC', message: `TRUNCATE is not replicated: MongoDB keeps the documents (${q.slice(0, 120)})`, suggestion: 'Re-snapshot the table (or drop its collection) to bring MongoDB back in line.' });
            }
          }
          // COMMIT (non-transactional engines) or DDL (its own transaction): a commit boundary.
          inTx = false;
          committed = { file, pos: e.nextPosition, gtid: committedGtid, shapes: shapesAt };
          position = { ...committed };
          eventsAtCommit = events.length;
          break;
        }
        case 'xid':
          inTx = false;
          committed = { file, pos: e.nextPosition, gtid: committedGtid, shapes: shapesAt };
          position = { ...committed };
          eventsAtCommit = events.length;
          break;
        case 'writerows':
        case 'updaterows':
        case 'deleterows': {
          if (events.length >= o.maxBatch) yield cut();
          events.push(...this.#toEvents(e, file, inTx ? txTs : e.timestamp));
          break;
        }
        default:
          break;
      }
      const idle = this.#queue.items.length === 0;
      if (position && !inTx && eventsAtCommit > 0 && (idle || events.length >= o.maxBatch)) yield cut();
    }
  }

  async #reconnect(at: BinlogPosition, signal: AbortSignal): Promise<void> {
    const o = this.#opts;
    const deadline = Date.now() + o.reconnectTimeoutMs;
    const backoff = new Backoff(RECONNECT_BACKOFF);
    for (let attempt = 0; ; attempt++) {
      if (!(await backoff.wait(signal)) || this.#closed) return;
      try {
        await this.#meta?.end().catch(() => undefined);
        this.#meta = await connect(o.config);
        this.#startZongji(at);
        o.logger.info({ file: at.file, pos: at.pos, attempt }, 'binlog reconnected');
        return;
      } catch (err) {
        if (Date.now() > deadline) throw toSourceError(err, `reconnecting to the binlog for ${o.reconnectTimeoutMs} ms`, { file: at.file, position: at.pos });
        o.logger.warn({ err: (err as Error).message, attempt }, 'binlog reconnect failed; retrying');
      }
    }
  }

  #toEvents(e: ZongJiEvent, file: string, tsMs: number): ChangeEvent[] {
    const t = e.meta;
    if (!t) throw new SluiceError('SOURCE_READ_FAILED', `row event for table id ${e.tableId} before its table map`, {});
    if (e.writtenBefore) {
      const key = `${t.ref.schema}.${t.ref.table}`;
      const { point, why } = e.writtenBefore;
      throw new SluiceError('SOURCE_SCHEMA_CHANGED', `binlog events for ${key} at ${file}:${e.nextPosition} were written before a DDL statement on the table (ending at ${point.file}:${point.pos}), and the schema history cannot tell their shape (${why}); today's column names could label values wrongly`, {
        table: key,
        file,
        position: e.nextPosition,
      }, { suggestion: 'The table was altered after these events were written, in a way the schema history could not follow. Re-snapshot the stream (POST /streams/{id}/start with {"resnapshot": true}) to resync MongoDB.' });
    }
    const source = sourceInfo({ name: this.#opts.name, db: t.ref.schema }, t.ref.schema, t.ref.table, { file, pos: e.nextPosition, gtid: null, ts_ms: tsMs, snapshot: false });
    return rowEvents(t, e.getEventName(), e.rows ?? [], source);
  }
}
