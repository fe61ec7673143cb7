/**
 * What the supervisor holds for each stream it has touched in this process: its state,
 * the run in progress (ids, counters, abort controller, loop), the passwords supplied
 * at start, and the cutover hooks. Persisted state lives in the store; this is the
 * process's own view of it.
 */
import type { Logger } from 'pino';
import type { StreamSpec } from '../core';
import { ACTIVE_STATES, type StreamState } from './lifecycle';
import type { ErrorInfo, RunCounters, StreamStateRecord } from './persistence';
import { EventRate } from './event-rate';
import type { RetryingView } from './supervisor-types';
import type { Meter } from '../metrics/stream-meter';
import { newCounters } from './run';

export type StopReason = 'pause' | 'stop' | 'shutdown';

export interface Entry {
  streamId: string;
  state: StreamState;
  mode: StreamSpec['mode'];
  runId: string | null;
  runOpen: boolean;
  startedAt: Date | null;
  error: ErrorInfo | null;
  counters: RunCounters;
  /** Change events of the current run over the last hour (RM's cdcStatistics). */
  cdcRate: EventRate;
  /** The current run's meter (its lag is shown in the status); null before a run. */
  meter: Meter | null;
  abort: AbortController | null;
  loop: Promise<void> | null;
  stopReason: StopReason | null;
  logger: Logger;
  /** Control operations on one stream run one at a time, in arrival order. */
  ops: Promise<unknown>;
  /**
   * Passwords supplied at start for connections saved with savePassword:false, by
   * connection id. In memory only, for this process: pause/resume reuse them; a
   * restarted daemon has none and fails such a stream with CONNECTION_PASSWORD_REQUIRED.
   */
  passwords: Record<string, string>;
  /** Resolves the current run's cutover request (see RunDeps.cutover); set while the run streams. */
  requestCutover: (() => void) | null;
  /** A stream persisted as COMPLETING and resumed after a restart: cut over again once it streams. */
  cutoverOnStream: boolean;
  /** Whether the current run's source can cut over (Source.currentPosition and covers). */
  cutoverSupported: boolean;
  /** While the run waits to restart after a retriable failure (launch.ts); null otherwise. */
  retrying: RetryingView | null;
}

/**
 * The entry of a stream this process has not run yet. A state persisted as live but
 * with no run in this process means the daemon restarted without resumeAll: the
 * stream is simply not running here.
 */
export function newEntry(streamId: string, spec: StreamSpec, persisted: StreamStateRecord | undefined, logger: Logger): Entry {
  const state = persisted && !ACTIVE_STATES.has(persisted.state) ? persisted.state : persisted ? 'STOPPED' : 'CREATED';
  return {
    streamId,
    state,
    mode: spec.mode,
    runId: null,
    runOpen: false,
    startedAt: null,
    error: persisted?.error ?? null,
    counters: newCounters(),
    cdcRate: new EventRate(),
    meter: null,
    abort: null,
    loop: null,
    stopReason: null,
    logger: logger.child({ streamId }),
    ops: Promise.resolve(),
    passwords: {},
    requestCutover: null,
    cutoverOnStream: false,
    cutoverSupported: false,
    retrying: null,
  };
}
