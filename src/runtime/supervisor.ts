/**
 * The Supervisor owns every stream's lifecycle in this process: it validates each
 * request against the lifecycle table, persists every state change, launches one
 * run loop per running stream (see stream-runner.ts) and turns each loop's outcome
 * into the next state. A failing stream fails alone; nothing here lets a
 * connector's error escape as an unhandled rejection.
 */
import { EventEmitter } from 'node:events';
import type { Logger } from 'pino';
import { canDropSink, canDropSource, type EventBatch, type StreamSpec } from '../core';
import {
  ACTIVE_STATES,
  InvalidTransitionError,
  RESUMABLE_STATES,
  canTransition,
  toPublicView,
  transition,
  type StreamEvent,
  type StreamState,
} from './lifecycle';
import type { ErrorInfo, RunCounters, RunStatus, SnapshotPhase, StreamPersistence } from './persistence';
import type { ConnectorRegistry } from './registry';
import { newCounters, runStream, type RunOutcome } from './run';
import { planRun, planSink, type RunPlan } from './run-plan';
import { transportEnds } from '../transport/index';
import { isScheduled, Scheduler } from './schedule';
import type { Transports } from '../transport/types';
import { NOOP_METER, type Meter } from '../metrics/stream-meter';
import { SluiceError } from '../errors';
import { EventRate } from './event-rate';
import {
  StreamNotFoundError,
  SupervisorClosedError,
  toErrorInfo,
  SUPERVISOR_EVENTS,
  type BatchDone,
  type RunFinished,
  type StateChange,
  type StreamFailed,
  type ScheduleTick,
  type StreamStatusView,
  type Stage,
} from './supervisor-types';

export * from './supervisor-types';

export interface SupervisorOptions {
  registry: ConnectorRegistry;
  logger: Logger;
  persistence: StreamPersistence;
  /** A stream's transport by kind (default: direct only; the daemon adds Kafka with its settings). */
  transports?: Transports;
  /** Transport for a stream whose spec names none (Kafka when brokers are configured). */
  defaultTransport?: string;
  /** The metrics of one run of a stream (src/metrics); none when left out. */
  meter?: (stream: StreamSpec) => Meter;
  /** Called once a stream is released for deletion, to drop its metric series. */
  forget?: (streamId: string) => void;
}

type StopReason = 'pause' | 'stop' | 'shutdown';

interface Entry {
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
}

export interface StartOptions {
  /** Passwords of connections saved with savePassword:false, by connection id. */
  passwords?: Record<string, string>;
}

export class Supervisor extends EventEmitter {
  readonly #registry: ConnectorRegistry;
  readonly #logger: Logger;
  readonly #store: StreamPersistence;
  readonly #transports: Transports;
  readonly #entries = new Map<string, Entry>();
  readonly #meter: (stream: StreamSpec) => Meter;
  readonly #forget: (streamId: string) => void;
  readonly #scheduler: Scheduler;
  #closing = false;

  constructor(opts: SupervisorOptions) {
    super();
    this.#registry = opts.registry;
    this.#logger = opts.logger;
    this.#store = opts.persistence;
    this.#meter = opts.meter ?? (() => NOOP_METER);
    this.#forget = opts.forget ?? (() => undefined);
    const transports: Transports = opts.transports ?? ((kind, stream) => transportEnds(kind, stream, {}));
    const fallback = opts.defaultTransport ?? 'direct';
    // The spec's kind wins; the daemon default only fills a missing one.
    this.#transports = (kind, stream) => transports(kind || fallback, stream);
    this.#scheduler = new Scheduler((streamId, err) => this.#logger.error({ err, streamId }, 'a scheduled tick failed'));
  }

  /** For /readyz: false once shutdown has begun. */
  isRunning(): boolean {
    return !this.#closing;
  }

  start(streamId: string, opts: StartOptions = {}): Promise<StreamStatusView> {
    return this.#serialize(streamId, (entry) => {
      this.#assertOpen();
      transition(entry.state, 'start'); // refuse early, before opening a run
      const passwords = { ...opts.passwords };
      const plan = planRun(streamId, this.#store, this.#registry, this.#logger, { passwords });
      entry.passwords = passwords;
      this.#begin(entry, plan);
      return this.#view(entry);
    });
  }

  // ---- schedules (SNAPSHOT streams with a cron) ------------------------------

  /**
   * Arms, re-arms or disarms the stream's schedule from its stored spec: after a
   * create or replace. The schedule belongs to the spec, not to a run: POST /stop
   * ends the current run only, the next tick starts another; PUT without
   * "schedule" (or DELETE) removes it.
   */
  schedule(streamId: string): void {
    const spec = this.#store.getStream(streamId);
    if (this.#closing || !isScheduled(spec)) {
      this.#scheduler.disarm(streamId);
      return;
    }
    if (this.#scheduler.arm(streamId, spec.schedule, () => this.#tick(streamId))) {
      this.#logger.info({ streamId, schedule: spec.schedule, nextRunAt: this.nextRunAt(streamId) }, 'stream schedule armed');
    }
  }

  /** Removes the stream's schedule (the stream is being deleted). */
  unschedule(streamId: string): void {
    this.#scheduler.disarm(streamId);
  }

  /** At daemon start: arms every scheduled stream among `streamIds`. One bad spec does not stop the others. */
  armSchedules(streamIds: readonly string[]): string[] {
    const armed: string[] = [];
    for (const id of streamIds) {
      try {
        this.schedule(id);
        if (this.#scheduler.isArmed(id)) armed.push(id);
      } catch (err) {
        this.#logger.error({ err, streamId: id }, 'could not arm the stream schedule');
      }
    }
    if (armed.length) this.#logger.info({ streams: armed }, 'stream schedules armed');
    return armed;
  }

  /** ISO time of the stream's next scheduled run; null when it has no schedule armed. */
  nextRunAt(streamId: string): string | null {
    return this.#scheduler.nextRun(streamId)?.toISOString() ?? null;
  }

  /**
   * One tick of a schedule: starts a run exactly as start() would, with the spec (and
   * so its filters and mapping) read now. A tick while a run is active (paused
   * included) is skipped, which the stream's job updates and the log say. A run that
   * cannot even be opened (its connection was deleted) is recorded as a failed run;
   * the schedule goes on either way.
   */
  #tick(streamId: string): Promise<void> {
    if (this.#closing) return Promise.resolve();
    if (!this.#store.getStream(streamId)) {
      this.#scheduler.disarm(streamId); // deleted behind our back
      return Promise.resolve();
    }
    return this.#serialize(streamId, (entry) => {
      if (this.#closing) return;
      const next = this.nextRunAt(streamId);
      if (ACTIVE_STATES.has(entry.state)) {
        const message = `scheduled run skipped: the previous run (${entry.runId ?? 'unknown'}) is still active (${entry.state}); next tick at ${next ?? 'never'}`;
        entry.logger.warn({ state: entry.state, runId: entry.runId, nextRunAt: next }, 'scheduled run skipped: a run is still active');
        this.#jobUpdate(entry, 'WARNING', 'SCHEDULE', message);
        this.#emit(SUPERVISOR_EVENTS.TICK, { streamId, started: false, runId: entry.runId, nextRunAt: next } satisfies ScheduleTick);
        return;
      }
      try {
        const plan = planRun(streamId, this.#store, this.#registry, this.#logger, { passwords: entry.passwords });
        this.#begin(entry, plan, 'scheduled run');
      } catch (err) {
        if (!entry.runOpen) this.#openRun(entry, this.#store.getStream(streamId));
        if (!ACTIVE_STATES.has(entry.state)) this.#setState(entry, 'start');
        this.#fail(entry, err, 'INITIALIZATION');
      }
      this.#emit(SUPERVISOR_EVENTS.TICK, { streamId, started: true, runId: entry.runId, nextRunAt: next } satisfies ScheduleTick);
    });
  }

  pause(streamId: string): Promise<StreamStatusView> {
    return this.#serialize(streamId, async (entry) => {
      transition(entry.state, 'pause');
      if (entry.loop) await this.#halt(entry, 'pause');
      else this.#setState(entry, 'pause');
      return this.#view(entry);
    });
  }

  resume(streamId: string, opts: StartOptions = {}): Promise<StreamStatusView> {
    return this.#serialize(streamId, (entry) => {
      this.#assertOpen();
      transition(entry.state, 'resume');
      const passwords = { ...entry.passwords, ...opts.passwords };
      const plan = planRun(streamId, this.#store, this.#registry, this.#logger, { passwords });
      entry.passwords = passwords;
      entry.mode = plan.stream.mode;
      this.#setState(entry, 'resume');
      this.#jobUpdate(entry, 'INFO', 'INITIALIZATION', 'stream resumed');
      this.#launch(entry, plan);
      return this.#view(entry);
    });
  }

  stop(streamId: string): Promise<StreamStatusView> {
    return this.#serialize(streamId, async (entry) => {
      this.#setState(entry, 'stop');
      if (entry.loop) {
        await this.#halt(entry, 'stop');
      } else {
        this.#setState(entry, 'stopped');
        this.#finishRun(entry, 'CANCELLED');
      }
      return this.#view(entry);
    });
  }

  /**
   * Cutover, as Atlas Live Migration does it: only for a CDC / CDC_ONLY stream that is
   * streaming. The stream goes to COMPLETING (cdcStatus COMPLETING) at once; its run
   * reads the source's current position, keeps streaming until everything up to it is
   * in MongoDB, then stops and the stream is COMPLETED. Poll the stream for the end.
   */
  cutover(streamId: string): Promise<StreamStatusView> {
    return this.#serialize(streamId, (entry) => {
      this.#assertOpen();
      // Not a CDC stream in CDC: the same refusal as any other illegal transition.
      if (entry.mode !== 'SNAPSHOT' && entry.state === 'STREAMING' && !entry.cutoverSupported) {
        throw new SluiceError('CONNECTOR_CUTOVER_UNSUPPORTED', `the source of stream ${streamId} cannot tell its current position, so it cannot cut over`, { stream: streamId });
      }
      const request = entry.mode === 'SNAPSHOT' ? null : entry.requestCutover;
      if (!request || !canTransition(entry.state, 'cutover')) throw new InvalidTransitionError(entry.state, 'cutover');
      this.#beginCutover(entry, request, 'cutover requested: the stream drains up to the source\'s current position, then completes');
      return this.#view(entry);
    });
  }

  /**
   * Before a stream is deleted: removes what its source created in the database
   * (PostgreSQL's slot and publication) and what its sink keeps beside the documents
   * (MongoDB's embedding staging collections), and forgets the stream. Refused while the
   * stream runs. `source: false` / `sink: false` leave that side's resources alone
   * (DELETE ?keepSourceResources=true / ?keepSinkResources=true). The sink is reached
   * first and the source dropped before the sink, so that a server that cannot be
   * reached makes this throw (SOURCE_UNREACHABLE / SINK_UNREACHABLE) with, as far as
   * possible, nothing dropped: the caller then keeps the stream, whose slot would
   * otherwise retain WAL forever.
   */
  release(streamId: string, opts: { source?: boolean; sink?: boolean } = {}): Promise<void> {
    const dropSource = opts.source !== false;
    const dropSink = opts.sink !== false;
    return this.#serialize(streamId, async (entry) => {
      if (ACTIVE_STATES.has(entry.state)) transition(entry.state, 'start'); // throws STREAM_ALREADY_RUNNING
      if (dropSource || dropSink) {
        // Only the sink: its connection alone is resolved (a source password is not needed).
        const plan = dropSource
          ? planRun(streamId, this.#store, this.#registry, this.#logger, { resolveMappings: false, passwords: entry.passwords })
          : { ...planSink(streamId, this.#store, this.#registry, this.#logger, entry.passwords), sourceModule: null, sourceConnection: null };
        const args = { stream: plan.stream, logger: entry.logger };
        const sink = dropSink ? plan.sinkModule.createSink!({ ...args, connection: plan.sinkConnection }) : null;
        try {
          const droppable = sink && canDropSink(sink) ? sink : null;
          await droppable?.drop({ check: true });
          if (plan.sourceModule) {
            const source = plan.sourceModule.createSource!({ ...args, connection: plan.sourceConnection });
            try {
              if (canDropSource(source)) await source.drop();
            } finally {
              await source.close().catch((err: unknown) => entry.logger.warn({ err }, 'closing the source after drop failed'));
            }
          }
          await droppable?.drop();
        } finally {
          await sink?.close().catch((err: unknown) => entry.logger.warn({ err }, 'closing the sink after drop failed'));
        }
      }
      this.#entries.delete(streamId);
      this.#scheduler.disarm(streamId);
      try {
        this.#forget(streamId);
      } catch (err) {
        this.#logger.error({ err, streamId }, 'could not drop the metrics of a released stream');
      }
    });
  }

  /**
   * The passwords supplied at the stream's last start or resume (connections saved with
   * savePassword:false), held in memory while the daemon runs; empty when none. For
   * routes that read through the stream's connections (verify, mapping preview).
   */
  heldPasswords(streamId: string): Readonly<Record<string, string>> {
    return { ...this.#entries.get(streamId)?.passwords };
  }

  status(streamId: string): StreamStatusView {
    const entry = this.#entries.get(streamId);
    if (entry) return this.#view(entry);
    const spec = this.#store.getStream(streamId);
    if (!spec) throw new StreamNotFoundError(streamId);
    const rec = this.#store.getState(streamId);
    const state = rec?.state ?? 'CREATED';
    return {
      streamId,
      state,
      ...toPublicView(state, spec.mode, this.#store.isSnapshotDone(streamId)),
      mode: spec.mode,
      statistics: newCounters(),
      runId: null,
      startedAt: null,
      nextRunAt: this.nextRunAt(streamId),
      ...(rec?.error ? { error: rec.error } : {}),
    };
  }

  /** Every stream this process has touched since it started. */
  list(): StreamStatusView[] {
    return [...this.#entries.values()].map((e) => this.#view(e));
  }

  /**
   * At daemon start: restarts streams persisted as running, from their saved
   * positions, and restores paused ones as paused. One stream that cannot start
   * (its connection was deleted, say) is marked FAILED; the others still start.
   */
  async resumeAll(): Promise<{ started: string[]; paused: string[]; failed: string[] }> {
    const result = { started: [] as string[], paused: [] as string[], failed: [] as string[] };
    for (const streamId of this.#store.listStreamsToResume()) {
      if (this.#closing) break; // leave the rest persisted as they are for the next start
      const persisted = this.#store.getState(streamId)?.state;
      if (!persisted || !RESUMABLE_STATES.has(persisted)) continue;
      await this.#serialize(streamId, (entry) => {
        if (ACTIVE_STATES.has(entry.state)) return; // already live in this process
        if (this.#closing) return;
        try {
          const plan = planRun(streamId, this.#store, this.#registry, this.#logger, { passwords: entry.passwords });
          this.#openRun(entry, plan.stream);
          if (persisted === 'PAUSED') {
            // Not a transition: the stream never stopped being paused, only the process did.
            entry.state = 'PAUSED';
            result.paused.push(streamId);
            return;
          }
          this.#setState(entry, 'start');
          entry.cutoverOnStream = persisted === 'COMPLETING';
          this.#jobUpdate(entry, 'INFO', 'INITIALIZATION', 'stream resumed after a daemon restart');
          this.#launch(entry, plan);
          result.started.push(streamId);
        } catch (err) {
          if (!entry.runOpen) this.#openRun(entry, this.#store.getStream(streamId));
          entry.state = 'STARTING';
          this.#fail(entry, err, 'INITIALIZATION');
          result.failed.push(streamId);
        }
      }).catch((err: unknown) => {
        this.#logger.error({ err, streamId }, 'could not resume stream');
        result.failed.push(streamId);
      });
    }
    this.#logger.info(result, 'streams resumed');
    return result;
  }

  /**
   * Stops every run at a clean point — the batch in flight is finished and only
   * what is durable is acked and saved — and keeps each stream's persisted state,
   * so the next start resumes it. Resolves false if some run did not wind down
   * within the deadline (a sink that never answers); the caller exits anyway.
   */
  async shutdown(opts: { deadlineMs: number }): Promise<boolean> {
    this.#closing = true;
    this.#scheduler.stopAll();
    const loops: Promise<void>[] = [];
    for (const entry of this.#entries.values()) {
      if (!entry.loop) continue;
      // A stop or pause already under way keeps its meaning; anything else is interrupted.
      entry.stopReason ??= 'shutdown';
      entry.abort?.abort();
      loops.push(entry.loop);
    }
    let timer: NodeJS.Timeout | undefined;
    const deadline = new Promise<false>((resolve) => {
      timer = setTimeout(() => resolve(false), opts.deadlineMs);
    });
    const clean = await Promise.race([Promise.all(loops).then(() => true as const), deadline]);
    clearTimeout(timer);
    for (const entry of this.#entries.values()) {
      if (entry.loop) {
        this.#logger.warn({ streamId: entry.streamId }, 'stream did not stop before the shutdown deadline');
      } else if (entry.runOpen) {
        this.#finishRun(entry, 'INTERRUPTED'); // paused streams hold an open run
      }
    }
    this.#logger.info({ clean }, 'supervisor shut down');
    return clean;
  }

  // ---- internals ------------------------------------------------------------

  #serialize<T>(streamId: string, op: (entry: Entry) => T | Promise<T>): Promise<T> {
    let entry: Entry;
    try {
      entry = this.#entry(streamId);
    } catch (err) {
      return Promise.reject(err);
    }
    const result = entry.ops.then(() => op(entry));
    entry.ops = result.catch(() => undefined);
    return result;
  }

  #entry(streamId: string): Entry {
    let entry = this.#entries.get(streamId);
    if (entry) return entry;
    const spec = this.#store.getStream(streamId);
    if (!spec) throw new StreamNotFoundError(streamId);
    const persisted = this.#store.getState(streamId);
    // A state persisted as live but with no run in this process means the daemon
    // restarted without resumeAll: the stream is simply not running here.
    const state = persisted && !ACTIVE_STATES.has(persisted.state) ? persisted.state : persisted ? 'STOPPED' : 'CREATED';
    entry = {
      streamId,
      state,
      mode: spec.mode,
      runId: null,
      runOpen: false,
      startedAt: null,
      error: persisted?.error ?? null,
      counters: newCounters(),
      cdcRate: new EventRate(),
      abort: null,
      loop: null,
      stopReason: null,
      logger: this.#logger.child({ streamId }),
      ops: Promise.resolve(),
      passwords: {},
      requestCutover: null,
      cutoverOnStream: false,
      cutoverSupported: false,
    };
    this.#entries.set(streamId, entry);
    return entry;
  }

  #assertOpen(): void {
    if (this.#closing) throw new SupervisorClosedError();
  }

  #openRun(entry: Entry, spec: StreamSpec | undefined): void {
    entry.runId = this.#store.startRun(entry.streamId);
    entry.runOpen = true;
    entry.startedAt = new Date();
    entry.error = null;
    entry.counters = newCounters();
    entry.cdcRate = new EventRate();
    if (spec) entry.mode = spec.mode;
    entry.logger = this.#logger.child({ streamId: entry.streamId, runId: entry.runId });
  }

  /**
   * Opens and launches a new run (start, or a schedule's tick). A SNAPSHOT stream whose
   * snapshot an earlier run finished takes a fresh one: there is nothing to resume. One
   * that was interrupted (crash, failure, stop) resumes from its last chunk.
   */
  #begin(entry: Entry, plan: RunPlan, why?: string): void {
    if (plan.stream.mode === 'SNAPSHOT' && this.#store.isSnapshotDone(entry.streamId)) {
      this.#store.resetSnapshot(entry.streamId);
    }
    this.#openRun(entry, plan.stream);
    this.#setState(entry, 'start');
    if (why) this.#jobUpdate(entry, 'INFO', 'SCHEDULE', `${why} started (cron "${plan.stream.schedule?.cron ?? ''}"); next at ${this.nextRunAt(entry.streamId) ?? 'never'}`);
    this.#jobUpdate(entry, 'INFO', 'INITIALIZATION', `stream started in ${plan.stream.mode} mode`);
    this.#launch(entry, plan);
  }

  #launch(entry: Entry, plan: RunPlan): void {
    const abort = new AbortController();
    entry.abort = abort;
    entry.stopReason = null;
    const runId = entry.runId!;
    const meter = this.#meter(plan.stream);
    let requested = false;
    let request: () => void = () => undefined;
    const cutover = new Promise<void>((resolve) => {
      request = resolve;
    });
    const run = runStream({
      cutover,
      ...plan,
      ctx: {
        streamId: entry.streamId,
        runId,
        logger: entry.logger,
        signal: abort.signal,
        report: (u) => this.#store.addJobUpdate(entry.streamId, runId, u),
        count: (event, n, table) => meter.count(event, n, table),
      },
      meter,
      persistence: this.#store,
      transports: this.#transports,
      counters: entry.counters,
      onPhase: (event, info) => {
        this.#setState(entry, event);
        // Cutover is offered once the run streams changes (and only once per run).
        if (event === 'snapshotDone' && plan.stream.mode !== 'SNAPSHOT') {
          entry.cutoverSupported = info?.cutover ?? false;
          if (!entry.cutoverSupported) return;
          entry.requestCutover = () => {
            if (requested) return;
            requested = true;
            entry.requestCutover = null;
            request();
          };
          if (entry.cutoverOnStream) {
            entry.cutoverOnStream = false;
            this.#beginCutover(entry, entry.requestCutover, 'cutover resumed after a daemon restart: draining up to the source\'s current position');
          }
        }
      },
      onBatch: (phase, batch) => this.#onBatch(entry, phase, batch),
    });
    const loop: Promise<void> = run
      .then((outcome) => this.#settle(entry, outcome))
      .catch((err: unknown) => {
        // Only a bug in the bookkeeping itself (or a store that throws) lands here.
        entry.logger.error({ err }, 'stream supervision failed');
        try {
          this.#fail(entry, err, 'INITIALIZATION');
        } catch (again) {
          entry.logger.error({ err: again }, 'could not record the stream failure');
        }
      })
      .finally(() => {
        // A new run may already have been launched from the state settle() left.
        if (entry.loop === loop) {
          entry.loop = null;
          entry.abort = null;
          entry.requestCutover = null;
        }
      });
    entry.loop = loop;
  }

  /** Asks the run loop to wind down at its next clean point and waits for it. */
  async #halt(entry: Entry, reason: StopReason): Promise<void> {
    entry.stopReason = reason;
    entry.abort?.abort();
    await entry.loop;
  }

  /** Turns a finished run loop into the stream's next state. */
  #settle(entry: Entry, outcome: RunOutcome): void {
    const reason = entry.stopReason;
    const stage = entry.state === 'SNAPSHOTTING' || entry.mode === 'SNAPSHOT' ? 'SNAPSHOT' : 'CDC';
    if (outcome.kind === 'failed') {
      this.#fail(entry, outcome.error, outcome.stage);
    } else if (reason === 'stop') {
      this.#setState(entry, 'stopped');
      this.#jobUpdate(entry, 'INFO', stage, 'stream stopped');
      this.#finishRun(entry, 'CANCELLED');
    } else if (outcome.kind === 'completed') {
      // A SNAPSHOT run that finished as a pause or shutdown arrived is simply complete.
      this.#setState(entry, 'complete');
      this.#jobUpdate(entry, 'INFO', stage, 'stream completed');
      this.#finishRun(entry, 'COMPLETED');
    } else if (reason === 'pause') {
      this.#setState(entry, 'pause');
      this.#jobUpdate(entry, 'INFO', stage, 'stream paused');
    } else if (reason === 'shutdown') {
      this.#finishRun(entry, 'INTERRUPTED');
    } else {
      this.#fail(entry, new Error('the run loop stopped without being asked to'), stage);
    }
  }

  #beginCutover(entry: Entry, request: () => void, message: string): void {
    this.#setState(entry, 'cutover');
    this.#jobUpdate(entry, 'INFO', 'CDC', message);
    request();
  }

  #fail(entry: Entry, err: unknown, stage: Stage): void {
    const info = toErrorInfo(err);
    entry.error = info;
    entry.logger.error({ err, stage }, 'stream failed');
    this.#setState(entry, 'fail', info);
    this.#jobUpdate(entry, 'ERROR', stage, info.message, info, locationOf(err));
    this.#finishRun(entry, 'FAILED', info);
    this.#emit(SUPERVISOR_EVENTS.STREAM_FAILED, { streamId: entry.streamId, runId: entry.runId, error: info, stage } satisfies StreamFailed);
  }

  #setState(entry: Entry, event: StreamEvent, error?: ErrorInfo): void {
    const from = entry.state;
    const to = transition(from, event);
    entry.state = to;
    this.#store.saveState(entry.streamId, { state: to, error: to === 'FAILED' ? error ?? entry.error : null });
    entry.logger.info({ from, to, event }, 'stream state changed');
    const view = toPublicView(to, entry.mode, this.#store.isSnapshotDone(entry.streamId));
    this.#emit(SUPERVISOR_EVENTS.STATE, { streamId: entry.streamId, runId: entry.runId, from, state: to, to, event, ...view } satisfies StateChange);
  }

  #finishRun(entry: Entry, status: RunStatus, failureError?: ErrorInfo): void {
    if (!entry.runOpen || !entry.runId) return;
    entry.runOpen = false;
    const counters = { ...entry.counters };
    this.#store.finishRun(entry.runId, { status, counters, ...(failureError ? { failureError } : {}) });
    this.#emit(SUPERVISOR_EVENTS.RUN_FINISHED, { streamId: entry.streamId, runId: entry.runId, status, counters } satisfies RunFinished);
  }

  #jobUpdate(entry: Entry, level: 'ERROR' | 'WARNING' | 'INFO', stage: string, message: string, err?: ErrorInfo, detail?: Record<string, unknown>): void {
    this.#store.addJobUpdate(entry.streamId, entry.runId, {
      level,
      stage,
      message,
      ...(err ? { errorCode: err.code } : {}),
      ...(err?.suggestion ? { suggestion: err.suggestion } : {}),
      ...(detail ? { detail } : {}),
    });
  }

  #onBatch(entry: Entry, phase: SnapshotPhase, batch: EventBatch): void {
    if (phase === 'cdc') entry.cdcRate.record(batch.events.length);
    this.#emit(SUPERVISOR_EVENTS.BATCH, {
      streamId: entry.streamId,
      runId: entry.runId!,
      phase,
      events: batch.events.length,
      position: batch.position,
    } satisfies BatchDone);
  }

  /** A listener that throws (a metrics bug) must not fail a stream. */
  #emit(event: string, payload: unknown): void {
    try {
      this.emit(event, payload);
    } catch (err) {
      this.#logger.error({ err, event }, 'a supervisor event listener threw');
    }
  }

  #view(entry: Entry): StreamStatusView {
    return {
      streamId: entry.streamId,
      state: entry.state,
      ...toPublicView(entry.state, entry.mode, this.#store.isSnapshotDone(entry.streamId)),
      mode: entry.mode,
      statistics: { ...entry.counters },
      runId: entry.runId,
      startedAt: entry.startedAt?.toISOString() ?? null,
      nextRunAt: this.nextRunAt(entry.streamId),
      cdcActivity: entry.cdcRate.activity(),
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
