/**
 * A dead letter: what is known of one record that could not be converted or written,
 * with the error, and where such letters go (the state store's table on the direct
 * transport, the stream's dead-letter topic on Kafka). The run's record-error policy
 * (src/runtime/record-errors.ts) decides which records become one.
 */
import type { ConnectorContext } from './context';
import type { ChangeEvent, Op } from './event';
import { Decimal } from './values';

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
