/**
 * The event: one row change in the Debezium envelope's terms, and the batch a
 * source hands on with the position that becomes safe to acknowledge once it is
 * durable.
 */
import type { Position } from './position';
import type { Row, TableSchema } from './values';

/** Operation codes of the Debezium envelope: create, update, delete, read (snapshot). */
export type Op = 'c' | 'u' | 'd' | 'r';

export interface TableRef {
  schema: string;
  table: string;
}

/** "schema.table" → TableRef; a bare name leaves the schema to the source's default (schema ''). The first dot splits: no quoting is needed. */
export function parseTableName(name: string): TableRef {
  const dot = name.indexOf('.');
  return dot < 0 ? { schema: '', table: name } : { schema: name.slice(0, dot), table: name.slice(dot + 1) };
}

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
