/**
 * The PostgreSQL Source: preflight, snapshot, change stream, acks, cleanup. The
 * heavy lifting is in snapshot.ts and replication.ts; this file owns the
 * connections and the checks that must pass before anything is created.
 *
 * CDC position: `{lsn: 'X/Y'}` — a commit's end LSN, or a keepalive's LSN for a
 * heartbeat batch. Snapshot position: see snapshot.ts (`kind: 'pg-snapshot'`).
 */
import type { Client } from 'pg';
import { isLsnPosition, type ConnectorContext, type CreateArgs, type EventBatch, type Position, type SnapshotPlan, type SourceLag, type StreamSpec, type TableRef, type SnapshotSource, type BeginningSource, type CutoverSource, type LagReportingSource, type DroppableSource } from '../../src/core';
import { SluiceError } from '../../src/errors';
import { ConnectionSet } from '../../src/source-kit/connections';
import { LiveStream } from '../../src/source-kit/live-stream';
import { snapshotReadOptions, tableRefs } from '../../src/source-kit/stream-tables';
import { describeTables, ensurePublication, missingPrivileges, slotInfo, TypeCatalog, type TableMeta } from './catalog';
import { clientConfig, ident, publicationName, slotName } from './naming';
import { connect, toSourceError, type PgConfig } from './pg-errors';
import { readSnapshot } from './snapshot';
import { lsnToBig, ReplicationStream } from './replication';
import { postgresStreamOptions, type PostgresStreamOptions } from './options';

export class PostgresSource implements SnapshotSource, BeginningSource, CutoverSource, LagReportingSource, DroppableSource {
  readonly #config: PgConfig;
  readonly #stream: StreamSpec;
  /** The stream's options it reads (options.ts), parsed with their defaults. */
  readonly #opts: PostgresStreamOptions;
  readonly #slot: string;
  readonly #publication: string;
  readonly #types = new TypeCatalog();
  readonly #clients = new ConnectionSet<Client>((c) => c.end(), (c, ended) => c.once('end', ended));
  readonly #replication = new LiveStream<string, ReplicationStream>();
  #lagClient: Promise<Client> | null = null;

  constructor(args: CreateArgs) {
    this.#config = clientConfig(args.connection.url, args.connection.options);
    this.#stream = args.stream;
    this.#opts = postgresStreamOptions(args.stream);
    this.#slot = this.#opts.slotName ?? slotName(args.stream.id);
    this.#publication = this.#opts.publicationName ?? this.#opts.slotName ?? publicationName(args.stream.id);
  }

  get slot(): string {
    return this.#slot;
  }

  async #connect(): Promise<Client> {
    if (this.#clients.closed) throw new SluiceError('SOURCE_READ_FAILED', 'the PostgreSQL source is closed', { stream: this.#stream.id });
    const c = await connect(this.#config);
    this.#clients.track(c);
    return c;
  }

  /**
   * Checks wal_level, tables, keys and privileges, then makes the publication match
   * the stream's tables. Returns the tables' metadata and the open catalog client.
   */
  async #preflight(refs: TableRef[]): Promise<{ meta: Client; tables: TableMeta[] }> {
    const meta = await this.#connect();
    try {
      const wal = (await meta.query('SHOW wal_level')).rows[0] as { wal_level: string };
      if (wal.wal_level !== 'logical') {
        throw new SluiceError('SOURCE_CONFIG_INVALID', `wal_level is ${wal.wal_level}; logical replication needs wal_level=logical`, {
          stream: this.#stream.id,
          setting: 'wal_level',
          value: wal.wal_level,
        }, { suggestion: 'Set wal_level = logical in postgresql.conf (ALTER SYSTEM SET wal_level = logical) and restart PostgreSQL.' });
      }
      const tables = await describeTables(meta, refs, this.#types);
      const missing = await missingPrivileges(meta, tables);
      if (missing.length > 0) {
        throw new SluiceError('SOURCE_PRIVILEGES_MISSING', `the connection user lacks ${missing.join(', ')}`, { stream: this.#stream.id, missing });
      }
      await ensurePublication(meta, this.#publication, tables).catch((err: unknown) => {
        if ((err as { code?: string }).code === '42501') {
          throw new SluiceError('SOURCE_PRIVILEGES_MISSING', `cannot create publication ${this.#publication}: ${(err as Error).message}`, {
            stream: this.#stream.id,
            missing: ['CREATE on the database and ownership of the tables (or superuser), to create the publication'],
          }, { cause: err });
        }
        throw err;
      });
      return { meta, tables };
    } catch (err) {
      await meta.end().catch(() => undefined);
      throw toSourceError(err, 'checking the source', { stream: this.#stream.id });
    }
  }

  #refs(tables: string[] | TableRef[]): TableRef[] {
    return tableRefs(tables, 'public');
  }

  async *snapshot(plan: SnapshotPlan, ctx: ConnectorContext): AsyncGenerator<EventBatch> {
    const { meta, tables } = await this.#preflight(this.#refs(plan.tables));
    await meta.end().catch(() => undefined);
    const sizes = { chunkSize: this.#opts.snapshotChunkSize, parallelism: this.#opts.snapshotParallelism };
    const read = snapshotReadOptions(this.#stream, 'postgresql', tables, sizes, ctx, this.#clients.track);
    yield* readSnapshot({ ...read, config: this.#config, slot: this.#slot, types: this.#types, db: String(this.#config.database) }, plan);
  }

  /** CDC_ONLY: creates the slot now (if missing), so `stream(null)` starts from this moment. */
  async begin(ctx: ConnectorContext): Promise<void> {
    const { meta } = await this.#preflight(this.#refs(this.#stream.tables));
    try {
      const slot = await slotInfo(meta, this.#slot);
      if (slot.exists) return;
      const r = await meta.query(`SELECT lsn::text AS lsn FROM pg_create_logical_replication_slot($1, 'pgoutput')`, [this.#slot]);
      ctx.logger.info({ slot: this.#slot, lsn: (r.rows[0] as { lsn: string }).lsn }, 'replication slot created');
    } catch (err) {
      throw toSourceError(err, 'creating the replication slot', { stream: this.#stream.id });
    } finally {
      await meta.end().catch(() => undefined);
    }
  }

  async *stream(from: Position | null, ctx: ConnectorContext): AsyncGenerator<EventBatch> {
    const { meta, tables } = await this.#preflight(this.#refs(this.#stream.tables));
    let start: string;
    try {
      const slot = await slotInfo(meta, this.#slot);
      if (!slot.exists && from) {
        // Dropped by hand (or by a failover to a server without it): the changes since the
        // saved position are gone. Never recreate it silently: a new slot starts from now.
        throw new SluiceError('SOURCE_POSITION_LOST', `the replication slot ${this.#slot} no longer exists: the changes since the stream's saved position ${String(from.lsn ?? from.consistentLsn ?? '')} cannot be read`, { stream: this.#stream.id, slot: this.#slot, position: from });
      }
      if (slot.exists && slot.walStatus === 'lost') {
        throw new SluiceError('SOURCE_POSITION_LOST', `the replication slot ${this.#slot} was invalidated (wal_status lost: the WAL it needed was removed, see max_slot_wal_keep_size): the changes since ${slot.confirmedFlushLsn ?? 'its position'} cannot be read`, { stream: this.#stream.id, slot: this.#slot, position: from });
      }
      if (!slot.exists) {
        // CDC_ONLY with no position yet: from now.
        const r = await meta.query(`SELECT lsn::text AS lsn FROM pg_create_logical_replication_slot($1, 'pgoutput')`, [this.#slot]);
        start = (r.rows[0] as { lsn: string }).lsn;
        ctx.logger.info({ slot: this.#slot, lsn: start }, 'replication slot created');
      } else {
        if (slot.plugin !== 'pgoutput') {
          throw new SluiceError('SOURCE_CONFIG_INVALID', `replication slot ${this.#slot} uses plugin ${slot.plugin}, not pgoutput`, { slot: this.#slot }, {
            suggestion: `Drop the slot (SELECT pg_drop_replication_slot('${this.#slot}')) and restart the stream with a snapshot.`,
          });
        }
        // The slot never goes backwards: a saved position behind it is where the slot is.
        start = isLsnPosition(from) ? from.lsn : slot.confirmedFlushLsn!;
      }
    } catch (err) {
      await meta.end().catch(() => undefined);
      throw toSourceError(err, 'preparing the replication slot', { stream: this.#stream.id });
    }
    const repl = new ReplicationStream({
      config: this.#config,
      slot: this.#slot,
      publication: this.#publication,
      tables,
      types: this.#types,
      meta,
      name: this.#stream.name,
      db: String(this.#config.database),
      logger: ctx.logger,
      ...(ctx.report ? { report: ctx.report } : {}),
      heartbeatIntervalMs: this.#opts.heartbeatIntervalMs,
      maxBatch: this.#opts.maxBatchSize,
    });
    yield* this.#replication.read(repl, start, ctx.signal);
  }

  /** Backlog of the running change stream (tests, metrics). */
  get backlog(): { queued: number; paused: boolean } | null {
    return this.#replication.backlog;
  }

  /**
   * The slot's distance from the server's current WAL position: up to
   * confirmed_flush_lsn is what the stream has not acknowledged, up to restart_lsn
   * what the server must keep for it. One connection, kept for the next probe.
   */
  async lag(): Promise<SourceLag> {
    this.#lagClient ??= this.#connect();
    let c: Client;
    try {
      c = await this.#lagClient;
      const r = await c.query(
        `SELECT (pg_current_wal_lsn() - confirmed_flush_lsn)::float8 AS lag, (pg_current_wal_lsn() - restart_lsn)::float8 AS retained
           FROM pg_replication_slots WHERE slot_name = $1`,
        [this.#slot],
      );
      // float8 may come back as text when a type parser keeps values exact.
      const row = r.rows[0] as { lag: number | string | null; retained: number | string | null } | undefined;
      const bytes = (v: number | string | null | undefined): number | undefined => (v === null || v === undefined || !Number.isFinite(Number(v)) ? undefined : Math.max(0, Number(v)));
      const lag = bytes(row?.lag);
      const retained = bytes(row?.retained);
      return { ...(lag === undefined ? {} : { bytes: lag }), ...(retained === undefined ? {} : { retainedBytes: retained }) };
    } catch (err) {
      const dead = this.#lagClient;
      this.#lagClient = null;
      void dead?.then((x) => x.end()).catch(() => undefined);
      throw err;
    }
  }

  /** Cutover target: the server's WAL write position now. */
  async currentPosition(): Promise<Position> {
    const c = await connect(this.#config);
    try {
      const r = await c.query<{ lsn: string }>('SELECT pg_current_wal_lsn()::text AS lsn');
      return { lsn: r.rows[0]!.lsn };
    } catch (err) {
      throw toSourceError(err, 'reading the current WAL position', { stream: this.#stream.id });
    } finally {
      await c.end().catch(() => undefined);
    }
  }

  covers(position: Position, target: Position): boolean {
    return isLsnPosition(position) && isLsnPosition(target) && lsnToBig(position.lsn) >= lsnToBig(target.lsn);
  }

  async ack(position: Position): Promise<void> {
    if (!isLsnPosition(position)) return; // snapshot positions are never sent to the database
    const repl = this.#replication.current;
    if (!repl) {
      throw new SluiceError('SOURCE_READ_FAILED', 'ack without a running change stream', { stream: this.#stream.id, position });
    }
    repl.ack(position.lsn);
  }

  async close(): Promise<void> {
    this.#clients.refuse();
    await this.#replication.close();
    // Ending the snapshot exporter last is fine here: the snapshot is over or abandoned.
    await this.#clients.closeAll();
  }

  /** Drops the slot (ending a walsender still holding it) and the publication. */
  async drop(): Promise<void> {
    await this.#replication.close();
    const c = await connect(this.#config);
    try {
      for (let attempt = 0; ; attempt++) {
        const slot = await slotInfo(c, this.#slot);
        if (!slot.exists) break;
        if (slot.activePid) await c.query('SELECT pg_terminate_backend($1)', [slot.activePid]);
        try {
          await c.query('SELECT pg_drop_replication_slot($1)', [this.#slot]);
          break;
        } catch (err) {
          // 55006: still active — the terminated walsender has not exited yet.
          if ((err as { code?: string }).code !== '55006' || attempt > 50) throw err;
          await new Promise((r) => setTimeout(r, 100));
        }
      }
      await c.query(`DROP PUBLICATION IF EXISTS ${ident(this.#publication)}`);
    } catch (err) {
      throw toSourceError(err, 'dropping the replication slot and publication', { stream: this.#stream.id, slot: this.#slot });
    } finally {
      await c.end().catch(() => undefined);
    }
  }
}
