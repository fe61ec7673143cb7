/**
 * What the binlog reader (binlog.ts) relies on of zongji: the shapes of its events and
 * of a running reader (zongji has no types of its own), the replica server_id it
 * announces, which query events are DDL, and whether a table map matches the schema we
 * hold for its table.
 */
import { createHash } from 'node:crypto';
import type { TableMeta } from './catalog';
import type { BinlogPoint } from './ddl-history';
import { enumLabels, type ColumnMeta } from './types';

/** A replica server_id per stream, stable across restarts, away from small hand-picked ids. */
export function serverIdFor(streamId: string): number {
  return 100_000 + (createHash('sha1').update(streamId).digest().readUInt32BE(0) % 2_000_000_000);
}

// Binlog column type codes each information_schema DATA_TYPE may appear as in a table map.
const BINLOG_TYPES: Record<string, number[]> = {
  tinyint: [1], smallint: [2], mediumint: [9], int: [3], integer: [3], bigint: [8],
  float: [4], double: [5], real: [5], decimal: [246, 0], numeric: [246, 0],
  date: [10, 14], datetime: [12, 18], timestamp: [7, 17], time: [11, 19], year: [13], bit: [16],
  varchar: [15, 253], varbinary: [15, 253], char: [254, 15], binary: [254], enum: [254, 247], set: [254, 248],
  tinytext: [252], text: [252], mediumtext: [252], longtext: [252], tinyblob: [252], blob: [252], mediumblob: [252], longblob: [252],
  json: [245, 252], geometry: [255],
};

/** Why a table map and a schema disagree, or null when they agree. */
export function tableMapMismatch(columnTypes: number[], t: Pick<TableMeta, 'columns'>): string | null {
  if (columnTypes.length !== t.columns.length) {
    return `the binlog row has ${columnTypes.length} columns, the table now has ${t.columns.length}`;
  }
  for (let i = 0; i < columnTypes.length; i++) {
    const c = t.columns[i]!;
    const allowed = BINLOG_TYPES[c.dataType];
    if (allowed && !allowed.includes(columnTypes[i]!)) {
      return `column ${i + 1} is binlog type ${columnTypes[i]} in the event but ${c.columnType} (${c.name}) in the table now`;
    }
  }
  return null;
}

/**
 * The column description zongji decodes a row with, from the schema we hold: the
 * labels of ENUM and SET columns parsed here ('' quoting undone, commas inside labels
 * kept; zongji's own split of COLUMN_TYPE gets both wrong) and the sign of integers.
 */
export function columnSchema(c: ColumnMeta): Record<string, unknown> {
  return {
    COLUMN_NAME: c.name,
    CHARACTER_SET_NAME: c.charset,
    COLUMN_TYPE: c.columnType,
    ...(c.dataType === 'enum' ? { ENUM_VALUES: enumLabels(c.columnType) } : {}),
    ...(c.dataType === 'set' ? { SET_VALUES: enumLabels(c.columnType) } : {}),
    ...(/^(tinyint|smallint|mediumint|int|integer|bigint)$/.test(c.dataType) ? { UNSIGNED: /\bunsigned\b/i.test(c.columnType) } : {}),
  };
}

export interface ZongJiEvent {
  getEventName(): string;
  nextPosition: number;
  timestamp: number;
  // rotate
  binlogName?: string;
  position?: number;
  // query
  query?: string;
  schema?: string;
  // rows
  tableId?: number;
  rows?: Array<Record<string, unknown> | { before: Record<string, unknown>; after: Record<string, unknown> }>;
  // tablemap
  schemaName?: string;
  tableName?: string;
  columnTypes?: number[];
  /** Column names carried by the table map itself (binlog_row_metadata=FULL). */
  columnNames?: string[];
  xid?: number;
  /** Set by us as the event is parsed: the schema its table map was checked against. */
  meta?: TableMeta | undefined;
  /** Set by us: a DDL naming a table the history does not know follows this row event, at this point. */
  writtenBefore?: { point: BinlogPoint; why: string } | undefined;
  /** Set by us on a DDL: the schema history after it (schema-history.ts's encoded form). */
  shapes?: string;
  /** Set by us on a DDL: captured tables it dropped or renamed. */
  gone?: Array<{ table: string; how: string }>;
}

/** Statements that are neither transaction control nor MariaDB's comment-only dummy events. */
export function isDdl(query: string): boolean {
  const q = query.trimStart();
  return q !== '' && !q.startsWith('#') && !/^(BEGIN|COMMIT|XA\s|ROLLBACK|SAVEPOINT)/i.test(q);
}

export interface ZongJi {
  on(event: 'binlog', cb: (e: ZongJiEvent) => void): void;
  on(event: 'error', cb: (e: Error) => void): void;
  on(event: 'ready' | 'stopped', cb: () => void): void;
  start(options: Record<string, unknown>): void;
  stop(): void;
  tableMap: Record<number, unknown>;
  /** The file being read (zongji follows rotate events in it). */
  options: { filename: string };
  connection: { pause(): void; resume(): void };
  _fetchTableInfo(event: ZongJiEvent, next: () => void): void;
}
