/**
 * The supervisor's public vocabulary: its errors, its event names and payloads,
 * and the status view the API serves. Kept apart so the API and metrics can import
 * them without the supervisor's machinery.
 */
import type { Position, StreamSpec } from '../core';
import type { CdcStatus, PublicStatus, StreamEvent, StreamState } from './lifecycle';
import type { ErrorInfo, RunCounters, RunStatus, SnapshotPhase } from './persistence';
import { SluiceError } from '../errors';
import type { EventActivity } from './event-rate';
import type { LagView } from '../metrics/stream-meter';

/** Where a run is: what a failure and a job update name as its stage. */
export type Stage = 'INITIALIZATION' | 'SNAPSHOT' | 'CDC';

export class StreamNotFoundError extends SluiceError {
  constructor(streamId: string) {
    super('STREAM_NOT_FOUND', `no stream with id "${streamId}"`, { stream: streamId });
    this.name = 'StreamNotFoundError';
  }
}
export class ConnectionNotFoundError extends SluiceError {
  constructor(connectionId: string, streamId: string) {
    super('CONNECTION_NOT_FOUND', `stream "${streamId}" refers to connection "${connectionId}", which does not exist`, { stream: streamId, connectionId });
    this.name = 'ConnectionNotFoundError';
  }
}
export class MappingNotFoundError extends SluiceError {
  constructor(mappingId: string, streamId: string) {
    super('MAPPING_NOT_FOUND', `stream "${streamId}" refers to mapping "${mappingId}", which does not exist`, { stream: streamId, mappingId, field: 'mapping.mappingId' });
    this.name = 'MappingNotFoundError';
  }
}
export class ConnectorRoleError extends SluiceError {
  constructor(kind: string, role: 'source' | 'sink', supported: string[]) {
    super('CONNECTOR_ROLE_UNSUPPORTED', `a "${kind}" connection cannot be used as a ${role}`, { kind, role, supported });
    this.name = 'ConnectorRoleError';
  }
}
export class SupervisorClosedError extends SluiceError {
  constructor() {
    super('SHUTTING_DOWN', 'the daemon is shutting down; no stream can be started');
    this.name = 'SupervisorClosedError';
  }
}

/** Event names, one metric each (see STYLE.md). */
export const SUPERVISOR_EVENTS = {
  STATE: 'state',
  BATCH: 'batch',
  STREAM_FAILED: 'streamFailed',
  RUN_FINISHED: 'runFinished',
  /** A schedule fired: a run started, or was skipped because one was still active. */
  TICK: 'scheduleTick',
} as const;

export interface ScheduleTick {
  streamId: string;
  /** false: skipped, a run was still active. */
  started: boolean;
  /** The run started (or the active one that made the tick skip). */
  runId: string | null;
  nextRunAt: string | null;
}

export interface StateChange {
  streamId: string;
  runId: string | null;
  from: StreamState;
  /** The new state (same as `to`); named for subscribers that only want the current one. */
  state: StreamState;
  to: StreamState;
  event: StreamEvent;
  status: PublicStatus | null;
  cdcStatus: CdcStatus;
}
export interface BatchDone {
  streamId: string;
  runId: string;
  phase: SnapshotPhase;
  events: number;
  position: Position | null;
}
export interface StreamFailed {
  streamId: string;
  runId: string | null;
  error: ErrorInfo;
  stage: Stage;
}
export interface RunFinished {
  streamId: string;
  runId: string;
  status: RunStatus;
  counters: RunCounters;
}

export interface StreamStatusView {
  streamId: string;
  state: StreamState;
  status: PublicStatus | null;
  cdcStatus: CdcStatus;
  mode: StreamSpec['mode'];
  statistics: RunCounters;
  runId: string | null;
  startedAt: string | null;
  /** When the stream's schedule starts its next run (ISO); null when it has none armed. */
  nextRunAt: string | null;
  /** Change events of the run this process holds (none for a stream it has not run). */
  cdcActivity?: EventActivity;
  /** Set while the run waits to restart after a retriable failure (retry-policy.ts); gone once a run gets going again. */
  retrying?: RetryingView;
  /** How far behind the run this process holds is (none for a stream it has not run). */
  lag?: LagView;
  error?: ErrorInfo;
}

/** A stream between a retriable failure and its next attempt: it stays RUNNING meanwhile. */
export interface RetryingView {
  /** Restarts in the current series, this one included (1 for the first). */
  attempt: number;
  /** When the next attempt starts (ISO). */
  nextAttemptAt: string;
  /** When the series began: its first failure (ISO). */
  since: string;
  lastError: ErrorInfo;
}

/** The shape persisted and shown for any thrown value; codes from the catalogue pass through. */
export function toErrorInfo(err: unknown): ErrorInfo {
  const e = (typeof err === 'object' && err !== null ? err : {}) as { code?: unknown; message?: unknown; suggestion?: unknown };
  return {
    code: typeof e.code === 'string' ? e.code : 'STREAM_RUN_FAILED',
    message: typeof e.message === 'string' ? e.message : String(err),
    ...(typeof e.suggestion === 'string' ? { suggestion: e.suggestion } : {}),
  };
}

/** What Supervisor.release drops, and what it does besides. */
export interface ReleaseOptions {
  /** false: leave the source's slot and publication. */
  source?: boolean;
  /** false: leave the sink's staging collections. */
  sink?: boolean;
  /** The error for a stream that runs (default STREAM_ALREADY_RUNNING). */
  refuse?: (state: string) => Error;
  /** Removes the stream from the store, in the same queued operation: no start comes between. */
  remove?: () => Promise<unknown>;
}
