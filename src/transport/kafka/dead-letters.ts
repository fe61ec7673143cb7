/**
 * The Kafka transport's dead-letter queue: one topic per stream, `<topicPrefix>.__dlq`,
 * in Kafka Connect's `errors.deadletterqueue` shape: the record's key and value are the
 * original record's (as read from the table topic), and the error travels in headers
 * named as Kafka Connect names them (`__connect.errors.*`, with
 * `errors.deadletterqueue.context.headers.enable`), plus sluice's own `__sluice.errors.*`
 * (code, table, key, field, run id).
 */
import type { IHeaders, Message } from 'kafkajs';
import { eventJson, type ChangeEvent, type ConnectorContext, type DeadLetter, type DeadLetterQueue } from '../../core';
import type { RecordSerde } from './record-serde';

export const DLQ_SUFFIX = '__dlq';

export function deadLetterTopic(prefix: string): string {
  return `${prefix}.${DLQ_SUFFIX}`.slice(0, 249);
}

/** Where a decoded event came from on Kafka: set by the sink consumer, read when it is dead-lettered. */
export type Origins = WeakMap<ChangeEvent, NonNullable<DeadLetter['raw']>>;

export function deadLetterHeaders(letter: DeadLetter, raw: DeadLetter['raw'] | undefined): IHeaders {
  const h: Record<string, string> = {};
  if (raw) {
    h['__connect.errors.topic'] = raw.topic;
    h['__connect.errors.partition'] = String(raw.partition);
    h['__connect.errors.offset'] = raw.offset;
  }
  h['__connect.errors.connector.name'] = letter.streamId;
  h['__connect.errors.task.id'] = '0';
  // Kafka Connect's stages: a record that does not decode failed in the converter; one the sink refused, in the put.
  h['__connect.errors.stage'] = letter.error.code === 'KAFKA_DECODE_FAILED' ? 'VALUE_CONVERTER' : 'TASK_PUT';
  h['__connect.errors.class.name'] = letter.error.code === 'KAFKA_DECODE_FAILED' ? 'sluice.DebeziumSerde' : 'sluice.MongoSink';
  h['__connect.errors.exception.class.name'] = 'SluiceError';
  h['__connect.errors.exception.message'] = letter.error.message;
  h['__sluice.errors.code'] = letter.error.code;
  h['__sluice.errors.suggestion'] = letter.error.suggestion;
  h['__sluice.run.id'] = letter.runId;
  if (letter.table) h['__sluice.errors.table'] = letter.table;
  if (letter.key) h['__sluice.errors.key'] = eventJson(letter.key);
  if (letter.field) h['__sluice.errors.field'] = letter.field;
  return h;
}

export class KafkaDeadLetters implements DeadLetterQueue {
  readonly kind = 'kafka';
  #ready: Promise<void> | undefined;

  constructor(
    readonly topic: string,
    private readonly origins: Origins,
    private readonly serde: RecordSerde,
    private readonly ensureTopic: (topic: string) => Promise<void>,
    private readonly send: (records: Array<{ topic: string; message: Message }>, ctx: ConnectorContext) => Promise<void>,
  ) {}

  async put(letter: DeadLetter, ctx: ConnectorContext): Promise<void> {
    this.#ready ??= this.ensureTopic(this.topic).catch((err: unknown) => {
      this.#ready = undefined;
      throw err;
    });
    await this.#ready;
    const raw = letter.raw ?? (letter.event ? this.origins.get(letter.event) : undefined);
    let key: Buffer | null = raw ? raw.key : null;
    let value: Buffer | null = raw ? raw.value : null;
    if (!raw && letter.event) {
      // Not read from a topic (should not happen on this transport): the event as we would have published it.
      try {
        await this.serde.prepare([letter.event]);
        key = Buffer.from(this.serde.encodeKey(letter.event));
        value = Buffer.from(this.serde.encodeValue(letter.event));
      } catch {
        key = Buffer.from(eventJson(letter.event.key));
        value = Buffer.from(eventJson(letter.event));
      }
    }
    await this.send([{ topic: this.topic, message: { key, value, headers: deadLetterHeaders(letter, raw) } }], ctx);
  }
}
