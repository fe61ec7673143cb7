/**
 * Record errors: a record that cannot be converted or written (the sink's
 * SINK_RECORD_REJECTED, a Kafka record that does not decode) is handled by the
 * stream's `options.errorHandling`, as in Relational Migrator's job options:
 *
 * - FAIL (the default): the first bad record fails the run; errorTolerance does not apply.
 * - WARN: the record is dead-lettered and a WARNING job update names its table, key
 *   and field (at most MAX_WARNINGS per run, then one summary).
 * - SKIP: the record is dead-lettered quietly (counted, no job update).
 *
 * Under WARN and SKIP, `errorTolerance` records are tolerated per run: the next one
 * fails the run with RECORD_ERROR_TOLERANCE_EXCEEDED. A record that fails the run is
 * counted as failed but not dead-lettered, and nothing after it is acknowledged, so
 * the run keeps its position at the last durable point.
 *
 * Dead letters go to the stream's dead-letter topic (Kafka transport) or to the
 * store's dead_letters table (direct transport), together with the error.
 */
import { RUN_EVENTS, canPrepare, eventJson, type ChangeEvent, type ConnectorContext, type EventBatch, type Sink, type StreamSpec, type PreparingSink, type DeadLetter, type DeadLetterQueue } from '../core';
import type { RunCounters } from './persistence';
import type { RecordErrorHandler } from '../transport/types';
import { ERRORS, SluiceError, isSluiceError } from '../errors';

export const MAX_WARNINGS = 100;

export type ErrorHandling = 'FAIL' | 'WARN' | 'SKIP';

const tableOf = (e: ChangeEvent): string => (e.table.schema ? `${e.table.schema}.${e.table.table}` : e.table.table);

/** JSON-safe key for details and job updates. */
function plainKey(key: Record<string, unknown> | null | undefined): Record<string, unknown> | null {
  if (!key) return null;
  return JSON.parse(eventJson(key)) as Record<string, unknown>;
}

export class RecordErrorPolicy implements RecordErrorHandler {
  readonly mode: ErrorHandling;
  readonly tolerance: number;
  readonly #queue: DeadLetterQueue;
  #warnings = 0;
  #summarised = false;

  constructor(
    stream: Pick<StreamSpec, 'options'>,
    queue: DeadLetterQueue,
    readonly counters: RunCounters,
    private readonly onSkipped: (n: number) => void = () => undefined,
  ) {
    const mode = stream.options.errorHandling;
    this.mode = mode === 'WARN' || mode === 'SKIP' ? mode : 'FAIL';
    const t = stream.options.errorTolerance;
    this.tolerance = typeof t === 'number' && Number.isInteger(t) && t >= 0 ? t : 0;
    this.#queue = queue;
  }

  get queueKind(): string {
    return this.#queue.kind;
  }

  async reject(error: SluiceError, record: { event?: ChangeEvent; raw?: DeadLetter['raw']; table?: string | null }, ctx: ConnectorContext): Promise<void> {
    const ev = record.event ?? null;
    const detail = error.detail as Record<string, unknown>;
    const table = ev ? tableOf(ev) : (record.table ?? (typeof detail.table === 'string' ? detail.table : null));
    const key = plainKey(ev?.key ?? (detail.key as Record<string, unknown> | undefined));
    const field = typeof detail.field === 'string' ? detail.field : null;
    const stage: DeadLetter['stage'] = ev && ev.op === 'r' ? 'SNAPSHOT' : ev ? 'CDC' : 'CDC';
    this.counters.eventsFailed++;
    const n = this.counters.eventsFailed;
    const suggestion = fieldSuggestion(error, table, field);
    if (this.mode === 'FAIL') {
      throw new SluiceError(error.code, error.message, { ...detail, ...(table ? { table } : {}), key, field, errorHandling: 'FAIL' }, { cause: error, suggestion });
    }
    if (n > this.tolerance) {
      throw new SluiceError(
        'RECORD_ERROR_TOLERANCE_EXCEEDED',
        `record error ${n} exceeds errorTolerance ${this.tolerance} (errorHandling ${this.mode}): ${error.message}`,
        { ...(table ? { table } : {}), key, field, errorCode: error.code, errorTolerance: this.tolerance, recordErrors: n, ...(record.raw ? { topic: record.raw.topic, partition: record.raw.partition, offset: record.raw.offset } : {}) },
        { cause: error, suggestion: `${ERRORS.RECORD_ERROR_TOLERANCE_EXCEEDED.suggestion} This record: ${suggestion}` },
      );
    }
    const letter: DeadLetter = {
      streamId: ctx.streamId,
      runId: ctx.runId,
      table,
      key,
      op: ev?.op ?? null,
      field,
      event: ev,
      ...(record.raw ? { raw: record.raw } : {}),
      error: { code: error.code, message: error.message, suggestion, detail: JSON.parse(eventJson({ ...detail, position: undefined })) as Record<string, unknown> },
      stage,
    };
    await this.#queue.put(letter, ctx);
    this.counters.deadLettered++;
    ctx.count?.(RUN_EVENTS.DEAD_LETTERED, 1, ev?.table);
    this.onSkipped(1);
    ctx.logger.warn({ table, key, field, code: error.code, errorHandling: this.mode, deadLetters: this.#queue.kind }, `record dead-lettered: ${error.message}`);
    if (this.mode !== 'WARN') return;
    if (this.#warnings < MAX_WARNINGS) {
      this.#warnings++;
      ctx.report?.({
        level: 'WARNING',
        stage,
        message: `record skipped and dead-lettered (${this.#queue.kind}): ${error.message}`,
        errorCode: error.code,
        suggestion,
        detail: { locationType: 'TABLE', ...(table ? { locationName: table } : {}), ...(field ? { fieldName: field } : {}), ...(key ? { key } : {}), ...(record.raw ? { topic: record.raw.topic, partition: record.raw.partition, offset: record.raw.offset } : {}) },
      });
    } else if (!this.#summarised) {
      this.#summarised = true;
      ctx.report?.({
        level: 'WARNING',
        stage,
        message: `more than ${MAX_WARNINGS} records were dead-lettered in this run; further ones are counted (statistics.deadLettered) and listed in the dead letters, not reported one by one`,
        errorCode: error.code,
        suggestion: 'List them with GET /api/v1/streams/{id}/dead-letters (direct transport) or read the dead-letter topic (Kafka transport).',
      });
    }
  }
}

/** The catalogue's suggestion plus what this record's field needs. */
function fieldSuggestion(error: SluiceError, table: string | null, field: string | null): string {
  if (error.code === 'KAFKA_DECODE_FAILED') {
    return `${error.suggestion} Fix the producer that wrote it; the record's raw bytes are in the dead letter.`;
  }
  const cause = typeof error.detail.cause === 'string' ? error.detail.cause : undefined;
  const where = table ? ` of ${table}` : '';
  if (field && error.code === 'VALUE_OUT_OF_RANGE') return `Column "${field}"${where}: ${error.suggestion}`;
  if (field) {
    const [schema, name] = table && table.includes('.') ? table.split('.', 2) : ['<schema>', table ?? '<table>'];
    return `Column "${field}"${where} holds a value the sink cannot store${cause ? ` (${cause})` : ''}: fix the value in the source, or leave the column out with relationalTableFilters.${schema}.${name}.excludeColumns.`;
  }
  return `${ERRORS.SINK_RECORD_REJECTED.suggestion}${cause ? ` MongoDB said: ${cause}.` : ''} Fix the row${where} in the source or the index or validator on the target collection.`;
}

/** The codes a sink rejects one record of a batch with (detail.eventIndex names it). */
const REJECTION_CODES: ReadonlySet<string> = new Set(['SINK_RECORD_REJECTED', 'VALUE_OUT_OF_RANGE']);

const isRejection = (err: unknown, events: number): err is SluiceError =>
  isSluiceError(err) &&
  REJECTION_CODES.has(err.code) &&
  typeof err.detail.eventIndex === 'number' &&
  Number.isInteger(err.detail.eventIndex) &&
  (err.detail.eventIndex as number) >= 0 &&
  (err.detail.eventIndex as number) < events;

/**
 * Wraps a sink so that a rejected record is handled by the policy: removed from the
 * batch (dead-lettered, or failing the run) and the rest of the batch written again.
 * Sink writes are idempotent by key, so rewriting what an ordered write already took
 * converges to the same documents.
 */
export function withRecordErrors(sink: Sink, policy: RecordErrorHandler): Sink {
  const handled: Sink = {
    async write(batch: EventBatch, ctx: ConnectorContext): Promise<void> {
      let events = batch.events;
      for (;;) {
        try {
          await sink.write(events === batch.events ? batch : { ...batch, events }, ctx);
          return;
        } catch (err) {
          if (ctx.signal.aborted || !isRejection(err, events.length)) throw err;
          const index = err.detail.eventIndex as number;
          await policy.reject(err, { event: events[index]! }, ctx);
          events = events.filter((_, i) => i !== index);
        }
      }
    },
    close: () => sink.close(),
  };
  if (!canPrepare(sink)) return handled;
  const preparing: PreparingSink = { ...handled, prepare: (tables, ctx) => sink.prepare(tables, ctx) };
  return preparing;
}

/** Dead letters into the state store's table (the direct transport's queue). */
export function storeDeadLetters(put: ((letter: DeadLetter) => void) | undefined): DeadLetterQueue {
  return {
    kind: 'store',
    async put(letter) {
      if (!put) throw new SluiceError('STREAM_RUN_FAILED', 'this daemon has no dead-letter table', { ...(letter.table ? { table: letter.table } : {}) });
      put(letter);
    },
  };
}
