/**
 * The path of a row, in one place. A run is a composition of four stages, each an
 * object or a function it is handed:
 *
 *   source ──► filter ──► transport ──► sink
 *
 * - source (connectors/postgres, connectors/mysql): a consistent snapshot, then the
 *   changes from the database's log, as batches of ChangeEvents;
 * - filter (src/transform): row filters and column include/exclude, applied in the
 *   source's process, so that what they drop never reaches the transport;
 * - transport (src/transport): carries each batch durably: `publish` resolves once the
 *   batch is in MongoDB (direct) or in Kafka. Kafka's transport has two ends: the carrier
 *   publishes, and its sink end (the stream's consumer group) reads the topics and hands
 *   what it reads to the sink. The sink end is built from plain data, apart from the
 *   source side, and handed the sink and the run's record-error handling;
 * - sink (connectors/mongodb): maps each row to its document with the stream's mapping
 *   rules (src/transform/mapping, with the server's own conversions) and writes it,
 *   behind the run's record-error policy (record-errors.ts) and its meter.
 *
 * run.ts drives a pipeline: it pulls the source, delivers each batch through here and
 * only then acks and saves its position (the delivery contract), with several batches
 * in flight and their positions saved in order (in-flight.ts).
 */
import { RUN_EVENTS, reportsLag, type ConnectorContext, type EventBatch, type Sink, type Source, type StreamSpec } from '../core';
import type { Transport, Transports } from '../transport/types';
import { streamTransform, type StreamTransform } from '../transform';
import { moduleDialect } from './registry';
import type { Meter } from '../metrics/stream-meter';
import type { RunCounters, StreamPersistence } from './persistence';
import type { RunPlan } from './run-plan';
import { RecordErrorPolicy, storeDeadLetters, withRecordErrors } from './record-errors';
import { readsTopics } from '../transport/kafka/topics-source';
import { readingSink } from './topics-run';
import { WorkerSinkEnd } from './sink-worker/host';

export interface Stages {
  source: Source;
  filter: StreamTransform;
  transport: Transport;
  /** The sink connector behind the record-error policy and the meter: what the transport writes to. */
  sink: Sink;
}

export interface StageDeps {
  ctx: ConnectorContext;
  /** The direct transport's dead letters go to the store's table. */
  persistence: Pick<StreamPersistence, 'addDeadLetter'>;
  transports: Transports;
  counters: RunCounters;
  meter: Meter;
  /** Called after a batch read from existing topics is in MongoDB (a topics stream's batches never pass `deliver`). */
  onBatch?(batch: EventBatch): void | Promise<void>;
}

type Closable = { close(): Promise<void> };

/**
 * Builds a run's stages from its plan (`stream`: the plan's, tables resolved). When one
 * cannot be built, those built before it are closed again and the error thrown.
 */
export async function openStages(plan: RunPlan, stream: StreamSpec, deps: StageDeps): Promise<Stages> {
  const { ctx, meter, counters } = deps;
  const { logger } = ctx;
  const built: Array<[string, Closable]> = [];
  try {
    const written = meter.sink(plan.sinkModule.createSink!({ connection: plan.sinkConnection, stream, logger }));
    built.push(['sink', written]);
    const source = plan.sourceModule.createSource!({ connection: plan.sourceConnection, stream, logger });
    built.unshift(['source', source]);
    const ends = await deps.transports(stream.transport?.kind ?? '', stream);
    // The transport's far end, if it has one, is built first from plain data: the run's
    // record-error policy puts its dead letters where that end says (Kafka: the
    // dead-letter topic); the direct transport's go to the store's table.
    const topics = readsTopics(stream);
    // Apart from this thread when the transport says so (a sink worker builds its own sink
    // stage and policy from plain data); a stream that reads existing topics stays here,
    // as its filters and counters run where the records are read.
    const apart = topics ? undefined : ends.apart;
    const far = apart ? new WorkerSinkEnd({ stream, sinkConnection: plan.sinkConnection, transport: apart }, { counters, meter }) : ends.sinkEnd?.();
    const records = new RecordErrorPolicy(stream, far?.deadLetters ?? storeDeadLetters(deps.persistence.addDeadLetter?.bind(deps.persistence)), counters, (n) => meter.failed(n));
    const sink = withRecordErrors(written, records);
    // A stream that reads existing topics has no source side: what it reads is filtered
    // and counted where it is read, before the sink, snapshot reads included (no SELECT of
    // ours filtered Debezium's snapshot).
    const filter = streamTransform(stream, moduleDialect(plan.sourceModule), { filterReads: topics });
    const fed = topics ? readingSink(sink, filter, stream, { ...deps, onBatch: deps.onBatch ?? (() => undefined) }) : sink;
    // The far end is handed the sink and the record-error handling; the carrier owns neither.
    const transport = ends.open(far, { sink: fed, records });
    return { source, filter, transport, sink };
  } catch (err) {
    for (const [what, stage] of built) await closeQuietly(what, stage, logger);
    throw err;
  }
}

/** A run's stages, composed: `deliver` takes a batch from the source to the transport. */
export class Pipeline {
  readonly #run: { ctx: ConnectorContext; counters: RunCounters; meter: Meter };
  /** The last batch published, settled (never rejects). */
  #previous: Promise<void> = Promise.resolve();

  constructor(
    readonly stages: Stages,
    run: { ctx: ConnectorContext; counters: RunCounters; meter: Meter },
  ) {
    this.#run = run;
  }

  get source(): Source {
    return this.stages.source;
  }

  get transport(): Transport {
    return this.stages.transport;
  }

  /**
   * source ─► filter ─► transport: resolves once the batch is durable in the transport, and
   * counts it. The batch is filtered and handed to the transport at once (synchronously), so
   * calls made without waiting reach the transport in call order.
   */
  async deliver(read: EventBatch, phase: 'snapshotRows' | 'cdcEvents'): Promise<void> {
    const { ctx, counters, meter } = this.#run;
    const { transport, filter } = this.stages;
    counters.eventsRead += read.events.length;
    meter.read(read);
    const { batch, filtered } = filter(read);
    for (const f of filtered) ctx.count?.(RUN_EVENTS.FILTERED, f.n, f.table);
    // Several batches may be in flight (run.ts): the transport writes them in publish
    // order, so this batch's write starts once the previous one settled.
    const previous = this.#previous;
    const published = transport.publish(batch, ctx);
    this.#previous = published.catch(() => undefined);
    await previous;
    const lettersBefore = counters.deadLettered;
    try {
      await published;
    } catch (err) {
      if (!ctx.signal.aborted) meter.failed(batch.events.length);
      throw err;
    }
    // In direct mode publish is the sink write: records it dead-lettered were not written.
    // (On Kafka, written means durable in Kafka; dead letters happen on the sink end.)
    const delivered = batch.events.length - (transport.kind === 'direct' ? counters.deadLettered - lettersBefore : 0);
    counters.eventsWritten += delivered;
    counters[phase] += delivered;
    counters.batches++;
    meter.delivered(batch, phase === 'snapshotRows' ? 'snapshot' : 'cdc');
  }

  /**
   * Asks the source and the transport how far behind they are, now and every `everyMs`,
   * one probe at a time. Off the data path: a probe that fails is logged and the
   * gauges keep their last values. Returns the stop function.
   */
  watchLag(everyMs: number): () => void {
    const { meter, ctx } = this.#run;
    const { source, transport } = this.stages;
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
        ctx.logger[failing ? 'debug' : 'warn']({ err }, 'lag probe failed; the lag gauges keep their last values');
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

  /** Source first so nothing new is read, then the transport (it drains), then the sink. */
  async close(): Promise<void> {
    const { logger } = this.#run.ctx;
    await closeQuietly('source', this.stages.source, logger);
    await closeQuietly('transport', this.stages.transport, logger);
    await closeQuietly('sink', this.stages.sink, logger);
  }
}

async function closeQuietly(what: string, resource: Closable, logger: ConnectorContext['logger']): Promise<void> {
  try {
    await resource.close();
  } catch (err) {
    // A failed close must not turn a clean stop into a failed stream: the data path
    // already finished, so this is only worth a warning.
    logger.warn({ err }, `closing the ${what} failed`);
  }
}
