/**
 * One run of one stream: open the pipeline (pipeline.ts), pump the snapshot and then
 * the change stream through it, close it. The order inside the loops is the delivery
 * contract — deliver (durable in the transport), then ack, then save the position —
 * and is the reason this file exists apart from the supervisor's bookkeeping. Batches
 * are pipelined: several are in flight at once (run option `inFlightBytes`), and each
 * is acked and saved only once it and every earlier one are durable (in-flight.ts).
 *
 * `runStream` never throws: every outcome, failures included, comes back as a
 * value, so a broken connector can never become an unhandled rejection.
 */
import { canSnapshot, canBegin, canCutOver, canPrepare, isAbortError, parseTableName, untilAborted, type ConnectorContext, type EventBatch, type Position } from '../core';
import type { RunCounters, SnapshotPhase, StreamPersistence } from './persistence';
import type { Transports } from '../transport/types';
import { NOOP_METER, type Meter } from '../metrics/stream-meter';
import { SluiceError } from '../errors';
import type { Stage } from './supervisor-types';
import { validateFilters } from '../transform';
import { moduleDialect } from './registry';
import { validateStreamMapping } from '../transform/mapping';
import { needsTableList, resolveTables } from '../transform/tables';
import { assertTablesAllowed } from './system-schemas';
import type { RunPlan } from './run-plan';
import { openStages, Pipeline } from './pipeline';
import { approxBatchBytes, InOrderAcks } from './in-flight';
import { readOptions } from '../options';
import { RUN_OPTIONS } from './run-options';

export interface RunDeps extends RunPlan {
  ctx: ConnectorContext;
  persistence: StreamPersistence;
  /** The stream's transport by kind (the daemon's default fills a spec that names none). */
  transports: Transports;
  counters: RunCounters;
  /**
   * Reports phase changes; called only while the run has not been aborted. With
   * `snapshotDone`, `cutover` tells whether this run's source can cut over.
   */
  onPhase(event: 'snapshot' | 'snapshotDone', info?: { cutover: boolean }): Promise<void>;
  /** Called after a batch is durable and its position saved. */
  onBatch(phase: SnapshotPhase, batch: EventBatch): void | Promise<void>;
  /** Where the run's metrics go; none when left out. */
  meter?: Meter;
  /** How often the source's and the transport's lag are asked for (metrics only). */
  lagPollMs?: number;
  /**
   * Resolves when an operator asks for cutover: the run then reads the source's current
   * position, keeps streaming until a durable batch covers it, flushes the transport
   * (everything in MongoDB) and ends as completed.
   */
  cutover?: Promise<void>;
}

export type RunOutcome =
  | { kind: 'completed' }
  | { kind: 'aborted' }
  | { kind: 'failed'; error: unknown; stage: Stage };

export function newCounters(): RunCounters {
  return { eventsRead: 0, eventsWritten: 0, snapshotRows: 0, cdcEvents: 0, batches: 0, eventsFailed: 0, deadLettered: 0 };
}

const ABORTED = Symbol('aborted');

export const LAG_POLL_MS = 5000;

/**
 * Waits for the next batch, or for the abort signal, whichever comes first. A
 * source that ignores its signal would otherwise hold a pause or stop forever;
 * a batch pulled but dropped here was never published, so nothing acked it and
 * the next run reads it again from the saved position.
 */
function nextOrAbort<T>(it: AsyncIterator<T>, signal: AbortSignal): Promise<IteratorResult<T> | typeof ABORTED> {
  if (signal.aborted) return Promise.resolve(ABORTED);
  const aborted = new Error('aborted');
  return untilAborted(it.next(), signal, { aborted: () => aborted }).catch((err: unknown) => {
    if (err === aborted) return ABORTED;
    throw err;
  });
}

/** Drives `iterable` through `handle` until it ends; false if aborted first. */
async function pump(
  iterable: AsyncIterable<EventBatch>,
  signal: AbortSignal,
  handle: (batch: EventBatch) => Promise<void>,
): Promise<boolean> {
  const it = iterable[Symbol.asyncIterator]();
  for (;;) {
    const next = await nextOrAbort(it, signal);
    if (next === ABORTED) {
      // Not awaited: a source stuck in next() would hold return() too; close() releases it.
      it.return?.().catch(() => undefined);
      return false;
    }
    if (next.done) return true;
    // The batch in hand is finished even when an abort arrives meanwhile: that is the
    // "clean point" of pause, stop and shutdown.
    await handle(next.value);
    if (signal.aborted) {
      it.return?.().catch(() => undefined);
      return false;
    }
  }
}

export async function runStream(deps: RunDeps): Promise<RunOutcome> {
  const { ctx, persistence, counters } = deps;
  let { stream } = deps;
  const meter = deps.meter ?? NOOP_METER;
  let stopLagPoll = (): void => undefined;
  const streamId = stream.id;
  const { signal, logger } = ctx;
  let stage: Stage = 'INITIALIZATION';
  let pipeline: Pipeline | undefined;
  let window: InOrderAcks | undefined;
  let outcome: RunOutcome;

  try {
    // A spec stored before its clause was checked fails here, at the start, not at the first change.
    validateFilters(stream, moduleDialect(deps.sourceModule));
    validateStreamMapping(stream);
    if (needsTableList(stream.tables, stream.excludeTables)) {
      // Table patterns and excludes are resolved now, against the tables the source has at this start.
      if (!deps.sourceModule.listTables) {
        throw new SluiceError('VALIDATION_FAILED', `the ${deps.sourceConnection.kind} source cannot list its tables: name them without patterns or excludeTables`, { stream: streamId, field: 'tables' });
      }
      const { tables, defaultSchema } = await deps.sourceModule.listTables(deps.sourceConnection, logger);
      stream = { ...stream, tables: resolveTables(stream.tables, stream.excludeTables, tables, defaultSchema) };
      logger.info({ tables: stream.tables }, 'table patterns resolved');
    }
    // Never a system schema (pg_catalog, mysql, …) unless the connection allows it: system-schemas.ts.
    assertTablesAllowed(deps.sourceConnection, stream.tables);
    const pipe = new Pipeline(await openStages(deps, stream, { ctx, persistence, transports: deps.transports, counters, meter, onBatch: (b) => deps.onBatch('cdc', b) }), { ctx, counters, meter });
    pipeline = pipe;
    const { transport } = pipe;
    await transport.start(ctx);
    stopLagPoll = pipe.watchLag(deps.lagPollMs ?? LAG_POLL_MS);
    // A transport failure on the sink end (Kafka → sink) ends the run even while the
    // source has nothing to say: stop pulling, then report it.
    const pumping = new AbortController();
    const stopPumping = (): void => pumping.abort();
    signal.addEventListener('abort', stopPumping, { once: true });
    let fatal: { error: unknown } | undefined;
    transport.onFatal?.((error) => {
      fatal ??= { error };
      pumping.abort();
    });
    const rethrowFatal = (): void => {
      if (fatal) throw fatal.error;
    };
    const src = pipe.source;
    const { inFlightBytes } = readOptions<{ inFlightBytes: number }>(RUN_OPTIONS, stream.options ?? {});
    // A failed batch stops the reading at once (the run fails with it); later batches in
    // flight are never acked nor saved.
    const inFlight = (): InOrderAcks => (window = new InOrderAcks(inFlightBytes, () => pumping.abort()));

    const wantsSnapshot = stream.mode !== 'CDC_ONLY' && !(await persistence.isSnapshotDone(streamId));
    let finished = true;
    if (wantsSnapshot) {
      if (!canSnapshot(src)) {
        throw new SluiceError('CONNECTOR_SNAPSHOT_UNSUPPORTED', `the ${deps.sourceConnection.kind} source cannot take a snapshot`, { stream: streamId });
      }
      if (signal.aborted) return (outcome = { kind: 'aborted' });
      await deps.onPhase('snapshot');
      stage = 'SNAPSHOT';
      const plan = { tables: stream.tables.map(parseTableName), resumeFrom: await persistence.loadPosition(streamId, 'snapshot') };
      logger.info({ resumeFrom: plan.resumeFrom }, 'snapshot starting');
      // Only a fresh snapshot may clear the target (dropCollections): a resumed one
      // would lose the chunks it already wrote.
      if (plan.resumeFrom === null && canPrepare(pipe.stages.sink)) await pipe.stages.sink.prepare(plan.tables, ctx);
      const acks = inFlight();
      finished = await pump(src.snapshot(plan, ctx), pumping.signal, (batch) =>
        acks.add(pipe.deliver(batch, 'snapshotRows'), approxBatchBytes(batch), async () => {
          // Snapshot positions are ours alone; the database is only acked for CDC.
          if (batch.position) await persistence.savePosition(streamId, 'snapshot', batch.position);
          await deps.onBatch('snapshot', batch);
        }),
      );
      await acks.drain();
      rethrowFatal();
      if (!finished) return (outcome = { kind: 'aborted' });
      await persistence.markSnapshotDone(streamId);
      meter.snapshotComplete();
      logger.info({ rows: counters.snapshotRows }, 'snapshot done');
    }

    if (!wantsSnapshot && stream.mode !== 'CDC_ONLY') meter.snapshotComplete();
    if (stream.mode === 'SNAPSHOT') {
      // COMPLETED means "in MongoDB", not "in Kafka": wait for the consumer side.
      await transport.flush?.(ctx);
      return (outcome = signal.aborted ? { kind: 'aborted' } : { kind: 'completed' });
    }
    if (signal.aborted) return (outcome = { kind: 'aborted' });
    // CDC_ONLY starts "now": the source fixes that point before the stream says so.
    let saved = await persistence.loadPosition(streamId, 'cdc');
    if (stream.mode === 'CDC_ONLY' && saved === null) {
      // A source without server-side replica state (MySQL) returns where "now" is: it is
      // recorded at once, so a pause or a crash before the first batch resumes there and
      // not at a later "now" (nothing precedes it, so nothing is left unacknowledged).
      const at = canBegin(src) ? await src.begin(ctx) : undefined;
      if (at) {
        await persistence.savePosition(streamId, 'cdc', at);
        saved = at;
      }
    }
    if (signal.aborted) return (outcome = { kind: 'aborted' });
    await deps.onPhase('snapshotDone', { cutover: canCutOver(src) });
    stage = 'CDC';
    // No CDC position yet: the snapshot's last position tells a source without
    // server-side replica state (MySQL) where its consistent point was.
    const from: Position | null = saved ?? (await persistence.loadPosition(streamId, 'snapshot'));
    logger.info({ from }, 'change stream starting');
    // Cutover: the target is the source's position when asked; the run ends once a
    // durable (acked and saved) position covers it.
    let lastSaved: Position | null = saved;
    let target: Position | null = null;
    let drained = false;
    let cutoverError: { error: unknown } | undefined;
    let live = true;
    const reach = (position: Position | null): void => {
      if (target && position && canCutOver(src) && src.covers(position, target) && !drained) {
        drained = true;
        pumping.abort();
      }
    };
    deps.cutover?.then(async () => {
      if (!live) return;
      try {
        if (!canCutOver(src)) {
          throw new SluiceError('CONNECTOR_CUTOVER_UNSUPPORTED', `the ${deps.sourceConnection.kind} source cannot tell its current position`, { stream: streamId });
        }
        const at = await src.currentPosition();
        if (!live) return;
        target = at;
        logger.info({ target: at, lastSaved }, 'cutover: draining up to the source position');
        ctx.report?.({ level: 'INFO', stage: 'CDC', message: `cutover: draining every change up to source position ${JSON.stringify(at)}` });
        reach(lastSaved);
      } catch (error) {
        cutoverError = { error };
        pumping.abort();
      }
    });
    const acks = inFlight();
    finished = await pump(src.stream(from, ctx), pumping.signal, (batch) =>
      acks.add(pipe.deliver(batch, 'cdcEvents'), approxBatchBytes(batch), async () => {
        if (batch.position) {
          // Ack only what the transport holds durably (this batch and every earlier
          // one), and only once it is saved: a position the store could not write (disk
          // full: STATE_STORE_WRITE_FAILED) is never acknowledged to the database. A
          // crash between the two replays from the database's older point (the sink is
          // idempotent), never skips.
          await persistence.savePosition(streamId, 'cdc', batch.position);
          await src.ack(batch.position);
          lastSaved = batch.position;
          reach(batch.position);
        }
        await deps.onBatch('cdc', batch);
      }),
    );
    await acks.drain().finally(() => {
      live = false;
    });
    rethrowFatal();
    if (cutoverError) throw cutoverError.error;
    if (drained && !signal.aborted) {
      // Durable in the transport is not yet in MongoDB on Kafka: wait for the consumer side.
      await transport.flush?.(ctx);
      logger.info({ target, position: lastSaved }, 'cutover: drained');
      ctx.report?.({ level: 'INFO', stage: 'CDC', message: `cutover: every change up to ${JSON.stringify(target)} is in MongoDB (last position ${JSON.stringify(lastSaved)})` });
      return (outcome = signal.aborted ? { kind: 'aborted' } : { kind: 'completed' });
    }
    outcome = finished ? { kind: 'completed' } : { kind: 'aborted' };
  } catch (error) {
    // Asked to stop, pause or shut down: that is the outcome, even when a part gave up with
    // its own last error (a sink retrying through an outage rejects with it when aborted).
    // Nothing past the last saved position was acknowledged either way.
    if (signal.aborted && !isAbortError(error)) logger.warn({ err: error, stage }, 'the run ended with an error while it was being stopped');
    outcome = signal.aborted ? { kind: 'aborted' } : { kind: 'failed', error, stage };
  } finally {
    stopLagPoll();
    // A run ending on another error lets its batches in flight settle (unacked) first.
    await window?.settle();
    await pipeline?.close();
  }
  return outcome;
}

