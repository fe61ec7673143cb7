/**
 * What a dead letter is, where dead letters go, and what a transport calls with a
 * record it cannot hand on. The vocabulary shared by the run's record-error policy
 * (record-errors.ts), the state store's table (the direct transport's queue) and the
 * Kafka transport's dead-letter topic, kept apart from the policy itself.
 */
import { Decimal, type ChangeEvent, type ConnectorContext, type Op } from '../core';
import { SluiceError } from '../errors';

/** What is known of one bad record. */
export interface DeadLetter {
  streamId: string;
  runId: string;
  /** "schema.table"; null when the record did not decode far enough to tell. */
  table: string | null;
  key: Record<string, unknown> | null;
  op: Op | null;
  field: string | null;
  /** The decoded event, when there is one. */
  event: ChangeEvent | null;
  /** The record as it was on Kafka, when it came from there. */
  raw?: { topic: string; partition: number; offset: string; key: Buffer | null; value: Buffer | null };
  error: { code: string; message: string; suggestion: string; detail: Record<string, unknown> };
  stage: 'SNAPSHOT' | 'CDC';
}

/** Where dead letters go. `put` resolves once the letter is durable. */
export interface DeadLetterQueue {
  readonly kind: string;
  put(letter: DeadLetter, ctx: ConnectorContext): Promise<void>;
}

/** What a transport calls with a record it cannot hand on (a Kafka record that does not decode). */
export interface RecordErrorHandler {
  /** Resolves once the record is dead-lettered; throws the error that fails the run. */
  reject(error: SluiceError, record: { event?: ChangeEvent; raw?: DeadLetter['raw']; table?: string | null }, ctx: ConnectorContext): Promise<void>;
  /** Lets the transport route dead letters elsewhere (the Kafka dead-letter topic). */
  useQueue(queue: DeadLetterQueue): void;
}

/** Events as JSON for a dead letter: bigint and Decimal as text, bytes as base64. */
export function eventJson(value: unknown): string {
  return JSON.stringify(value, function (this: Record<string, unknown>, k: string, v: unknown) {
    const orig = this[k];
    if (typeof orig === 'bigint') return orig.toString();
    if (orig instanceof Decimal) return orig.text;
    if (orig instanceof Uint8Array) return Buffer.from(orig).toString('base64');
    if (typeof orig === 'number' && !Number.isFinite(orig)) return String(orig);
    if (orig === undefined && k !== '') return null;
    return v;
  });
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
