/**
 * What the supervisor needs from the state store, and nothing more. Asynchronous, as
 * the store's contract is (src/store/state-store.ts, issue 20): a position is on disk
 * when the promise of `savePosition` resolves, and the run acknowledges the source only
 * after that, so a crash in between replays from the older point, never skips.
 */
import type { ConnectionSpec, Position, StreamSpec, DeadLetter } from '../core';
import type { MappingSpec } from '../transform/mapping/spec';
import { RESUMABLE_STATES, type StreamState } from './lifecycle';

export type SnapshotPhase = 'snapshot' | 'cdc';

/** The error as persisted and shown to operators (Relational Migrator's failureError). */
export interface ErrorInfo {
  code: string;
  message: string;
  suggestion?: string;
}

export interface StreamStateRecord {
  state: StreamState;
  error?: ErrorInfo | null;
}

export interface RunCounters {
  eventsRead: number;
  eventsWritten: number;
  snapshotRows: number;
  cdcEvents: number;
  batches: number;
  /** Records that could not be converted or written (errorHandling), the one that failed the run included. */
  eventsFailed: number;
  /** Records sent to the dead-letter topic or table (WARN / SKIP). */
  deadLettered: number;
}

/** INTERRUPTED: the daemon shut down under a live run; the next start resumes it. */
export type RunStatus = 'COMPLETED' | 'FAILED' | 'CANCELLED' | 'INTERRUPTED';

export interface RunResult {
  status: RunStatus;
  counters: RunCounters;
  failureError?: ErrorInfo;
}

export type JobUpdateLevel = 'ERROR' | 'WARNING' | 'INFO';

export interface JobUpdate {
  level: JobUpdateLevel;
  /** Where it happened: INITIALIZATION, SNAPSHOT, CDC, SHUTDOWN. */
  stage: string;
  message: string;
  errorCode?: string;
  suggestion?: string;
  detail?: Record<string, unknown>;
}

export interface StreamPersistence {
  /**
   * The connection with its password; `password` is one supplied for this run (a
   * connection saved with savePassword:false). Throws CONNECTION_PASSWORD_REQUIRED
   * when such a connection gets none.
   */
  getConnection(id: string, password?: string): Promise<ConnectionSpec | undefined>;
  getStream(id: string): Promise<StreamSpec | undefined>;
  /** The rules of a mapping resource (`stream.mapping = {mappingId}`), resolved when a run starts. */
  getMapping(id: string): Promise<MappingSpec | undefined>;

  getState(streamId: string): Promise<StreamStateRecord | undefined>;
  saveState(streamId: string, record: StreamStateRecord): Promise<void>;
  /** Streams whose persisted state is in RESUMABLE_STATES (running or paused). */
  listStreamsToResume(): Promise<string[]>;

  /** Opens a run (one start → stop/complete/fail, across pauses) and returns its id. */
  startRun(streamId: string): Promise<string>;
  finishRun(runId: string, result: RunResult): Promise<void>;
  addJobUpdate(streamId: string, runId: string | null, update: JobUpdate): Promise<void>;

  loadPosition(streamId: string, phase: SnapshotPhase): Promise<Position | null>;
  savePosition(streamId: string, phase: SnapshotPhase, position: Position): Promise<void>;
  markSnapshotDone(streamId: string): Promise<void>;
  isSnapshotDone(streamId: string): Promise<boolean>;
  /** Stores a dead letter (direct transport); a persistence without a dead-letter table omits it. */
  addDeadLetter?(letter: DeadLetter): Promise<void>;
  /** Forgets the snapshot's progress and done flag: the next run takes a fresh snapshot. */
  resetSnapshot(streamId: string): Promise<void>;
  /** Forgets every position, the CDC one too: the next run takes a fresh snapshot and follows it (a resnapshot). */
  resetPositions(streamId: string): Promise<void>;
}

// ---- in-memory implementation, for tests ----------------------------------

export interface MemoryRun {
  runId: string;
  streamId: string;
  startedAt: Date;
  finishedAt?: Date;
  result?: RunResult;
}

export interface MemoryPersistence extends StreamPersistence {
  putConnection(conn: ConnectionSpec): void;
  putStream(stream: StreamSpec): void;
  putMapping(id: string, mapping: MappingSpec): void;
  readonly runs: MemoryRun[];
  readonly jobUpdates: Array<JobUpdate & { streamId: string; runId: string | null }>;
  /** Every savePosition call in order: lets a test check nothing moved backwards. */
  readonly positionLog: Array<{ streamId: string; phase: SnapshotPhase; position: Position }>;
  readonly deadLetters: DeadLetter[];
}

export function createMemoryPersistence(
  init: { connections?: ConnectionSpec[]; streams?: StreamSpec[] } = {},
): MemoryPersistence {
  const connections = new Map((init.connections ?? []).map((c) => [c.id, c]));
  const streams = new Map((init.streams ?? []).map((s) => [s.id, s]));
  const mappings = new Map<string, MappingSpec>();
  const states = new Map<string, StreamStateRecord>();
  const positions = new Map<string, Position>();
  const snapshotDone = new Set<string>();
  const runs: MemoryRun[] = [];
  const jobUpdates: MemoryPersistence['jobUpdates'] = [];
  const positionLog: MemoryPersistence['positionLog'] = [];
  const deadLetters: DeadLetter[] = [];
  let runSeq = 0;
  const posKey = (streamId: string, phase: SnapshotPhase): string => `${streamId}\u0000${phase}`;

  return {
    runs,
    jobUpdates,
    positionLog,
    deadLetters,
    addDeadLetter: async (letter) => void deadLetters.push(letter),
    putConnection: (conn) => void connections.set(conn.id, conn),
    putStream: (stream) => void streams.set(stream.id, stream),
    getConnection: async (id) => connections.get(id),
    getStream: async (id) => streams.get(id),
    putMapping: (id, mapping) => void mappings.set(id, mapping),
    getMapping: async (id) => mappings.get(id),
    getState: async (streamId) => states.get(streamId),
    saveState: async (streamId, record) => void states.set(streamId, { ...record }),
    listStreamsToResume: async () =>
      [...states.entries()].filter(([, r]) => RESUMABLE_STATES.has(r.state)).map(([id]) => id),
    async startRun(streamId) {
      const runId = `run-${++runSeq}`;
      runs.push({ runId, streamId, startedAt: new Date() });
      return runId;
    },
    async finishRun(runId, result) {
      const run = runs.find((r) => r.runId === runId);
      if (!run) throw new Error(`unknown run ${runId}`);
      if (run.result) throw new Error(`run ${runId} finished twice`);
      run.finishedAt = new Date();
      run.result = { ...result, counters: { ...result.counters } };
    },
    addJobUpdate: async (streamId, runId, update) => void jobUpdates.push({ ...update, streamId, runId }),
    loadPosition: async (streamId, phase) => positions.get(posKey(streamId, phase)) ?? null,
    async savePosition(streamId, phase, position) {
      positions.set(posKey(streamId, phase), position);
      positionLog.push({ streamId, phase, position });
    },
    markSnapshotDone: async (streamId) => void snapshotDone.add(streamId),
    isSnapshotDone: async (streamId) => snapshotDone.has(streamId),
    async resetSnapshot(streamId) {
      positions.delete(posKey(streamId, 'snapshot'));
      snapshotDone.delete(streamId);
    },
    async resetPositions(streamId) {
      positions.delete(posKey(streamId, 'snapshot'));
      positions.delete(posKey(streamId, 'cdc'));
      snapshotDone.delete(streamId);
    },
  };
}
