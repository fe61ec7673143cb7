/**
 * The stream lifecycle as data: one transition table, no I/O. The supervisor asks
 * this module before every state change, so an illegal request (pausing a stopped
 * stream, starting a running one) is refused in one place with one error shape.
 */
import type { StreamSpec } from '../core';

export const STREAM_STATES = [
  'CREATED',
  'STARTING',
  'SNAPSHOTTING',
  'STREAMING',
  'COMPLETING',
  'PAUSED',
  'STOPPING',
  'STOPPED',
  'COMPLETED',
  'FAILED',
] as const;
export type StreamState = (typeof STREAM_STATES)[number];

export const STREAM_EVENTS = [
  'start',
  'snapshot',
  'snapshotDone',
  'pause',
  'resume',
  'stop',
  'stopped',
  'complete',
  'fail',
  'cutover',
] as const;
export type StreamEvent = (typeof STREAM_EVENTS)[number];

type Table = { readonly [S in StreamState]: Partial<Record<StreamEvent, StreamState>> };

/**
 * Why each edge exists:
 * - `snapshot` / `snapshotDone` from STARTING: the run decides after opening the
 *   source whether a snapshot is still owed (CDC_ONLY or a snapshot finished by an
 *   earlier run goes straight to STREAMING).
 * - `complete` from STARTING: a SNAPSHOT-mode stream whose snapshot an earlier run
 *   already finished; from STREAMING: a source whose change stream ended on its own.
 * - `resume` goes back through STARTING because the source is reopened from the
 *   saved position, exactly as after a restart.
 * - `start` is allowed from every terminal state: a restarted stream continues from
 *   its persisted positions.
 * - `cutover` from STREAMING only (Atlas Live Migration): the stream keeps streaming
 *   in COMPLETING until everything up to the source's position at the request is in
 *   MongoDB, then `complete`s. It cannot be paused meanwhile; it can be stopped.
 */
export const TRANSITIONS: Table = {
  CREATED: { start: 'STARTING' },
  STARTING: {
    snapshot: 'SNAPSHOTTING',
    snapshotDone: 'STREAMING',
    complete: 'COMPLETED',
    pause: 'PAUSED',
    stop: 'STOPPING',
    fail: 'FAILED',
  },
  SNAPSHOTTING: {
    snapshotDone: 'STREAMING',
    complete: 'COMPLETED',
    pause: 'PAUSED',
    stop: 'STOPPING',
    fail: 'FAILED',
  },
  STREAMING: { complete: 'COMPLETED', pause: 'PAUSED', stop: 'STOPPING', fail: 'FAILED', cutover: 'COMPLETING' },
  COMPLETING: { complete: 'COMPLETED', stop: 'STOPPING', fail: 'FAILED' },
  PAUSED: { resume: 'STARTING', stop: 'STOPPING', fail: 'FAILED' },
  STOPPING: { stopped: 'STOPPED', fail: 'FAILED' },
  STOPPED: { start: 'STARTING' },
  COMPLETED: { start: 'STARTING' },
  FAILED: { start: 'STARTING' },
};

/** States in which the stream owns (or, paused, holds on to) a run. */
export const ACTIVE_STATES: ReadonlySet<StreamState> = new Set<StreamState>([
  'STARTING',
  'SNAPSHOTTING',
  'STREAMING',
  'COMPLETING',
  'PAUSED',
  'STOPPING',
]);

/** Persisted states a restarted daemon picks up again (see Supervisor.resumeAll). */
export const RESUMABLE_STATES: ReadonlySet<StreamState> = new Set<StreamState>([
  'STARTING',
  'SNAPSHOTTING',
  'STREAMING',
  'COMPLETING',
  'PAUSED',
]);

export class InvalidTransitionError extends Error {
  readonly code: 'STREAM_INVALID_TRANSITION' | 'STREAM_ALREADY_RUNNING';
  readonly detail: { from: StreamState; event: StreamEvent };
  constructor(readonly from: StreamState, readonly event: StreamEvent) {
    const running = event === 'start' && ACTIVE_STATES.has(from);
    super(
      running
        ? `the stream is already running (state ${from}); stop it first or resume it if paused`
        : `cannot ${event} a stream in state ${from}`,
    );
    this.name = 'InvalidTransitionError';
    this.code = running ? 'STREAM_ALREADY_RUNNING' : 'STREAM_INVALID_TRANSITION';
    this.detail = { from, event };
  }
}

export function canTransition(from: StreamState, event: StreamEvent): boolean {
  return TRANSITIONS[from][event] !== undefined;
}

export function transition(from: StreamState, event: StreamEvent): StreamState {
  const to = TRANSITIONS[from][event];
  if (to === undefined) throw new InvalidTransitionError(from, event);
  return to;
}

export function isStreamState(value: unknown): value is StreamState {
  return typeof value === 'string' && (STREAM_STATES as readonly string[]).includes(value);
}

// ---- Relational Migrator's public view -------------------------------------

export type PublicStatus = 'RUNNING' | 'FAILED' | 'CANCELLING' | 'CANCELLED' | 'COMPLETED' | 'CLEANING_UP';
export type CdcStatus =
  | 'NOT_STARTED'
  | 'RUNNING'
  | 'COMPLETING'
  | 'COMPLETED'
  | 'FAILED'
  | 'CANCELLED'
  | 'PAUSED';

export interface PublicView {
  /** null while the stream has never run: Relational Migrator has no job to show yet. */
  status: PublicStatus | null;
  cdcStatus: CdcStatus;
}

/**
 * Relational Migrator reports a job's overall `status` and, separately, the CDC
 * phase's `cdcStatus`. A SNAPSHOT-mode job has no CDC phase, so its cdcStatus stays
 * NOT_STARTED whatever happens. `snapshotDone` keeps a resumed CDC stream (which
 * passes through STARTING again) from flickering back to NOT_STARTED. A CDC_ONLY
 * stream reports RUNNING only once it streams: before that its source has not fixed
 * its starting point (the replication slot), and writes made meanwhile are not "after
 * the start" yet.
 * COMPLETING is a cutover draining; CLEANING_UP belongs to an operation not built
 * yet (dropCollections).
 */
export function toPublicView(state: StreamState, mode: StreamSpec['mode'], snapshotDone = false): PublicView {
  const cdc = mode !== 'SNAPSHOT';
  const cdcStarted = cdc && snapshotDone;
  switch (state) {
    case 'CREATED':
      return { status: null, cdcStatus: 'NOT_STARTED' };
    case 'STARTING':
    case 'SNAPSHOTTING':
      return { status: 'RUNNING', cdcStatus: state === 'STARTING' && cdcStarted ? 'RUNNING' : 'NOT_STARTED' };
    case 'STREAMING':
      return { status: 'RUNNING', cdcStatus: 'RUNNING' };
    case 'COMPLETING':
      return { status: 'RUNNING', cdcStatus: 'COMPLETING' };
    case 'PAUSED':
      return { status: 'RUNNING', cdcStatus: cdc ? 'PAUSED' : 'NOT_STARTED' };
    case 'STOPPING':
      return { status: 'CANCELLING', cdcStatus: cdc ? 'CANCELLED' : 'NOT_STARTED' };
    case 'STOPPED':
      return { status: 'CANCELLED', cdcStatus: cdc ? 'CANCELLED' : 'NOT_STARTED' };
    case 'COMPLETED':
      return { status: 'COMPLETED', cdcStatus: cdc ? 'COMPLETED' : 'NOT_STARTED' };
    case 'FAILED':
      return { status: 'FAILED', cdcStatus: cdc ? 'FAILED' : 'NOT_STARTED' };
  }
}
