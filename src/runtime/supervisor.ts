/**
 * The Supervisor owns every stream's lifecycle in this process: the control operations
 * (start, pause, resume, stop, cutover, release), each checked against the lifecycle
 * table and run one at a time per stream; the schedules' ticks; the daemon's resume and
 * shutdown. It launches one run (run.ts) per running stream and hands each outcome to
 * its run book (run-book.ts), which persists the state and the run. A failing stream
 * fails alone; nothing here lets a connector's error escape as an unhandled rejection.
 * Its parts: stream-entry.ts (what it holds per stream), run-book.ts (bookkeeping),
 * release.ts (what deleting a stream removes outside the store).
 */
import { EventEmitter } from 'node:events';
import type { Logger } from 'pino';
import type { StreamSpec } from '../core';
import { ACTIVE_STATES, InvalidTransitionError, RESUMABLE_STATES, canTransition, transition } from './lifecycle';
import type { StreamPersistence } from './persistence';
import type { ConnectorRegistry } from './registry';
import { launchRun } from './launch';
import { planRun, planSink, type RunPlan } from './run-plan';
import { RunBook } from './run-book';
import { dropStreamResources } from './release';
import { newEntry, type Entry, type StopReason } from './stream-entry';
import { transportEnds } from '../transport/index';
import { isScheduled, Scheduler } from './schedule';
import type { Transports } from '../transport/types';
import { NOOP_METER, type Meter } from '../metrics/stream-meter';
import { SluiceError } from '../errors';
import { StreamNotFoundError, SupervisorClosedError, SUPERVISOR_EVENTS, type ReleaseOptions, type ScheduleTick, type StreamStatusView } from './supervisor-types';

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

export interface StartOptions {
  /** Passwords of connections saved with savePassword:false, by connection id. */
  passwords?: Record<string, string>;
  /**
   * Forget the saved positions first: a fresh snapshot, then CDC from it (CDC_ONLY: from
   * now). The way back from SOURCE_POSITION_LOST.
   */
  resnapshot?: boolean;
}

export class Supervisor extends EventEmitter {
  readonly #registry: ConnectorRegistry;
  readonly #logger: Logger;
  readonly #store: StreamPersistence;
  readonly #transports: Transports;
  readonly #entries = new Map<string, Entry>();
  /** Streams being loaded into #entries (the store is read asynchronously). */
  readonly #loading = new Map<string, Promise<Entry>>();
  readonly #meter: (stream: StreamSpec) => Meter;
  readonly #forget: (streamId: string) => void;
  readonly #scheduler: Scheduler;
  readonly #book: RunBook;
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
    this.#book = new RunBook({ store: this.#store, logger: this.#logger, announce: (event, payload) => this.emit(event, payload), nextRunAt: (id) => this.nextRunAt(id) });
  }

  /** For /readyz: false once shutdown has begun. */
  isRunning(): boolean {
    return !this.#closing;
  }

  start(streamId: string, opts: StartOptions = {}): Promise<StreamStatusView> {
    return this.#serialize(streamId, async (entry) => {
      this.#assertOpen();
      transition(entry.state, 'start'); // refuse early, before opening a run
      const passwords = { ...opts.passwords };
      const plan = await planRun(streamId, this.#store, this.#registry, this.#logger, { passwords });
      // Once the run can be planned: the positions are read when it starts.
      if (opts.resnapshot) {
        await this.#store.resetPositions(streamId);
        this.#logger.info({ streamId }, 'resnapshot: saved positions forgotten; the run takes a fresh snapshot');
      }
      entry.passwords = passwords;
      await this.#begin(entry, plan);
      return this.#book.view(entry);
    });
  }

  // ---- schedules (SNAPSHOT streams with a cron) ------------------------------

  /**
   * Arms, re-arms or disarms the stream's schedule from its stored spec: after a
   * create or replace. The schedule belongs to the spec, not to a run: POST /stop
   * ends the current run only, the next tick starts another; PUT without
   * "schedule" (or DELETE) removes it.
   */
  async schedule(streamId: string): Promise<void> {
    const spec = await this.#store.getStream(streamId);
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
  async armSchedules(streamIds: readonly string[]): Promise<string[]> {
    const armed: string[] = [];
    for (const id of streamIds) {
      try {
        await this.schedule(id);
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
  async #tick(streamId: string): Promise<void> {
    if (this.#closing) return;
    if (!(await this.#store.getStream(streamId))) {
      this.#scheduler.disarm(streamId); // deleted behind our back
      return;
    }
    return this.#serialize(streamId, async (entry) => {
      if (this.#closing) return;
      const next = this.nextRunAt(streamId);
      if (ACTIVE_STATES.has(entry.state)) {
        const message = `scheduled run skipped: the previous run (${entry.runId ?? 'unknown'}) is still active (${entry.state}); next tick at ${next ?? 'never'}`;
        entry.logger.warn({ state: entry.state, runId: entry.runId, nextRunAt: next }, 'scheduled run skipped: a run is still active');
        await this.#book.jobUpdate(entry, 'WARNING', 'SCHEDULE', message);
        this.#book.emit(SUPERVISOR_EVENTS.TICK, { streamId, started: false, runId: entry.runId, nextRunAt: next } satisfies ScheduleTick);
        return;
      }
      try {
        const plan = await planRun(streamId, this.#store, this.#registry, this.#logger, { passwords: entry.passwords });
        await this.#begin(entry, plan, 'scheduled run');
      } catch (err) {
        if (!entry.runOpen) await this.#book.openRun(entry, await this.#store.getStream(streamId));
        if (!ACTIVE_STATES.has(entry.state)) await this.#book.setState(entry, 'start');
        await this.#book.fail(entry, err, 'INITIALIZATION');
      }
      this.#book.emit(SUPERVISOR_EVENTS.TICK, { streamId, started: true, runId: entry.runId, nextRunAt: next } satisfies ScheduleTick);
    });
  }

  pause(streamId: string): Promise<StreamStatusView> {
    return this.#serialize(streamId, async (entry) => {
      transition(entry.state, 'pause');
      if (entry.loop) await this.#halt(entry, 'pause');
      else await this.#book.setState(entry, 'pause');
      return this.#book.view(entry);
    });
  }

  resume(streamId: string, opts: StartOptions = {}): Promise<StreamStatusView> {
    return this.#serialize(streamId, async (entry) => {
      this.#assertOpen();
      transition(entry.state, 'resume');
      const passwords = { ...entry.passwords, ...opts.passwords };
      const plan = await planRun(streamId, this.#store, this.#registry, this.#logger, { passwords });
      entry.passwords = passwords;
      entry.mode = plan.stream.mode;
      await this.#book.setState(entry, 'resume');
      await this.#book.jobUpdate(entry, 'INFO', 'INITIALIZATION', 'stream resumed');
      this.#launch(entry, plan);
      return this.#book.view(entry);
    });
  }

  stop(streamId: string): Promise<StreamStatusView> {
    return this.#serialize(streamId, async (entry) => {
      await this.#book.setState(entry, 'stop');
      if (entry.loop) {
        await this.#halt(entry, 'stop');
      } else {
        await this.#book.setState(entry, 'stopped');
        await this.#book.finishRun(entry, 'CANCELLED');
      }
      return this.#book.view(entry);
    });
  }

  /**
   * Cutover, as Atlas Live Migration does it: only for a CDC / CDC_ONLY stream that is
   * streaming. The stream goes to COMPLETING (cdcStatus COMPLETING) at once; its run
   * reads the source's current position, keeps streaming until everything up to it is
   * in MongoDB, then stops and the stream is COMPLETED. Poll the stream for the end.
   */
  cutover(streamId: string): Promise<StreamStatusView> {
    return this.#serialize(streamId, async (entry) => {
      this.#assertOpen();
      // Not a CDC stream in CDC: the same refusal as any other illegal transition.
      if (entry.mode !== 'SNAPSHOT' && entry.state === 'STREAMING' && !entry.cutoverSupported) {
        throw new SluiceError('CONNECTOR_CUTOVER_UNSUPPORTED', `the source of stream ${streamId} cannot tell its current position, so it cannot cut over`, { stream: streamId });
      }
      const request = entry.mode === 'SNAPSHOT' ? null : entry.requestCutover;
      if (!request || !canTransition(entry.state, 'cutover')) throw new InvalidTransitionError(entry.state, 'cutover');
      await this.#book.beginCutover(entry, request, 'cutover requested: the stream drains up to the source\'s current position, then completes');
      return this.#book.view(entry);
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
  release(streamId: string, opts: ReleaseOptions = {}): Promise<void> {
    const dropSource = opts.source !== false;
    const dropSink = opts.sink !== false;
    return this.#serialize(streamId, async (entry) => {
      if (ACTIVE_STATES.has(entry.state)) {
        if (opts.refuse) throw opts.refuse(entry.state);
        transition(entry.state, 'start'); // throws STREAM_ALREADY_RUNNING
      }
      if (dropSource || dropSink) {
        // Only the sink: its connection alone is resolved (a source password is not needed).
        const plan = dropSource
          ? await planRun(streamId, this.#store, this.#registry, this.#logger, { resolveMappings: false, passwords: entry.passwords })
          : { ...(await planSink(streamId, this.#store, this.#registry, this.#logger, entry.passwords)), sourceModule: null, sourceConnection: null };
        await dropStreamResources(plan, { sink: dropSink }, entry.logger);
      }
      await opts.remove?.();
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
   * Runs `change` (a change to the stream's spec) in the stream's queue of operations, once
   * the stream is not running: no start, resume or schedule tick can come between the
   * check and the change. A running stream gets `refuse(state)`.
   */
  whileIdle<T>(streamId: string, change: () => Promise<T>, refuse: (state: string) => Error): Promise<T> {
    return this.#serialize(streamId, async (entry) => {
      if (ACTIVE_STATES.has(entry.state)) throw refuse(entry.state);
      return change();
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

  async status(streamId: string): Promise<StreamStatusView> {
    const entry = this.#entries.get(streamId);
    if (entry) return this.#book.view(entry);
    const stored = await this.#book.storedView(streamId);
    // A command may have loaded the stream meanwhile: its entry is the truth then.
    const loaded = this.#entries.get(streamId);
    return loaded ? this.#book.view(loaded) : stored;
  }

  /** Every stream this process has touched since it started. */
  list(): Promise<StreamStatusView[]> {
    return Promise.all([...this.#entries.values()].map((e) => this.#book.view(e)));
  }

  /**
   * At daemon start: restarts streams persisted as running, from their saved
   * positions, and restores paused ones as paused. One stream that cannot start
   * (its connection was deleted, say) is marked FAILED; the others still start.
   */
  async resumeAll(): Promise<{ started: string[]; paused: string[]; failed: string[] }> {
    const result = { started: [] as string[], paused: [] as string[], failed: [] as string[] };
    for (const streamId of await this.#store.listStreamsToResume()) {
      if (this.#closing) break; // leave the rest persisted as they are for the next start
      const persisted = (await this.#store.getState(streamId))?.state;
      if (!persisted || !RESUMABLE_STATES.has(persisted)) continue;
      await this.#serialize(streamId, async (entry) => {
        if (ACTIVE_STATES.has(entry.state)) return; // already live in this process
        if (this.#closing) return;
        try {
          const plan = await planRun(streamId, this.#store, this.#registry, this.#logger, { passwords: entry.passwords });
          await this.#book.openRun(entry, plan.stream);
          if (persisted === 'PAUSED') {
            // Not a transition: the stream never stopped being paused, only the process did.
            entry.state = 'PAUSED';
            result.paused.push(streamId);
            return;
          }
          await this.#book.setState(entry, 'start');
          entry.cutoverOnStream = persisted === 'COMPLETING';
          await this.#book.jobUpdate(entry, 'INFO', 'INITIALIZATION', 'stream resumed after a daemon restart');
          await this.#warnOptions(entry, plan);
          this.#launch(entry, plan);
          result.started.push(streamId);
        } catch (err) {
          if (!entry.runOpen) await this.#book.openRun(entry, await this.#store.getStream(streamId));
          entry.state = 'STARTING';
          await this.#book.fail(entry, err, 'INITIALIZATION');
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
        await this.#book.finishRun(entry, 'INTERRUPTED'); // paused streams hold an open run
      }
    }
    this.#logger.info({ clean }, 'supervisor shut down');
    return clean;
  }

  // ---- internals ------------------------------------------------------------

  /**
   * Runs `op` after the stream's earlier operations. A stream this process holds no entry
   * for yet is loaded first; calls made meanwhile share that load and keep their order.
   */
  #serialize<T>(streamId: string, op: (entry: Entry) => T | Promise<T>): Promise<T> {
    const entry = this.#entries.get(streamId);
    const enqueue = (e: Entry): Promise<T> => {
      const result = e.ops.then(() => op(e));
      e.ops = result.catch(() => undefined);
      return result;
    };
    return entry ? enqueue(entry) : this.#entry(streamId).then(enqueue);
  }

  #entry(streamId: string): Promise<Entry> {
    let loading = this.#loading.get(streamId);
    if (!loading) {
      loading = (async () => {
        const spec = await this.#store.getStream(streamId);
        if (!spec) throw new StreamNotFoundError(streamId);
        const state = await this.#store.getState(streamId);
        let entry = this.#entries.get(streamId);
        if (!entry) {
          entry = newEntry(streamId, spec, state, this.#logger);
          this.#entries.set(streamId, entry);
        }
        return entry;
      })().finally(() => this.#loading.delete(streamId));
      this.#loading.set(streamId, loading);
    }
    return loading;
  }

  #assertOpen(): void {
    if (this.#closing) throw new SupervisorClosedError();
  }

  /**
   * Opens and launches a new run (start, or a schedule's tick). A SNAPSHOT stream whose
   * snapshot an earlier run finished takes a fresh one: there is nothing to resume. One
   * that was interrupted (crash, failure, stop) resumes from its last chunk.
   */
  async #begin(entry: Entry, plan: RunPlan, why?: string): Promise<void> {
    if (plan.stream.mode === 'SNAPSHOT' && (await this.#store.isSnapshotDone(entry.streamId))) {
      await this.#store.resetSnapshot(entry.streamId);
    }
    await this.#book.openRun(entry, plan.stream);
    await this.#book.setState(entry, 'start');
    if (why) await this.#book.jobUpdate(entry, 'INFO', 'SCHEDULE', `${why} started (cron "${plan.stream.schedule?.cron ?? ''}"); next at ${this.nextRunAt(entry.streamId) ?? 'never'}`);
    await this.#book.jobUpdate(entry, 'INFO', 'INITIALIZATION', `stream started in ${plan.stream.mode} mode`);
    await this.#warnOptions(entry, plan);
    this.#launch(entry, plan);
  }

  /** Stored options a run's start dropped: once per run, a WARNING job update each, saying how to fix the spec. */
  async #warnOptions(entry: Entry, plan: RunPlan): Promise<void> {
    for (const w of plan.warnings ?? []) {
      entry.logger.warn({ field: w.field }, w.message);
      await this.#book.jobUpdate(entry, 'WARNING', 'INITIALIZATION', w.message, { code: 'OPTION_IGNORED', message: w.message, suggestion: w.suggestion }, { field: w.field });
    }
  }

  #launch(entry: Entry, plan: RunPlan): void {
    launchRun(entry, plan, { store: this.#store, book: this.#book, transports: this.#transports, meter: this.#meter });
  }

  /** Asks the run loop to wind down at its next clean point and waits for it. */
  async #halt(entry: Entry, reason: StopReason): Promise<void> {
    entry.stopReason = reason;
    entry.abort?.abort();
    await entry.loop;
  }
}
