/**
 * The connector contract: what each connector module exports, and what the registry
 * maps a connection kind to. A module says what it can do by the functions it has
 * (a source: createSource; browsing: listTables, describeTable, readRows; …); the
 * runtime and the API ask the registry for a module and check for the function.
 */
import type { Logger } from 'pino';
import type { TableRef } from './event';
import type { Sink } from './sink';
import type { Source } from './source';
import type { ConnectionSpec, StreamSpec } from './spec';
import type { Row, TableSchema } from './values';
import type { PluginOptions, SqlDialect } from './options';

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

/** The most rows one readRows call returns. */
export const MAX_READ_ROWS = 1000;

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

/** `col,-other` (the API's `sort` parameter) → RowQuery sort keys. */
export function parseSort(text: string | undefined): { column: string; desc?: boolean }[] | undefined {
  if (text === undefined || text.trim() === '') return undefined;
  return text.split(',').map((s) => s.trim()).filter(Boolean).map((s) => (s.startsWith('-') ? { column: s.slice(1), desc: true } : { column: s.replace(/^\+/, '') }));
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

/** A sink's conversion of one canonical value (values.ts); `field` names it in errors. */
export type Convert = (value: unknown, field: string) => unknown;

/** How a sink converts values into documents (src/transform/mapping applies it, with the mapping's type overrides). */
export interface MapOptions {
  convert: Convert;
  /**
   * 'string' on servers without Decimal128 (FerretDB v1): a decimal128 override then
   * stores the exact decimal text, as the sink does for every decimal there.
   */
  decimals: 'decimal128' | 'string';
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
  /**
   * The options it reads, declared where it registers: a connection's `options`, and
   * its keys of a stream's `options` (src/core/options.ts). The API validates and
   * documents them from here, and a run hands them over parsed (defaults applied).
   */
  options: PluginOptions;
  /** The SQL dialect of its whereClauses; sources that take filters declare it. */
  dialect?: SqlDialect;
  /**
   * `transport`: a connection kind a stream's transport names (`kafka`); such a module
   * declares options and may test connections, and has no sink. `kafka` is a source too:
   * a stream reads existing topics from it (src/transport/kafka/topics-source.ts).
   */
  roles: ReadonlyArray<'source' | 'sink' | 'transport'>;
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
