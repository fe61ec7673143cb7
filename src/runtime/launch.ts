/**
 * Launching a run: the run (run.ts) gets its context (logger, abort signal, job updates
 * and counts for the operator), its meter and its transports, and a cutover request
 * that the stream's entry can fire once the run streams changes; its phases and
 * batches go to the run book, and its outcome becomes the stream's next state.
 *
 * Self-healing lives here: a run that fails with a retriable error is run again from
 * the stream's last saved positions, after the backoff of the stream's retry policy
 * (retry-policy.ts), while the stream stays RUNNING. A pause, stop or shutdown during
 * the wait ends it at once (the same abort signal). Only a failure that is not
 * retriable, or one past the policy's bounds, fails the stream.
 */
import { sleep, type StreamSpec } from '../core';
import type { Meter } from '../metrics/stream-meter';
import type { Transports } from '../transport/types';
import type { StreamPersistence } from './persistence';
import { runStream, type RunOutcome } from './run';
import type { RunBook } from './run-book';
import type { RunPlan } from './run-plan';
import type { Entry } from './stream-entry';
import { RetryPolicy, retryOptionsOf } from './retry-policy';
import { toErrorInfo, type Stage } from './supervisor-types';

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
  const meter = deps.meter(plan.stream);
  entry.meter = meter;
  const policy = new RetryPolicy(retryOptionsOf(plan.stream));
  const loop: Promise<void> = (async () => {
    for (;;) {
      const outcome = await runOnce(entry, plan, deps, abort.signal, meter, policy);
      if (outcome.kind !== 'failed' || abort.signal.aborted) return await deps.book.settle(entry, outcome);
      const decision = policy.onFailure(outcome.error);
      if (!decision.retry) {
        // maxRetries 0 is sluice before retries: the error as it came.
        const error = decision.reason === 'exhausted' && decision.attempts > 0 ? givenUp(outcome.error, decision) : outcome.error;
        return await deps.book.settle(entry, { ...outcome, error });
      }
      await deps.book.retrying(entry, outcome.error, stageOf(entry, outcome.stage), decision);
      meter.restarted();
      await sleep(decision.delayMs, abort.signal);
      if (abort.signal.aborted) return await deps.book.settle(entry, { kind: 'aborted' });
    }
  })()
    .catch(async (err: unknown) => {
      // Only a bug in the bookkeeping itself (or a store that throws) lands here.
      entry.logger.error({ err }, 'stream supervision failed');
      try {
        await deps.book.fail(entry, err, 'INITIALIZATION');
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

/** The stage a failure is told under: the run's, or where the stream is when the run failed before saying. */
function stageOf(entry: Entry, stage: Stage): Stage {
  if (stage !== 'INITIALIZATION') return stage;
  return entry.state === 'SNAPSHOTTING' ? 'SNAPSHOT' : entry.state === 'STREAMING' || entry.state === 'COMPLETING' ? 'CDC' : stage;
}

/** The failure that ends a series of restarts, its message saying so. */
function givenUp(error: unknown, d: { attempts: number; sinceMs: number; why: string }): Error {
  const info = toErrorInfo(error);
  const message = `${info.message} (gave up after ${d.attempts} restart${d.attempts === 1 ? '' : 's'} over ${Math.round(d.sinceMs / 1000)} s: ${d.why})`;
  const detail = (error as { detail?: unknown } | null)?.detail;
  return Object.assign(new Error(message, { cause: error }), { code: info.code, ...(info.suggestion ? { suggestion: info.suggestion } : {}), ...(detail ? { detail } : {}) });
}

/**
 * One run, from the stream's saved positions. A restarted run finds the stream where
 * the failed one left it (SNAPSHOTTING, STREAMING, COMPLETING): it reports only the
 * phases that move it on, and a cutover asked of the failed run is asked again.
 */
function runOnce(entry: Entry, plan: RunPlan, deps: LaunchDeps, signal: AbortSignal, meter: Meter, policy: RetryPolicy): Promise<RunOutcome> {
  const runId = entry.runId!;
  let requested = false;
  let request: () => void = () => undefined;
  const cutover = new Promise<void>((resolve) => {
    request = resolve;
  });
  return runStream({
    cutover,
    ...plan,
    ctx: {
      streamId: entry.streamId,
      runId,
      logger: entry.logger,
      signal,
      // A connector reports and goes on: a job update the store could not take is logged.
      report: (u) => void deps.book.report(entry, u).catch((err: unknown) => entry.logger.error({ err }, 'could not store a job update')),
      count: (event, n, table) => meter.count(event, n, table),
    },
    meter,
    persistence: deps.store,
    transports: deps.transports,
    counters: entry.counters,
    onPhase: async (event, info) => {
      await deps.book.recovered(entry, event === 'snapshot' ? 'SNAPSHOT' : 'CDC');
      const already = event === 'snapshot' ? entry.state === 'SNAPSHOTTING' : entry.state === 'STREAMING' || entry.state === 'COMPLETING';
      if (!already) await deps.book.setState(entry, event);
      // Cutover is offered once the run streams changes (and only once per run).
      if (event === 'snapshotDone' && plan.stream.mode !== 'SNAPSHOT') {
        entry.cutoverSupported = info?.cutover ?? false;
        if (!entry.cutoverSupported) return;
        const ask = (): void => {
          if (requested) return;
          requested = true;
          entry.requestCutover = null;
          request();
        };
        entry.requestCutover = ask;
        if (entry.state === 'COMPLETING' && already) {
          ask(); // the failed run was draining: this one drains again
        } else if (entry.cutoverOnStream) {
          entry.cutoverOnStream = false;
          await deps.book.beginCutover(entry, ask, 'cutover resumed after a daemon restart: draining up to the source\'s current position');
        }
      }
    },
    onBatch: async (phase, batch) => {
      if (policy.attempts > 0) {
        await deps.book.recovered(entry, phase === 'snapshot' ? 'SNAPSHOT' : 'CDC');
        policy.reset();
      }
      deps.book.batchDone(entry, phase, batch);
    },
  });
}
