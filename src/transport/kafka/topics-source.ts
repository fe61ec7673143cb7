/**
 * A stream whose source is a `kafka` connection reads topics that something else writes
 * (Debezium's source connectors, or another sluice): `"source": {"connectionId": "<kafka>",
 * "topics": [...]}` or `"topicPattern": "<regex>"`, or neither (then one topic per table
 * of `tables`, `<topicPrefix>.<schema>.<table>`, as Debezium names them).
 *
 * Such a run is a pipeline without a source: its only carrier is the existing topic set,
 * read by the Kafka transport's sink end (sink-end.ts) in the stream's consumer group,
 * which commits only after MongoDB acknowledged (delivery contract 2). The source stage
 * is idle (it never yields) and the carrier publishes nothing; the filter stage runs on
 * the sink side (runtime/pipeline.ts). Each record's table is the one its envelope's
 * `source` block names (schema and table; MySQL's db), not the topic's name. There is no
 * snapshot of its own: Debezium's snapshot records (op "r") are upserts like any change.
 */
import type { Admin } from 'kafkajs';
import { parseTableName, type ConnectorContext, type EventBatch, type Source, type StreamSpec } from '../../core';
import { SluiceError } from '../../errors';
import type { Transport } from '../types';
import { topicFor, topicPrefixOf } from './topics';

/** The connection kind whose connections can be a topics source. */
export const TOPICS_SOURCE_KIND = 'kafka';

/** True for a run's stream (planned by topicsStream) that reads existing topics. */
export function readsTopics(stream: Pick<StreamSpec, 'source'>): boolean {
  return stream.source.topics !== undefined || stream.source.topicPattern !== undefined;
}

const invalid = (field: string, message: string): SluiceError => new SluiceError('VALIDATION_FAILED', `body field "${field}" ${message}`, { field });

/** The pattern's RegExp (whole topic name); throws VALIDATION_FAILED naming the field. */
export function topicRegExp(pattern: string): RegExp {
  try {
    return new RegExp(`^(?:${pattern})$`);
  } catch (err) {
    throw invalid('source.topicPattern', `is not a regular expression: ${(err as Error).message}`);
  }
}

/**
 * A stream body's source shape, as its source connection's kind allows: topics and
 * topicPattern only on a kafka source, one of them at most; a topics stream carries no
 * snapshot of its own and has no transport but its source's topics.
 */
export function checkTopicsSource(body: Pick<StreamSpec, 'source' | 'mode' | 'transport' | 'tables'>, sourceKind: string): void {
  const { topics, topicPattern } = body.source;
  if (sourceKind !== TOPICS_SOURCE_KIND) {
    if (topics !== undefined) throw invalid('source.topics', `is for a kafka source; connection ${body.source.connectionId} is a ${sourceKind} connection`);
    if (topicPattern !== undefined) throw invalid('source.topicPattern', `is for a kafka source; connection ${body.source.connectionId} is a ${sourceKind} connection`);
    return;
  }
  if (topics !== undefined && topicPattern !== undefined) throw invalid('source.topicPattern', 'cannot be given beside "source.topics": name the topics or match them');
  if (topicPattern !== undefined) topicRegExp(topicPattern);
  if (topics === undefined && topicPattern === undefined && (body.tables ?? []).length === 0) {
    throw invalid('source.topics', 'is missing: a kafka source reads "source.topics", the topics "source.topicPattern" matches, or <topicPrefix>.<schema>.<table> for each of "tables"');
  }
  if (body.mode === 'SNAPSHOT') throw invalid('mode', 'cannot be SNAPSHOT for a kafka source: it reads changes (Debezium\'s snapshot records included); use CDC or CDC_ONLY');
  const t = body.transport as { kind?: string; connectionId?: string } | undefined;
  if (t && (t.kind !== 'kafka' || (t.connectionId !== undefined && t.connectionId !== body.source.connectionId))) {
    throw invalid('transport', 'must be left out for a kafka source: its topics are the transport');
  }
}

/**
 * The stream as a run of a kafka source sees it: CDC_ONLY (Debezium's topics hold the
 * snapshot, if any), the source connection as its Kafka transport, and the topics named
 * (from `tables` when neither topics nor a pattern is given).
 */
export function topicsStream(stream: StreamSpec): StreamSpec {
  checkTopicsSource(stream, TOPICS_SOURCE_KIND);
  const source = { ...stream.source };
  if (source.topics === undefined && source.topicPattern === undefined) {
    const prefix = topicPrefixOf(stream);
    source.topics = stream.tables.map((t) => topicFor(prefix, parseTableName(t)));
  }
  return { ...stream, source, mode: 'CDC_ONLY', transport: { kind: 'kafka', connectionId: stream.source.connectionId } };
}

/**
 * The topics the stream reads now: its list, or the existing topics its pattern matches
 * (Kafka's internal ones and the stream's own dead-letter topic never). A topic created
 * later that the pattern matches is read from the next start on.
 */
export async function topicsToRead(admin: Admin, stream: StreamSpec, exclude: string[]): Promise<string[]> {
  const { topics, topicPattern } = stream.source;
  if (topics !== undefined) return [...new Set(topics)];
  const re = topicRegExp(topicPattern ?? '');
  const found = (await admin.listTopics()).filter((t) => re.test(t) && !t.startsWith('__') && !exclude.includes(t)).sort();
  if (found.length === 0) {
    throw new SluiceError('VALIDATION_FAILED', `no topic matches the stream's topicPattern ${JSON.stringify(topicPattern)}`, { field: 'source.topicPattern', topicPattern });
  }
  return found;
}

/** The source stage of a topics stream: it reads nothing (the sink end reads the topics) and ends when the run stops. */
export function idleSource(): Source {
  const waiting = new Set<() => void>();
  let closed = false;
  const release = (): void => {
    closed = true;
    for (const w of waiting) w();
    waiting.clear();
  };
  return {
    stream(_from, ctx: ConnectorContext): AsyncIterable<EventBatch> {
      return {
        [Symbol.asyncIterator]: () => ({
          next: () =>
            new Promise<IteratorResult<EventBatch>>((resolve) => {
              const done = (): void => resolve({ done: true, value: undefined });
              if (closed || ctx.signal.aborted) return done();
              waiting.add(done);
              ctx.signal.addEventListener('abort', done, { once: true });
            }),
          return: () => Promise.resolve({ done: true, value: undefined }),
        }),
      };
    },
    ack: () => Promise.resolve(),
    close: async () => release(),
  };
}

/** The carrier of a topics stream: the topics are written by someone else, so it carries nothing. */
export class NoCarrier implements Transport {
  readonly kind = 'kafka';
  start(): Promise<void> {
    return Promise.resolve();
  }
  publish(batch: EventBatch): Promise<void> {
    if (batch.events.length === 0) return Promise.resolve();
    return Promise.reject(new SluiceError('INTERNAL', 'a stream that reads existing topics publishes nothing', {}));
  }
  close(): Promise<void> {
    return Promise.resolve();
  }
}
