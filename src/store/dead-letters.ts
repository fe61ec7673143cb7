/** Dead letters of the direct transport: records rejected under errorHandling WARN / SKIP, with their error. */
import type { Db } from './db';
import { listRows, nowIso, parseJson, type ListQuery, type Page } from './list';
import { eventJson, type DeadLetter } from '../core';

export interface DeadLetterRecord {
  id: number;
  streamId: string;
  runId: string | null;
  timestamp: string;
  stage: string;
  table: string | null;
  key: Record<string, unknown> | null;
  op: string | null;
  field: string | null;
  event: Record<string, unknown> | null;
  errorCode: string;
  errorMessage: string;
  suggestion: string | null;
  detail: Record<string, unknown>;
}

interface Raw {
  id: number;
  stream_id: string;
  run_id: string | null;
  ts: string;
  stage: string;
  table_name: string | null;
  record_key: string | null;
  op: string | null;
  field: string | null;
  event: string | null;
  error_code: string;
  error_message: string;
  suggestion: string | null;
  detail: string | null;
}

const LIST = {
  table: 'dead_letters',
  columns: { id: 'id', timestamp: 'ts', runId: 'run_id', table: 'table_name', op: 'op', field: 'field', errorCode: 'error_code', stage: 'stage' },
  defaultSort: 'id',
  where: 'stream_id = @streamId',
};

const toRecord = (r: Raw): DeadLetterRecord => ({
  id: r.id,
  streamId: r.stream_id,
  runId: r.run_id,
  timestamp: r.ts,
  stage: r.stage,
  table: r.table_name,
  key: parseJson(r.record_key, null),
  op: r.op,
  field: r.field,
  event: parseJson(r.event, null),
  errorCode: r.error_code,
  errorMessage: r.error_message,
  suggestion: r.suggestion,
  detail: parseJson(r.detail, {}),
});

export function createDeadLetterRepo(db: Db) {
  const insert = db.prepare(
    `INSERT INTO dead_letters (stream_id, run_id, ts, stage, table_name, record_key, op, field, event, error_code, error_message, suggestion, detail)
     VALUES (@streamId, @runId, @ts, @stage, @table, @key, @op, @field, @event, @code, @message, @suggestion, @detail)`,
  );
  return {
    add(letter: DeadLetter): void {
      const { schema: _schema, ...event } = letter.event ?? { schema: undefined };
      insert.run({
        streamId: letter.streamId,
        runId: letter.runId,
        ts: nowIso(),
        stage: letter.stage,
        table: letter.table,
        key: letter.key ? eventJson(letter.key) : null,
        op: letter.op,
        field: letter.field,
        // The table's column types are shared by every event of the table: left out.
        event: letter.event ? eventJson(event) : letter.raw ? JSON.stringify({ topic: letter.raw.topic, partition: letter.raw.partition, offset: letter.raw.offset, key: letter.raw.key?.toString('utf8') ?? null, value: letter.raw.value?.toString('utf8') ?? null }) : null,
        code: letter.error.code,
        message: letter.error.message,
        suggestion: letter.error.suggestion,
        detail: eventJson(letter.error.detail),
      });
    },
    list(streamId: string, q: ListQuery): Page<DeadLetterRecord> {
      const page = listRows<Raw>(db, LIST, q, { streamId });
      return { ...page, items: page.items.map(toRecord) };
    },
  };
}

export type DeadLetterRepo = ReturnType<typeof createDeadLetterRepo>;
