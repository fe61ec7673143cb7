/**
 * The supervisor's bookkeeping: every state change of a stream is checked against the
 * lifecycle table, persisted and announced; runs are opened and finished with their
 * counters; job updates are written for the operator; a run's outcome becomes the
 * stream's next state; and the status view is read from here. No run is started or
 * stopped here (supervisor.ts does that).
 */
import type { Logger } from 'pino';
import { worthWarning, type EventBatch, type StreamSpec } from '../core';
import { toPublicView, transition, type StreamEvent } from './lifecycle';
import type { ErrorInfo, JobUpdate, RunStatus, SnapshotPhase, StreamPersistence } from './persistence';
import type { RunOutcome } from './run';
import { EventRate } from './event-rate';
import { newCounters } from './run';
import type { Entry } from './stream-entry';
import {
  StreamNotFoundError,
  toErrorInfo,
  SUPERVISOR_EVENTS,
  type BatchDone,
  type RunFinished,
  type StateChange,
  type StreamFailed,
  type StreamStatusView,
  type Stage,
} from './supervisor-types';

export class RunBook {
  readonly #store: StreamPersistence;
  readonly #logger: Logger;
  readonly #announce: (event: string, payload: unknown) => void;
  readonly #nextRunAt: (streamId: string) => string | null;

  constructor(opts: { store: StreamPersistence; logger: Logger; announce(event: string, payload: unknown): void; nextRunAt(streamId: string): string | null }) {
    this.#store = opts.store;
    this.#logger = opts.logger;
    this.#announce = opts.announce;
    this.#nextRunAt = opts.nextRunAt;
  }

  async openRun(entry: Entry, spec: StreamSpec | undefined): Promise<void> {
    entry.runId = await this.#store.startRun(entry.streamId);
    entry.runOpen = true;
    entry.startedAt = new Date();
    entry.error = null;
    entry.counters = newCounters();
    entry.cdcRate = new EventRate();
    entry.meter = null;
    if (spec) entry.mode = spec.mode;
    entry.logger = this.#logger.child({ streamId: entry.streamId, runId: entry.runId });
  }

  /** Turns a finished run loop into the stream's next state. */
  async settle(entry: Entry, outcome: RunOutcome): Promise<void> {
    const reason = entry.stopReason;
    entry.retrying = null;
    const stage = entry.state === 'SNAPSHOTTING' || entry.mode === 'SNAPSHOT' ? 'SNAPSHOT' : 'CDC';
    if (outcome.kind === 'failed') {
      await this.fail(entry, outcome.error, outcome.stage);
    } else if (reason === 'stop') {
      await this.setState(entry, 'stopped');
      await this.jobUpdate(entry, 'INFO', stage, 'stream stopped');
      await this.finishRun(entry, 'CANCELLED');
    } else if (outcome.kind === 'completed') {
      // A SNAPSHOT run that finished as a pause or shutdown arrived is simply complete.
      await this.setState(entry, 'complete');
      await this.jobUpdate(entry, 'INFO', stage, 'stream completed');
      await this.finishRun(entry, 'COMPLETED');
    } else if (reason === 'pause') {
      await this.setState(entry, 'pause');
      await this.jobUpdate(entry, 'INFO', stage, 'stream paused');
    } else if (reason === 'shutdown') {
      await this.finishRun(entry, 'INTERRUPTED');
    } else {
      await this.fail(entry, new Error('the run loop stopped without being asked to'), stage);
    }
  }

  async beginCutover(entry: Entry, request: () => void, message: string): Promise<void> {
    await this.setState(entry, 'cutover');
    await this.jobUpdate(entry, 'INFO', 'CDC', message);
    request();
  }

  /**
   * A run failed with a retriable error and restarts after `delayMs`: the stream stays
   * RUNNING, its status says so (`retrying`), and a WARNING job update tells the
   * operator (the first attempts, then ever more rarely, as the Kafka warnings do).
   */
  async retrying(entry: Entry, err: unknown, stage: Stage, next: { attempt: number; delayMs: number; nextAttemptAt: Date; since: Date }): Promise<void> {
    const info = toErrorInfo(err);
    entry.retrying = { attempt: next.attempt, nextAttemptAt: next.nextAttemptAt.toISOString(), since: next.since.toISOString(), lastError: info };
    entry.logger.warn({ err, stage, attempt: next.attempt, retryInMs: next.delayMs }, 'stream run failed with a retriable error; restarting');
    if (worthWarning(next.attempt - 1)) {
      const message = `${info.message}: the run restarts from its last saved position in ${Math.round(next.delayMs / 100) / 10} s (attempt ${next.attempt}, options.retry)`;
      await this.jobUpdate(entry, 'WARNING', stage, message, info, { attempt: next.attempt, nextAttemptAt: entry.retrying.nextAttemptAt });
    }
  }

  /** A restarted run got going again: the retry status goes, and the operator is told. */
  async recovered(entry: Entry, stage: Stage): Promise<void> {
    const r = entry.retrying;
    if (!r) return;
    entry.retrying = null;
    entry.logger.info({ attempt: r.attempt, since: r.since }, 'stream recovered');
    await this.jobUpdate(entry, 'INFO', stage, `stream recovered after ${r.attempt} restart${r.attempt === 1 ? '' : 's'} (failing since ${r.since}: ${r.lastError.code})`);
  }

  async fail(entry: Entry, err: unknown, stage: Stage): Promise<void> {
    entry.retrying = null;
    const info = toErrorInfo(err);
    entry.error = info;
    entry.logger.error({ err, stage }, 'stream failed');
    await this.setState(entry, 'fail', info);
    await this.jobUpdate(entry, 'ERROR', stage, info.message, info, locationOf(err));
    await this.finishRun(entry, 'FAILED', info);
    this.emit(SUPERVISOR_EVENTS.STREAM_FAILED, { streamId: entry.streamId, runId: entry.runId, error: info, stage } satisfies StreamFailed);
  }

  /** The new state is the entry's at once (so the stream's next operation sees it); then it is saved. */
  async setState(entry: Entry, event: StreamEvent, error?: ErrorInfo): Promise<void> {
    const from = entry.state;
    const to = transition(from, event);
    entry.state = to;
    await this.#unsaved(entry, 'state', () => this.#store.saveState(entry.streamId, { state: to, error: to === 'FAILED' ? error ?? entry.error : null }));
    entry.logger.info({ from, to, event }, 'stream state changed');
    const view = toPublicView(to, entry.mode, await this.#store.isSnapshotDone(entry.streamId));
    this.emit(SUPERVISOR_EVENTS.STATE, { streamId: entry.streamId, runId: entry.runId, from, state: to, to, event, ...view } satisfies StateChange);
  }

  async finishRun(entry: Entry, status: RunStatus, failureError?: ErrorInfo): Promise<void> {
    if (!entry.runOpen || !entry.runId) return;
    entry.runOpen = false;
    const counters = { ...entry.counters };
    const runId = entry.runId;
    await this.#unsaved(entry, 'run', () => this.#store.finishRun(runId, { status, counters, ...(failureError ? { failureError } : {}) }));
    this.emit(SUPERVISOR_EVENTS.RUN_FINISHED, { streamId: entry.streamId, runId: entry.runId, status, counters } satisfies RunFinished);
  }

  jobUpdate(entry: Entry, level: 'ERROR' | 'WARNING' | 'INFO', stage: string, message: string, err?: ErrorInfo, detail?: Record<string, unknown>): Promise<void> {
    return this.report(entry, {
      level,
      stage,
      message,
      ...(err ? { errorCode: err.code } : {}),
      ...(err?.suggestion ? { suggestion: err.suggestion } : {}),
      ...(detail ? { detail } : {}),
    });
  }

  /** A job update of the run (a connector's report included); lost, and logged, when the store cannot write. */
  report(entry: Entry, update: JobUpdate): Promise<void> {
    return this.#unsaved(entry, 'job update', () => this.#store.addJobUpdate(entry.streamId, entry.runId, update));
  }

  /**
   * Bookkeeping when the store cannot write (STATE_STORE_WRITE_FAILED: disk full, read-only
   * data dir) is logged and skipped, so that a failing store does not also break the retry
   * and failure handling; the run's own writes (positions) still fail it. /readyz names the fault.
   */
  async #unsaved(entry: Entry, what: string, write: () => Promise<void>): Promise<void> {
    try {
      await write();
    } catch (err) {
      if ((err as { code?: unknown } | null)?.code !== 'STATE_STORE_WRITE_FAILED') throw err;
      entry.logger.warn({ err, what }, 'the state store cannot write: bookkeeping not saved');
    }
  }

  batchDone(entry: Entry, phase: SnapshotPhase, batch: EventBatch): void {
    if (phase === 'cdc') entry.cdcRate.record(batch.events.length);
    this.emit(SUPERVISOR_EVENTS.BATCH, {
      streamId: entry.streamId,
      runId: entry.runId!,
      phase,
      events: batch.events.length,
      position: batch.position,
    } satisfies BatchDone);
  }

  /** Announces an event; a listener that throws (a metrics bug) must not fail a stream. */
  emit(event: string, payload: unknown): void {
    try {
      this.#announce(event, payload);
    } catch (err) {
      this.#logger.error({ err, event }, 'a supervisor event listener threw');
    }
  }

  /** The status of a stream no run of this process has touched: as the store has it. */
  async storedView(streamId: string): Promise<StreamStatusView> {
    const spec = await this.#store.getStream(streamId);
    if (!spec) throw new StreamNotFoundError(streamId);
    const rec = await this.#store.getState(streamId);
    const state = rec?.state ?? 'CREATED';
    return {
      streamId,
      state,
      ...toPublicView(state, spec.mode, await this.#store.isSnapshotDone(streamId)),
      mode: spec.mode,
      statistics: newCounters(),
      runId: null,
      startedAt: null,
      nextRunAt: this.#nextRunAt(streamId),
      ...(rec?.error ? { error: rec.error } : {}),
    };
  }

  async view(entry: Entry): Promise<StreamStatusView> {
    const snapshotDone = await this.#store.isSnapshotDone(entry.streamId);
    return {
      streamId: entry.streamId,
      state: entry.state,
      ...toPublicView(entry.state, entry.mode, snapshotDone),
      mode: entry.mode,
      statistics: { ...entry.counters },
      runId: entry.runId,
      startedAt: entry.startedAt?.toISOString() ?? null,
      nextRunAt: this.#nextRunAt(entry.streamId),
      cdcActivity: entry.cdcRate.activity(),
      ...(entry.retrying ? { retrying: { ...entry.retrying } } : {}),
      ...(entry.meter ? { lag: entry.meter.lagView() } : {}),
      ...(entry.error ? { error: entry.error } : {}),
    };
  }
}

/** Relational Migrator's jobUpdate location (table, field, key) of an error that names a record. */
function locationOf(err: unknown): Record<string, unknown> | undefined {
  const d = (err as { detail?: unknown } | null)?.detail;
  if (typeof d !== 'object' || d === null) return undefined;
  const { table, field, key } = d as { table?: unknown; field?: unknown; key?: unknown };
  if (typeof table !== 'string' && typeof field !== 'string') return undefined;
  return {
    locationType: 'TABLE',
    ...(typeof table === 'string' ? { locationName: table } : {}),
    ...(typeof field === 'string' ? { fieldName: field } : {}),
    // bigint-safe: the job update is stored as JSON.
    ...(key && typeof key === 'object' ? { key: JSON.parse(JSON.stringify(key, (_k, v: unknown) => (typeof v === 'bigint' ? v.toString() : v))) as unknown } : {}),
  };
}
