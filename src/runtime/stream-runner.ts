/**
 * One run of one stream: open source, transport and sink, pump the snapshot and
 * then the change stream, close everything. The order inside the loops is the
 * delivery contract — publish, then ack, then save the position — and is the
 * reason this file exists apart from the supervisor's bookkeeping.
 *
 * `runStream` never throws: every outcome, failures included, comes back as a
 * value, so a broken connector can never become an unhandled rejection.
 */
import { RUN_EVENTS, canSnapshot, canBegin, canCutOver, reportsLag, canPrepare, parseTableName, type ConnectionSpec, type ConnectorContext, type ConnectorModule, type EventBatch, type Position, type Sink, type Source, type StreamSpec } from '../core';
import type { RunCounters, SnapshotPhase, StreamPersistence } from './persistence';
import type { Transport, TransportFactory } from '../transport/types';
import { NOOP_METER, type Meter } from '../metrics/stream-meter';
import { moduleDialect, type ConnectorRegistry } from './registry';
import { SluiceError } from '../errors';
import { ConnectionNotFoundError, ConnectorRoleError, MappingNotFoundError, StreamNotFoundError, type Stage } from './supervisor-types';
import { streamTransform, validateFilters } from '../transform';
import { validateStreamMapping } from '../transform/mapping';
import { needsTableList, resolveTables } from '../transform/tables';
import { assertTablesAllowed } from './system-schemas';
import { RecordErrorPolicy, storeDeadLetters, withRecordErrors } from './record-errors';
import { checkStoredOptions, type OptionWarning } from './run-options';

/** Everything a run needs, resolved and validated by the supervisor beforehand. */
export interface RunPlan {
  stream: StreamSpec;
  sourceConnection: ConnectionSpec;
  sinkConnection: ConnectionSpec;
  sourceModule: ConnectorModule;
  sinkModule: ConnectorModule;
  /** Stored options the start dropped (unknown, or a value that does not fit), for the operator. */
  warnings?: OptionWarning[];
}

/** The id of the mapping resource a stream names (`"mapping": {"mappingId": "…"}`), if it names one. */
export function mappingIdOf(stream: Pick<StreamSpec, 'mapping'>): string | undefined {
  const id = stream.mapping?.mappingId;
  return typeof id === 'string' ? id : undefined;
}

/**
 * A stream whose `mapping` names a mapping resource gets that resource's rules, as
 * they are now: a mapping changed between runs takes effect at the next start.
 */
export function resolveMapping(stream: StreamSpec, store: Pick<StreamPersistence, 'getMapping'>): StreamSpec {
  const mappingId = mappingIdOf(stream);
  if (mappingId === undefined) return stream;
  const mapping = store.getMapping(mappingId);
  if (!mapping) throw new MappingNotFoundError(mappingId, stream.id);
  // The id stays beside the rules: a shared resource may hold rules for tables this stream
  // does not read, which validateMapping then leaves out instead of refusing.
  return { ...stream, mapping: { mappingId, ...mapping } as Record<string, unknown> };
}

/**
 * Resolves connections, connectors and the mapping before a run is opened, so a bad
 * reference is the caller's error (a 4xx), not a failed run. `resolveMappings: false`
 * for callers that never write (release drops the slot of a stream whatever it maps).
 */
export function planRun(
  streamId: string,
  store: StreamPersistence,
  registry: ConnectorRegistry,
  logger: ConnectorContext['logger'],
  opts: {
    /** false for callers that never write (release drops the slot of a stream whatever it maps). */
    resolveMappings?: boolean;
    /** Passwords supplied for this run, by connection id (connections saved with savePassword:false). */
    passwords?: Readonly<Record<string, string>>;
  } = {},
): RunPlan {
  const passwords = opts.passwords ?? {};
  const spec = store.getStream(streamId);
  if (!spec) throw new StreamNotFoundError(streamId);
  const stream = opts.resolveMappings === false ? spec : resolveMapping(spec, store);
  const sourceConnection = store.getConnection(stream.source.connectionId, passwords[stream.source.connectionId]);
  if (!sourceConnection) throw new ConnectionNotFoundError(stream.source.connectionId, streamId);
  const sinkConnection = store.getConnection(stream.sink.connectionId, passwords[stream.sink.connectionId]);
  if (!sinkConnection) throw new ConnectionNotFoundError(stream.sink.connectionId, streamId);
  const module = (kind: string, role: 'source' | 'sink') => roleModule(registry, logger, streamId, kind, role);
  const sourceModule = module(sourceConnection.kind, 'source');
  const sinkModule = module(sinkConnection.kind, 'sink');
  // Options as the connectors get them: parsed, defaults applied; what a stored spec holds that does not fit is dropped and told.
  const checked = checkStoredOptions(registry, { stream, source: sourceConnection, sink: sinkConnection, ...transportConnection(stream, store) });
  return { stream: checked.stream, sourceConnection: checked.source, sinkConnection: checked.sink, sourceModule, sinkModule, warnings: checked.warnings };
}

/** The stream's kafka connection, for checking its options; none when it names none (or it needs a password not given). */
function transportConnection(stream: StreamSpec, store: StreamPersistence): { transport?: ConnectionSpec } {
  const id = stream.transport && 'connectionId' in stream.transport ? stream.transport.connectionId : undefined;
  try {
    const conn = id === undefined ? undefined : store.getConnection(id);
    return conn ? { transport: conn } : {};
  } catch {
    return {};
  }
}

function roleModule(registry: ConnectorRegistry, logger: ConnectorContext['logger'], streamId: string, kind: string, role: 'source' | 'sink'): ConnectorModule {
  const { module: mod, deprecatedAlias } = registry.resolve(kind);
  if (deprecatedAlias) logger.warn({ streamId, alias: deprecatedAlias, kind: mod.kind }, 'connection kind is a deprecated alias');
  if (!mod.roles.includes(role) || !(role === 'source' ? mod.createSource : mod.createSink)) {
    const supported = registry.kinds((m) => m.roles.includes(role));
    throw new ConnectorRoleError(kind, role, supported);
  }
  return mod;
}

/** planRun's sink side alone (the stream's own spec, no mapping resolved): the source connection's password is not needed. */
export function planSink(
  streamId: string,
  store: StreamPersistence,
  registry: ConnectorRegistry,
  logger: ConnectorContext['logger'],
  passwords: Readonly<Record<string, string>> = {},
): Pick<RunPlan, 'stream' | 'sinkConnection' | 'sinkModule'> {
  const stream = store.getStream(streamId);
  if (!stream) throw new StreamNotFoundError(streamId);
  const sinkConnection = store.getConnection(stream.sink.connectionId, passwords[stream.sink.connectionId]);
  if (!sinkConnection) throw new ConnectionNotFoundError(stream.sink.connectionId, streamId);
  return { stream, sinkConnection, sinkModule: roleModule(registry, logger, streamId, sinkConnection.kind, 'sink') };
}

export interface RunDeps extends RunPlan {
  ctx: ConnectorContext;
  persistence: StreamPersistence;
  transportFactory: TransportFactory;
  counters: RunCounters;
  /**
   * Reports phase changes; called only while the run has not been aborted. With
   * `snapshotDone`, `cutover` tells whether this run's source can cut over.
   */
  onPhase(event: 'snapshot' | 'snapshotDone', info?: { cutover: boolean }): void;
  /** Called after a batch is durable and its position saved. */
  onBatch(phase: SnapshotPhase, batch: EventBatch): void;
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
 * Asks the source and the transport how far behind they are, now and every `everyMs`,
 * one probe at a time. Off the data path: a probe that fails is logged and the
 * gauges keep their last values. Returns the stop function.
 */
function pollLag(source: Source, transport: Transport, meter: Meter, everyMs: number, logger: ConnectorContext['logger']): () => void {
  const lagging = reportsLag(source) ? source : null;
  if (!lagging && !transport.lag) return () => undefined;
  let busy = false;
  let failing = false;
  const probe = async (): Promise<void> => {
    if (busy) return;
    busy = true;
    try {
      const [sourceLag, consumer] = await Promise.all([lagging?.lag() ?? null, transport.lag?.() ?? null]);
      meter.lag(sourceLag, consumer);
      failing = false;
    } catch (err) {
      // Once per outage at warn level; the data path reports the outage itself.
      logger[failing ? 'debug' : 'warn']({ err }, 'lag probe failed; the lag gauges keep their last values');
      failing = true;
    } finally {
      busy = false;
    }
  };
  void probe();
  const timer = setInterval(() => void probe(), everyMs);
  timer.unref();
  return () => clearInterval(timer);
}

/**
 * Waits for the next batch, or for the abort signal, whichever comes first. A
 * source that ignores its signal would otherwise hold a pause or stop forever;
 * a batch pulled but dropped here was never published, so nothing acked it and
 * the next run reads it again from the saved position.
 */
function nextOrAbort<T>(it: AsyncIterator<T>, signal: AbortSignal): Promise<IteratorResult<T> | typeof ABORTED> {
  if (signal.aborted) return Promise.resolve(ABORTED);
  return new Promise((resolve, reject) => {
    const onAbort = (): void => resolve(ABORTED);
    signal.addEventListener('abort', onAbort, { once: true });
    it.next().then(
      (r) => {
        signal.removeEventListener('abort', onAbort);
        resolve(r);
      },
      (err: unknown) => {
        signal.removeEventListener('abort', onAbort);
        reject(err);
      },
    );
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
  let source: Source | undefined;
  let sink: Sink | undefined;
  let transport: Transport | undefined;
  let outcome: RunOutcome;

  try {
    // A spec stored before its clause was checked fails here, at the start, not at the first change.
    const dialect = moduleDialect(deps.sourceModule);
    validateFilters(stream, dialect);
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
    // Record errors (errorHandling/errorTolerance): dead letters go to the store's table
    // unless the transport brings its own queue (Kafka: the dead-letter topic).
    const records = new RecordErrorPolicy(stream, storeDeadLetters(persistence.addDeadLetter?.bind(persistence)), counters, (n) => meter.failed(n));
    sink = withRecordErrors(meter.sink(deps.sinkModule.createSink!({ connection: deps.sinkConnection, stream, logger })), records);
    source = deps.sourceModule.createSource!({ connection: deps.sourceConnection, stream, logger });
    transport = deps.transportFactory(stream.transport?.kind ?? '', { sink, stream, records });
    await transport.start(ctx);
    stopLagPoll = pollLag(source, transport, meter, deps.lagPollMs ?? LAG_POLL_MS, logger);
    // A transport failure on the consumer side (Kafka → sink) ends the run even
    // while the source has nothing to say: stop pulling, then report it.
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
    const carrier = transport;
    // Row and column filters, applied here in the source's process: what they drop never reaches the transport.
    const transform = streamTransform(stream, dialect);
    /** Publishes a batch (resolving once it is durable in the transport) and counts it. */
    const deliver = async (read: EventBatch, phase: 'snapshotRows' | 'cdcEvents'): Promise<void> => {
      counters.eventsRead += read.events.length;
      meter.read(read);
      const { batch, filtered } = transform(read);
      for (const f of filtered) ctx.count?.(RUN_EVENTS.FILTERED, f.n, f.table);
      const lettersBefore = counters.deadLettered;
      try {
        await carrier.publish(batch, ctx);
      } catch (err) {
        if (!signal.aborted) meter.failed(batch.events.length);
        throw err;
      }
      // In direct mode publish is the sink write: records it dead-lettered were not written.
      // (On Kafka, written means durable in Kafka; dead letters happen on the consumer side.)
      const delivered = batch.events.length - (carrier.kind === 'direct' ? counters.deadLettered - lettersBefore : 0);
      counters.eventsWritten += delivered;
      counters[phase] += delivered;
      counters.batches++;
      meter.delivered(batch, phase === 'snapshotRows' ? 'snapshot' : 'cdc');
    };
    const src = source;

    const wantsSnapshot = stream.mode !== 'CDC_ONLY' && !persistence.isSnapshotDone(streamId);
    let finished = true;
    if (wantsSnapshot) {
      if (!canSnapshot(src)) {
        throw new SluiceError('CONNECTOR_SNAPSHOT_UNSUPPORTED', `the ${deps.sourceConnection.kind} source cannot take a snapshot`, { stream: streamId });
      }
      if (signal.aborted) return (outcome = { kind: 'aborted' });
      deps.onPhase('snapshot');
      stage = 'SNAPSHOT';
      const plan = { tables: stream.tables.map(parseTableName), resumeFrom: persistence.loadPosition(streamId, 'snapshot') };
      logger.info({ resumeFrom: plan.resumeFrom }, 'snapshot starting');
      // Only a fresh snapshot may clear the target (dropCollections): a resumed one
      // would lose the chunks it already wrote.
      if (plan.resumeFrom === null && canPrepare(sink)) await sink.prepare(plan.tables, ctx);
      finished = await pump(src.snapshot(plan, ctx), pumping.signal, async (batch) => {
        await deliver(batch, 'snapshotRows');
        // Snapshot positions are ours alone; the database is only acked for CDC.
        if (batch.position) persistence.savePosition(streamId, 'snapshot', batch.position);
        deps.onBatch('snapshot', batch);
      });
      rethrowFatal();
      if (!finished) return (outcome = { kind: 'aborted' });
      persistence.markSnapshotDone(streamId);
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
    let saved = persistence.loadPosition(streamId, 'cdc');
    if (stream.mode === 'CDC_ONLY' && saved === null) {
      // A source without server-side replica state (MySQL) returns where "now" is: it is
      // recorded at once, so a pause or a crash before the first batch resumes there and
      // not at a later "now" (nothing precedes it, so nothing is left unacknowledged).
      const at = canBegin(src) ? await src.begin(ctx) : undefined;
      if (at) {
        persistence.savePosition(streamId, 'cdc', at);
        saved = at;
      }
    }
    if (signal.aborted) return (outcome = { kind: 'aborted' });
    deps.onPhase('snapshotDone', { cutover: canCutOver(src) });
    stage = 'CDC';
    // No CDC position yet: the snapshot's last position tells a source without
    // server-side replica state (MySQL) where its consistent point was.
    const from: Position | null = saved ?? persistence.loadPosition(streamId, 'snapshot');
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
    finished = await pump(src.stream(from, ctx), pumping.signal, async (batch) => {
      await deliver(batch, 'cdcEvents');
      if (batch.position) {
        // Ack only what the transport holds durably, and record it only once the
        // database heard it: a crash between the two replays, never skips.
        await src.ack(batch.position);
        persistence.savePosition(streamId, 'cdc', batch.position);
        lastSaved = batch.position;
        reach(batch.position);
      }
      deps.onBatch('cdc', batch);
    });
    live = false;
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
    outcome = signal.aborted && isAbortError(error) ? { kind: 'aborted' } : { kind: 'failed', error, stage };
  } finally {
    stopLagPoll();
    // Source first so nothing new is read, then the transport (drains), then the sink.
    await closeQuietly('source', source, logger);
    await closeQuietly('transport', transport, logger);
    await closeQuietly('sink', sink, logger);
  }
  return outcome;
}

function isAbortError(err: unknown): boolean {
  return err instanceof Error && (err.name === 'AbortError' || (err as { code?: unknown }).code === 'ABORT_ERR');
}

async function closeQuietly(
  what: string,
  resource: { close(): Promise<void> } | undefined,
  logger: ConnectorContext['logger'],
): Promise<void> {
  if (!resource) return;
  try {
    await resource.close();
  } catch (err) {
    // A failed close must not turn a clean stop into a failed stream: the data path
    // already finished, so this is only worth a warning.
    logger.warn({ err }, `closing the ${what} failed`);
  }
}
