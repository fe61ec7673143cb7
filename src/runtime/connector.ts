/**
 * The contracts every connector and transport implements. The core (supervisor,
 * transport, API) only ever sees these shapes; it never imports a connector.
 */
import type { Logger } from 'pino';
import type { TableSchema } from './values';
import type { MapOptions } from '../transform/mapping/rows';

export type { TableSchema, ColumnSpec, LogicalType } from './values';
export { Decimal } from './values';

/** Operation codes of the Debezium envelope: create, update, delete, read (snapshot). */
export type Op = 'c' | 'u' | 'd' | 'r';

export interface TableRef {
  schema: string;
  table: string;
}

/** A JSON-serialisable source position, opaque to the core (PG LSN, binlog file+pos, snapshot chunk...). */
export type Position = { readonly [key: string]: string | number | boolean | null };

export interface SourceInfo {
  connector: string;
  name: string;
  db: string;
  schema: string;
  table: string;
  ts_ms: number;
  snapshot: boolean | 'true' | 'last' | 'false';
  lsn?: string;
  file?: string;
  pos?: number;
  gtid?: string | null;
  txId?: string | number | null;
}

export type Row = Record<string, unknown>;

/** One row change, in the Debezium envelope's terms. */
export interface ChangeEvent {
  table: TableRef;
  op: Op;
  /** Primary-key columns and their values. */
  key: Row;
  before: Row | null;
  after: Row | null;
  source: SourceInfo;
  ts_ms: number;
  /** Column types of the table at the time of the event (see values.ts); shared per table. */
  schema?: TableSchema;
}

/**
 * A batch the source hands to the transport. `position` is the checkpoint that
 * becomes safe to acknowledge once every event of this batch (and of every earlier
 * batch) is durable in the transport. A batch may carry no events (a heartbeat).
 */
export interface EventBatch {
  events: ChangeEvent[];
  position: Position | null;
  /** Set on snapshot batches: progress to record once the batch is durable. */
  snapshot?: { table: TableRef; rowsDone: number; rowsTotal?: number; tableDone: boolean };
}

/**
 * What a connector or transport counts from inside (retries it absorbs, records it
 * drops on purpose), through `ConnectorContext.count`. Each maps to exactly one
 * metric (src/metrics/stream-meter.ts).
 */
export const RUN_EVENTS = {
  KAFKA_ERROR: 'kafkaError',
  MONGODB_ERROR: 'mongodbError',
  FILTERED: 'filtered',
  DEAD_LETTERED: 'deadLettered',
} as const;
export type RunEvent = (typeof RUN_EVENTS)[keyof typeof RUN_EVENTS];

export interface ConnectorContext {
  streamId: string;
  runId: string;
  logger: Logger;
  /** Aborted when the stream is stopped, paused or the daemon shuts down. */
  signal: AbortSignal;
  /**
   * Tells the operator something through the stream's job updates (GET /streams/{id}/logs),
   * not only the daemon log: a TRUNCATE that is not replicated, a slot that was lost.
   */
  report?(update: {
    level: 'ERROR' | 'WARNING' | 'INFO';
    stage: string;
    message: string;
    errorCode?: string;
    suggestion?: string;
    /** Where it happened, in Relational Migrator's jobUpdate terms: locationType, locationName, fieldName, key. */
    detail?: Record<string, unknown>;
  }): void;
  /** Counts `n` (default 1) occurrences of `event` for this stream's metrics; `table` where it applies. */
  count?(event: RunEvent, n?: number, table?: TableRef): void;
}

/** How far behind the database a source is; fields a source cannot tell are left out. */
export interface SourceLag {
  /** Log bytes written by the database and not yet acknowledged by the stream. */
  bytes?: number;
  /** Log bytes the database retains for the stream (a PostgreSQL slot's restart_lsn onwards). */
  retainedBytes?: number;
}

export interface SnapshotPlan {
  tables: TableRef[];
  /** Where a previous, interrupted snapshot got to; null for a fresh one. */
  resumeFrom: Position | null;
}

export interface Source {
  /** Reads a consistent snapshot, in batches. Sources without one omit it. */
  snapshot?(plan: SnapshotPlan, ctx: ConnectorContext): AsyncIterable<EventBatch>;
  /**
   * Fixes "now" for a CDC_ONLY stream that has no position yet (PostgreSQL: creates
   * its slot), so that every change committed after the stream reports CDC running is
   * captured. Called before that report; sources whose `stream(null)` needs no set-up omit it.
   * A source that keeps no state on the server (MySQL) returns the position of "now": the
   * run loop records it as the stream's CDC position and passes it to `stream()`.
   */
  begin?(ctx: ConnectorContext): Promise<Position | void>;
  /** Streams changes from `from` (null: from now / from where the snapshot ended). */
  stream(from: Position | null, ctx: ConnectorContext): AsyncIterable<EventBatch>;
  /** Tells the database that everything up to `position` is durable downstream. */
  ack(position: Position): Promise<void>;
  close(): Promise<void>;
  /** Removes what the source created for the stream (slot, publication). */
  drop?(): Promise<void>;
  /** Asks the database how far behind the stream is; polled for metrics, never on the data path. */
  lag?(): Promise<SourceLag>;
  /**
   * Cutover (POST /streams/{id}/cutover): the database's log position now (PostgreSQL
   * `pg_current_wal_lsn()`, MariaDB/MySQL `SHOW MASTER STATUS`). Every change committed
   * before the call lies at or before it. Sources that cannot tell omit it (and `covers`).
   */
  currentPosition?(): Promise<Position>;
  /** Whether the CDC position `position` (one of this source's batches) is at or past `target` (from currentPosition). */
  covers?(position: Position, target: Position): boolean;
}

export interface Sink {
  /**
   * Called once before a fresh snapshot starts writing (never on a resumed one),
   * e.g. to honour `options.dropCollections`.
   */
  prepare?(tables: TableRef[], ctx: ConnectorContext): Promise<void>;
  /** Resolves only once the batch is durably written (MongoDB acknowledged). A batch may be empty. */
  write(batch: EventBatch, ctx: ConnectorContext): Promise<void>;
  close(): Promise<void>;
  /**
   * Removes what the sink keeps for the stream beside the documents it wrote (MongoDB:
   * the embedding staging collections `_sluice_embed.<streamId>.…`); the documents stay.
   * Called when the stream is deleted (Supervisor.release): first with `check: true`,
   * before the source's drop, which only makes sure the sink can be reached and drops
   * nothing, then without, after the source's drop. Idempotent. Throws SINK_UNREACHABLE
   * when the sink cannot be reached. Sinks that keep nothing of their own omit it.
   */
  drop?(opts?: { check?: boolean }): Promise<void>;
}

/** One check of `POST /connections/{id}/test` or of `/validate`. */
export interface CheckResult {
  name: string;
  ok: boolean;
  message: string;
  /** What to do when it failed. */
  suggestion?: string;
  /** The catalogue code of a failure, when one fits (e.g. CONNECTION_PROTOCOL_MISMATCH). */
  code?: string;
  detail?: Record<string, unknown>;
  /** Not run because a check it depends on failed (`ok` is then false). */
  skipped?: boolean;
}

export interface TestReport {
  reachable: boolean;
  /** Server product and version, e.g. "PostgreSQL 15.18". */
  version?: string;
  checks: CheckResult[];
}

export interface ConnectionSpec {
  id: string;
  name: string;
  kind: string;
  url: string;
  options: Record<string, unknown>;
}

/** When a SNAPSHOT stream runs on its own: a cron expression (5 fields, or 6 with seconds) in a timezone. */
export interface StreamSchedule {
  cron: string;
  /** IANA timezone the expression is read in; UTC when left out. */
  timezone?: string;
}

export interface StreamSpec {
  id: string;
  name: string;
  source: { connectionId: string };
  sink: { connectionId: string };
  transport: { kind: 'direct' } | { kind: 'kafka'; connectionId?: string };
  mode: 'SNAPSHOT' | 'CDC' | 'CDC_ONLY';
  /** "schema.table" names or glob patterns (`*`, `?`), resolved when a run starts. */
  tables: string[];
  /** Names or patterns of tables to leave out. */
  excludeTables?: string[];
  relationalTableFilters?: Record<string, Record<string, { whereClause?: string; rowCount?: number; includeColumns?: string[]; excludeColumns?: string[] }>>;
  /**
   * The rules themselves (a MappingSpec, src/transform/mapping/spec.ts) or `{mappingId}`
   * naming a mapping resource. A run always sees the rules: planRun resolves the id when it starts.
   */
  mapping?: Record<string, unknown>;
  /** SNAPSHOT mode only: each tick starts a run, as POST /streams/{id}/start would. */
  schedule?: StreamSchedule;
  options: {
    dropCollections?: boolean;
    errorHandling?: 'FAIL' | 'WARN' | 'SKIP';
    errorTolerance?: number;
  } & Record<string, unknown>;
}

export interface CreateArgs {
  connection: ConnectionSpec;
  stream: StreamSpec;
  logger: Logger;
}

/** A column as the catalogue describes it, for GET /connections/{id}/tables/{table}/columns. */
export interface ColumnInfo {
  name: string;
  /** The database's own type name, e.g. "numeric(12,2)", "varchar(64)". */
  type: string;
  nullable: boolean;
  primaryKey: boolean;
}

export interface ForeignKeyInfo {
  name: string;
  columns: string[];
  references: TableRef & { columns: string[] };
}

export interface TableInfo extends TableRef {
  columns: ColumnInfo[];
  /** Key columns in key order; empty when the table has none. */
  primaryKey: string[];
  foreignKeys: ForeignKeyInfo[];
}

/** What a preview reads: a page of rows, optionally filtered and sorted. */
export interface RowQuery {
  limit: number;
  offset: number;
  /** A whereClause in the source's dialect, as in relationalTableFilters. */
  where?: string;
  /** Sort keys; the primary key (ascending) when left out. */
  sort?: { column: string; desc?: boolean }[];
  /** Only these columns; all when left out. */
  columns?: string[];
}

/** One source table to verify, read page by page in key order with the stream's filters applied. */
export interface VerifySourceTable {
  table: TableRef;
  /** The table's schema as read (kept columns only) and its key. */
  schema: TableSchema;
  /** Rows in key order, `limit` from `offset`, whereClause, rowCount and column filter applied. */
  read(offset: number, limit: number): Promise<Row[]>;
  /** The tables the mapping embeds into this table's documents (`embed.into`), compared inside them. */
  children?: VerifyChildTable[];
}

/** A table embedded into a parent's documents, read for the parents of each chunk. */
export interface VerifyChildTable {
  table: TableRef;
  /** Its schema as read (kept columns only) and its key. */
  schema: TableSchema;
  /** Its rows whose foreign key points at one of these parent rows, with its own filters applied. */
  readFor(parents: readonly Row[]): Promise<Row[]>;
}

/** The outcome for one table of POST /streams/{id}/verify. */
export interface TableVerification {
  table: string;
  collection: string;
  sourceCount: number;
  sinkCount: number;
  missing: number;
  extra: number;
  different: number;
  /** The first `maxDifferences` keys that differ, in the order found. */
  differences: Array<{ key: Record<string, unknown>; kind: 'missing' | 'extra' | 'different'; fields?: string[] }>;
  /**
   * direct: the table's own documents in `collection`; embedded: its rows as the mapping
   * embeds them into the documents of `embeddedIn` (in `collection`). Counts then are
   * the child rows the compared parents should hold and do hold (array: every row;
   * document and merge: one per parent), and differences name parents, with the field.
   */
  mode?: 'direct' | 'embedded';
  /** embedded: the parent table. */
  embeddedIn?: string;
  /** Set when the table was not compared, with why. */
  skipped?: string;
}

export interface VerifyArgs {
  /** The sink connection. */
  connection: ConnectionSpec;
  stream: StreamSpec;
  tables: VerifySourceTable[];
  maxDifferences: number;
  chunkSize: number;
  logger: Logger;
}

/** What the mapping preview takes from the sink connector (ConnectorModule.previewConversion). */
export interface PreviewConversion {
  /** For previewDocuments: the sink's own conversion of canonical values. */
  options: MapOptions;
  /**
   * For an error the conversion threw: the field and the message the sink gives when it
   * rejects that record (`key` is the row's key columns); null for any other error.
   */
  rejection(err: unknown, record: { table: TableRef; collection: string; key: Row }): { field: string; message: string } | null;
}

/** What each connector module exports, and what the registry maps a kind to. */
export interface ConnectorModule {
  kind: string;
  /** JSON schema of the connection's `options`. */
  configSchema: Record<string, unknown>;
  roles: ReadonlyArray<'source' | 'sink'>;
  createSource?(args: CreateArgs): Source;
  createSink?(args: CreateArgs): Sink;
  /** The source's tables (for table patterns), and the schema a bare table name means. */
  listTables?(connection: ConnectionSpec, logger: Logger): Promise<{ tables: TableRef[]; defaultSchema: string }>;
  /** A table's columns (type, nullable, key) and foreign keys; null when the table does not exist. */
  describeTable?(connection: ConnectionSpec, table: TableRef, logger: Logger): Promise<TableInfo | null>;
  /**
   * Reads rows of one table for previews (GET /connections/{id}/tables/{table}/rows,
   * POST /streams/{id}/mapping/preview, verification). Never on the data path. `where` is
   * compiled by src/transform/where (never pasted into SQL); values come back in the
   * same shape as snapshot rows, so the sink's conversion applies to them unchanged.
   */
  readRows?(connection: ConnectionSpec, table: TableRef, query: RowQuery, logger: Logger): Promise<{ rows: Row[]; schema: TableSchema }>;
  /**
   * Sink side of POST /streams/{id}/verify: compares the source rows with what the sink
   * holds, table by table (counts, then each row against the document it should be).
   */
  verify?(args: VerifyArgs): Promise<TableVerification[]>;
  /**
   * Sink side of POST /streams/{id}/mapping/preview: the value conversion this sink would
   * use on this connection's server (it may ask the server what it is; it never writes),
   * and how it words a record it cannot convert.
   */
  previewConversion?(connection: ConnectionSpec, logger: Logger): Promise<PreviewConversion>;
  /** Reachability, version and the privileges/settings the connector needs. Never throws for a bad server. */
  test?(connection: ConnectionSpec, logger: Logger): Promise<TestReport>;
  /**
   * `POST /validate`: per table of the stream (resolved names), whether it exists, can be
   * keyed (primary key / replica identity), can be read, and whether its whereClause
   * compiles against its real columns. One check per table (`table <schema.table>`), and
   * one per filter (`filter <schema.table>`). Throws only when the server cannot be asked.
   */
  checkTables?(connection: ConnectionSpec, stream: StreamSpec, tables: TableRef[], logger: Logger): Promise<CheckResult[]>;
}
