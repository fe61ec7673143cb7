/**
 * A sink worker's thread (host.ts starts it): it builds the far end of the stream's
 * transport (the Kafka consumer group) and the sink stage from plain data, the sink
 * connector behind the record-error policy as openStages does in process, and tells
 * the run everything an operator sees (wire.ts). Nothing here reads the run's state:
 * the same entry could be a process on another host.
 */
import { parentPort, threadId, workerData } from 'node:worker_threads';
import { Writable } from 'node:stream';
import type { ConnectorContext, RunEvent, Sink, TableRef } from '../../core';
import { createLogger } from '../../logger';
import { transportEnds } from '../../transport';
import type { KafkaSettings } from '../../transport/kafka/settings';
import { builtinRegistry } from '../builtin-connectors';
import type { RunCounters } from '../persistence';
import { RecordErrorPolicy, withRecordErrors } from '../record-errors';
import { meteredSink } from '../../metrics/stream-meter';
import { encodeError, type FromWorker, type SinkWorkerData, type ToWorker } from './wire';

const port = parentPort!;
const data = workerData as SinkWorkerData;
const post = (m: FromWorker): void => port.postMessage(m);

// Each line pino formats goes to the run's logger, which logs it with the run's bindings.
const lines = new Writable({
  write(chunk: Buffer, _enc, done) {
    for (const line of chunk.toString('utf8').split('\n')) if (line) post({ t: 'log', line });
    done();
  },
});
const logger = createLogger({ level: data.logLevel, pretty: 'false', destination: lines });

const aborting = new AbortController();
const ctx: ConnectorContext = {
  streamId: data.streamId,
  runId: data.runId,
  logger,
  signal: aborting.signal,
  report: (update) => post({ t: 'report', update }),
  count: (event: RunEvent, n?: number, table?: TableRef) => post({ t: 'count', event, ...(n !== undefined ? { n } : {}), ...(table ? { table: { ...table } } : {}) }),
};

/** The run's counters as the policy changes them: each change is sent as a delta. */
const counters = new Proxy({} as RunCounters, {
  get: (o, k) => (o as unknown as Record<PropertyKey, number>)[k] ?? 0,
  set: (o, k, v: number) => {
    const held = o as unknown as Record<PropertyKey, number>;
    const delta = v - (held[k] ?? 0);
    held[k] = v;
    if (delta !== 0) post({ t: 'counter', key: k as keyof RunCounters, delta });
    return true;
  },
});

const far = transportEnds(data.transport.kind, data.stream, data.transport.settings as { kafka?: KafkaSettings }).sinkEnd!();
const sinkModule = builtinRegistry().get(data.sinkConnection.kind);
const connector = sinkModule.createSink!({ connection: data.sinkConnection, stream: data.stream, logger });
const written = meteredSink(connector, (events) => post({ t: 'written', at: Date.now(), threadId, events: events.map((e) => ({ table: { ...e.table }, op: e.op, source: { ts_ms: e.source.ts_ms } })) }));
const records = new RecordErrorPolicy(data.stream, far.deadLetters, counters, (n) => post({ t: 'failed', n }));
const sink: Sink = withRecordErrors(written, records);
far.onFatal((err) => post({ t: 'fatal', error: encodeError(err) }));

async function call(op: string, args: unknown): Promise<unknown> {
  switch (op) {
    case 'start':
      return far.start({ sink, records }, ctx);
    case 'follow':
      return far.follow(args as string[]);
    case 'lag':
      return (await far.lag?.()) ?? null;
    case 'close':
      await far.close();
      await sink.close();
      return undefined;
    default:
      throw new Error(`unknown call ${op}`);
  }
}

port.on('message', (m: ToWorker) => {
  if (m.t === 'abort') return aborting.abort();
  call(m.op, m.args).then(
    (value) => {
      post({ t: 'reply', id: m.id, ok: true, value });
      // Closed: the thread ends once nothing of its own is left (host.ts bounds the wait).
      if (m.op === 'close') port.unref();
    },
    (err: unknown) => post({ t: 'reply', id: m.id, ok: false, error: encodeError(err) }),
  );
});
