/**
 * What a SQL source reads for a stream, as both sources decide it: the tables (a bare
 * name is in the source's default schema), each table's row filter and row limit
 * (relationalTableFilters, compiled once against the real columns so a bad clause fails
 * the start, not a chunk), and the settings every snapshot read shares.
 */
import { parseTableName, type ColumnSpec, type ConnectorContext, type StreamSpec, type TableRef } from '../core';
import { rowLimitOf, tableWhere } from '../transform/filters';
import type { CompiledWhere, Dialect } from '../transform/where';
import { tableKey } from './chunked-snapshot';

/** `schema.table`, or `table` in `defaultSchema` (PostgreSQL `public`, MySQL the connection's database). */
export function tableRefs(tables: ReadonlyArray<string | TableRef>, defaultSchema: string): TableRef[] {
  return tables.map((t) => (typeof t === 'string' ? parseTableName(t) : t)).map((r) => ({ schema: r.schema || defaultSchema, table: r.table }));
}

export interface TableFilters {
  /** relationalTableFilters rowCount. */
  rowLimit(ref: TableRef): number | undefined;
  /** relationalTableFilters whereClause, compiled against the table's columns, for pushing into the snapshot's SELECT. */
  where(ref: TableRef): CompiledWhere | undefined;
}

/** Compiles each table's whereClause against its columns now. */
export function tableFilters(stream: Pick<StreamSpec, 'relationalTableFilters'>, dialect: Dialect, tables: ReadonlyArray<{ ref: TableRef; schema: { columns: readonly ColumnSpec[] } }>): TableFilters {
  const byTable = new Map(tables.map((t) => [tableKey(t.ref), tableWhere(stream, t.ref, dialect, t.schema.columns)]));
  return { rowLimit: (ref) => rowLimitOf(stream, ref), where: (ref) => byTable.get(tableKey(ref)) };
}

/** What every SQL source's snapshot read is given, besides its own connection settings. */
export interface SnapshotReadOptions<T, C> extends TableFilters {
  tables: T[];
  chunkSize: number;
  parallelism: number;
  /** The stream's name (the events' source.name). */
  name: string;
  logger: ConnectorContext['logger'];
  signal: AbortSignal;
  /** Connections the source must end on close(). */
  track(conn: C): void;
}

export function snapshotReadOptions<T extends { ref: TableRef; schema: { columns: readonly ColumnSpec[] } }, C>(
  stream: Pick<StreamSpec, 'name' | 'relationalTableFilters'>,
  dialect: Dialect,
  tables: T[],
  sizes: { chunkSize: number; parallelism: number },
  ctx: Pick<ConnectorContext, 'logger' | 'signal'>,
  track: (conn: C) => void,
): SnapshotReadOptions<T, C> {
  return { ...tableFilters(stream, dialect, tables), tables, ...sizes, name: stream.name, logger: ctx.logger, signal: ctx.signal, track };
}
