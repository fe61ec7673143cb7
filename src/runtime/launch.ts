/**
 * Launching a run: the run (run.ts) gets its context (logger, abort signal, job updates
 * and counts for the operator), its meter and its transports, and a cutover request
 * that the stream's entry can fire once the run streams changes; its phases and
 * batches go to the run book, and its outcome becomes the stream's next state.
 */
import type { StreamSpec } from '../core';
import type { Meter } from '../metrics/stream-meter';
import type { Transports } from '../transport/types';
import type { StreamPersistence } from './persistence';
import { runStream } from './run';
import type { RunBook } from './run-book';
import type { RunPlan } from './run-plan';
import type { Entry } from './stream-entry';

export interface LaunchDeps {
  store: StreamPersistence;
  book: RunBook;
  transports: Transports;
  meter(stream: StreamSpec): Meter;
}

/** Starts a run of `plan` for `entry`, whose run is already open; `entry.loop` settles when it ends. */
export function launchRun(entry: Entry, plan: RunPlan, deps: LaunchDeps): void {
  const abort = new AbortController();
  entry.abort = abort;
  entry.stopReason = null;
  const runId = entry.runId!;
  const meter = deps.meter(plan.stream);
  entry.meter = meter;
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
      report: (u) => deps.store.addJobUpdate(entry.streamId, runId, u),
      count: (event, n, table) => meter.count(event, n, table),
    },
    meter,
    persistence: deps.store,
    transports: deps.transports,
    counters: entry.counters,
    onPhase: (event, info) => {
      deps.book.setState(entry, event);
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
          deps.book.beginCutover(entry, entry.requestCutover, 'cutover resumed after a daemon restart: draining up to the source\'s current position');
        }
      }
    },
    onBatch: (phase, batch) => deps.book.batchDone(entry, phase, batch),
  });
  const loop: Promise<void> = run
    .then((outcome) => deps.book.settle(entry, outcome))
    .catch((err: unknown) => {
      // Only a bug in the bookkeeping itself (or a store that throws) lands here.
      entry.logger.error({ err }, 'stream supervision failed');
      try {
        deps.book.fail(entry, err, 'INITIALIZATION');
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
