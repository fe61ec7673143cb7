/**
 * The state store's contract (issue 20, stage 1): every read and write is asynchronous,
 * so that a store on a server (PostgreSQL, shared by several nodes) can stand where the
 * embedded SQLite file stands today. sqlite-store.ts implements it.
 *
 * Callers await each call, so another request can run between two of them: a rule that
 * reads and then writes (a name must be free, a connection must be unused, metadata is
 * changed from its current value) is one method here, which the store runs in one
 * transaction. Callers never check first and write after.
 */
import type { ConnectionSpec, DeadLetter, Position } from '../core';
import type { ListQuery, Page } from './list';
import type { ConnectionInput, ConnectionRecord } from './connections';
import type { StreamInput, StreamMetadata, StreamRecord } from './streams';
import type { JobUpdateInput, JobUpdateRecord, RunRecord } from './runs';
import type { ApiKeyRecord, KeyCheck, Role } from './api-keys';
import type { Phase } from './positions';
import type { DeadLetterRecord } from './dead-letters';
import type { MappingInput, MappingRecord } from './mappings';
import type { RmJobEcho, RmJobRecord } from './rm-jobs';
import type { AuditInput, AuditEntry, AuditQuery } from './audit';
import type { WriteFailure } from './write-health';

export interface ConnectionStore {
  /** CONNECTION_NAME_TAKEN when another connection has the name (checked in the write's transaction). */
  create(input: ConnectionInput): Promise<ConnectionRecord>;
  get(id: string): Promise<ConnectionRecord | undefined>;
  /** Case-insensitively (names.ts). For a look-up only: create and update check again themselves. */
  nameTaken(name: string, exceptId?: string): Promise<boolean>;
  list(q: ListQuery): Promise<Page<ConnectionRecord>>;
  /** Undefined: no such connection. CONNECTION_NAME_TAKEN as create. */
  update(id: string, patch: Partial<ConnectionInput>): Promise<ConnectionRecord | undefined>;
  /** Keeps a password in memory only (this node), for a connection saved without it. */
  holdPassword(id: string, password: string | undefined): Promise<void>;
  /**
   * Deletes a connection no stream uses, in one transaction: false when there is none,
   * CONNECTION_IN_USE (detail.streams) when a stream uses it.
   */
  deleteIfUnused(id: string): Promise<boolean>;
  /** The connection as the runtime needs it, password put back (CONNECTION_PASSWORD_REQUIRED when it must be supplied). */
  resolve(id: string, suppliedPassword?: string): Promise<ConnectionSpec | undefined>;
}

export interface StreamStore {
  /** STREAM_NAME_TAKEN when another stream has the name (checked in the write's transaction). */
  create(input: StreamInput): Promise<StreamRecord>;
  get(id: string): Promise<StreamRecord | undefined>;
  nameTaken(name: string, exceptId?: string): Promise<boolean>;
  list(q: ListQuery): Promise<Page<StreamRecord>>;
  /** Undefined: no such stream. STREAM_NAME_TAKEN as create. */
  update(id: string, input: StreamInput): Promise<StreamRecord | undefined>;
  /** The stream with everything kept for it (runs, positions, metadata, …), in one transaction. */
  delete(id: string): Promise<boolean>;
  metadata(id: string): Promise<StreamMetadata>;
  /** Reads and writes the metadata in one transaction; nothing is written when the stream is gone (returns undefined). */
  updateMetadata(id: string, change: (current: StreamMetadata) => StreamMetadata): Promise<StreamMetadata | undefined>;
  setState(id: string, state: string, error?: string | null): Promise<void>;
  allIds(): Promise<string[]>;
  idsInStates(states: readonly string[]): Promise<string[]>;
}

export interface RunStore {
  start(streamId: string, status?: string): Promise<string>;
  finish(runId: string, end: { status: string; counters?: Record<string, number>; failureError?: string | null }): Promise<void>;
  closeAbandoned(): Promise<number>;
  get(runId: string): Promise<RunRecord | undefined>;
  list(streamId: string, q: ListQuery): Promise<Page<RunRecord>>;
  deleteFinished(streamId: string): Promise<{ runs: number; updates: number }>;
  addUpdate(streamId: string, runId: string | null, u: JobUpdateInput): Promise<void>;
  listUpdates(streamId: string, q: ListQuery): Promise<Page<JobUpdateRecord>>;
}

export interface ApiKeyStore {
  create(name: string, role: Role, expiresAt?: string | null): Promise<{ record: ApiKeyRecord; key: string }>;
  adopt(id: string, name: string, role: Role, key: string): Promise<ApiKeyRecord>;
  count(): Promise<number>;
  verify(presented: string): Promise<ApiKeyRecord | undefined>;
  check(presented: string, now?: number): Promise<KeyCheck>;
  get(id: string): Promise<ApiKeyRecord | undefined>;
  list(q: ListQuery): Promise<Page<ApiKeyRecord>>;
  revoke(id: string): Promise<boolean>;
}

export interface PositionStore {
  load(streamId: string, phase: Phase): Promise<Position | null>;
  save(streamId: string, phase: Phase, position: Position): Promise<void>;
  isSnapshotDone(streamId: string): Promise<boolean>;
  markSnapshotDone(streamId: string): Promise<void>;
  resetSnapshot(streamId: string): Promise<void>;
  reset(streamId: string): Promise<void>;
}

export interface DeadLetterStore {
  add(letter: DeadLetter): Promise<void>;
  list(streamId: string, q: ListQuery): Promise<Page<DeadLetterRecord>>;
}

export interface MappingStore {
  /** MAPPING_NAME_TAKEN when another mapping has the name (checked in the write's transaction). */
  create(input: MappingInput): Promise<MappingRecord>;
  get(id: string): Promise<MappingRecord | undefined>;
  nameTaken(name: string, exceptId?: string): Promise<boolean>;
  list(q: ListQuery): Promise<Page<MappingRecord>>;
  update(id: string, input: MappingInput): Promise<MappingRecord | undefined>;
  /** Deletes a mapping no stream references, in one transaction: false when there is none, MAPPING_IN_USE when referenced. */
  deleteIfUnused(id: string): Promise<boolean>;
  usedBy(id: string): Promise<string[]>;
}

export interface RmJobStore {
  get(id: string): Promise<RmJobRecord | undefined>;
  byProject(projectId: string): Promise<RmJobRecord | undefined>;
  submit(id: string, projectId: string, echo: RmJobEcho): Promise<RmJobRecord>;
}

export interface AuditStore {
  add(e: AuditInput): Promise<number>;
  list(q: AuditQuery): Promise<Page<AuditEntry>>;
  prune(days: number, now?: number): Promise<number>;
}

/** A store write that failed because the store cannot write now (disk full, read-only), remembered for /readyz. */
export interface StoreWrites {
  readonly failure: WriteFailure | null;
  /** Runs a write: a store write failure becomes STATE_STORE_WRITE_FAILED (remembered); a success clears it. */
  guard<T>(write: () => Promise<T>): Promise<T>;
}

export interface StateStore {
  readonly connections: ConnectionStore;
  readonly streams: StreamStore;
  readonly runs: RunStore;
  readonly apiKeys: ApiKeyStore;
  readonly positions: PositionStore;
  readonly deadLetters: DeadLetterStore;
  readonly mappings: MappingStore;
  readonly rmJobs: RmJobStore;
  readonly audit: AuditStore;
  readonly writes: StoreWrites;
  /** What opening the store did to URLs an older version stored with a password in them. */
  readonly urlScrub: { scrubbed: string[]; unreadable: string[] };
  schemaVersion(): Promise<number>;
  /** For /readyz: the store answers a query. */
  healthy(): Promise<boolean>;
  /** For /readyz: null while the store writes, else the failure (a small write probes whether it healed). */
  writeFailure(): Promise<WriteFailure | null>;
  close(): Promise<void>;
}
