/**
 * The supervisor's public vocabulary: its errors, its event names and payloads,
 * and the status view the API serves. Kept apart so the API and metrics can import
 * them without the supervisor's machinery.
 */
import type { Position, StreamSpec } from './connector';
import type { CdcStatus, PublicStatus, StreamEvent, StreamState } from './lifecycle';
import type { ErrorInfo, RunCounters, RunStatus, SnapshotPhase } from './persistence';
import type { Stage } from './stream-runner';

// TODO(lead): move these into the catalogue in src/errors.ts. Codes and `detail`
// already match it, so toSluiceError() maps them to the right HTTP status.
export class StreamNotFoundError extends Error {
  readonly code = 'STREAM_NOT_FOUND';
  readonly detail: { stream: string };
  constructor(streamId: string) {
    super(`no stream with id "${streamId}"`);
    this.name = 'StreamNotFoundError';
    this.detail = { stream: streamId };
  }
}
export class ConnectionNotFoundError extends Error {
  readonly code = 'CONNECTION_NOT_FOUND';
  readonly detail: { stream: string; connectionId: string };
  constructor(connectionId: string, streamId: string) {
    super(`stream "${streamId}" refers to connection "${connectionId}", which does not exist`);
    this.name = 'ConnectionNotFoundError';
    this.detail = { stream: streamId, connectionId };
  }
}
export class ConnectorRoleError extends Error {
  readonly code = 'CONNECTOR_ROLE_UNSUPPORTED';
  readonly detail: { kind: string; role: 'source' | 'sink'; supported: string[] };
  constructor(kind: string, role: 'source' | 'sink', supported: string[]) {
    super(`a "${kind}" connection cannot be used as a ${role}`);
    this.name = 'ConnectorRoleError';
    this.detail = { kind, role, supported };
  }
}
export class SupervisorClosedError extends Error {
  readonly code = 'SHUTTING_DOWN';
  constructor() {
    super('the daemon is shutting down; no stream can be started');
    this.name = 'SupervisorClosedError';
  }
}

/** Event names, one metric each (see STYLE.md). */
export const SUPERVISOR_EVENTS = {
  STATE: 'state',
  BATCH: 'batch',
  STREAM_FAILED: 'streamFailed',
  RUN_FINISHED: 'runFinished',
} as const;

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
  error?: ErrorInfo;
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
