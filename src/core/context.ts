/**
 * What a run gives every connector and transport it opens: who it runs for, its
 * logger, its abort signal, and two ways to tell the operator something.
 */
import type { Logger } from 'pino';
import type { TableRef } from './event';

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
