/**
 * Picks a stream's transport by kind. The run only ever asks `transportEnds` (or a
 * `Transports` injected in its place), never a transport class.
 */
import { DirectTransport } from './direct';
import { createKafkaTransport, kafkaEnds } from './kafka';
import type { KafkaSettings } from './kafka/settings';
import type { Transport, TransportEnds, TransportFactoryArgs } from './types';
import type { StreamSpec } from '../core';

import { SluiceError } from '../errors';

export type { SinkEnd, SinkStages, Transport, TransportEnds, TransportFactoryArgs, Transports } from './types';
export { DirectTransport, TransportClosedError } from './direct';
export { JoinedTransport } from './joined';

export const TRANSPORT_KINDS = ['direct', 'kafka'] as const;

export class TransportUnavailableError extends SluiceError {
  constructor(kind: string, reason: string, suggestion: string) {
    super('TRANSPORT_UNAVAILABLE', `transport "${kind}" is not available: ${reason}`, { kind, supported: ['direct'] }, { suggestion });
    this.name = 'TransportUnavailableError';
  }
}

/** The direct transport: one end, which writes to the sink itself. */
const DIRECT: TransportEnds = { kind: 'direct', open: (_far, stages) => new DirectTransport(stages.sink) };

/** A stream's transport of `kind`; Kafka needs brokers (`settings.kafka`). */
export function transportEnds(kind: string, stream: StreamSpec | undefined, settings: { kafka?: KafkaSettings | undefined }): TransportEnds {
  switch (kind) {
    case 'direct':
      return DIRECT;
    case 'kafka':
      if (!stream || !settings.kafka?.brokers?.length) {
        throw new TransportUnavailableError(kind, 'no Kafka brokers configured', 'set SLUICE_KAFKA_BROKERS (kafka.brokers) or give the stream a kafka connection');
      }
      return kafkaEnds(stream, settings.kafka);
    default:
      throw new TransportUnavailableError(
        kind,
        `unknown transport kind; known kinds: ${TRANSPORT_KINDS.join(', ')}`,
        'use {"kind":"direct"} or {"kind":"kafka"}',
      );
  }
}

/** A transport with both ends in this process, writing to `args.sink`. */
export function createTransport(kind: string, args: TransportFactoryArgs): Transport {
  const ends = transportEnds(kind, args.stream, args);
  if (ends.kind === 'kafka') return createKafkaTransport({ ...args, stream: args.stream!, kafka: args.kafka! });
  return ends.open(undefined, { sink: args.sink, ...(args.records ? { records: args.records } : {}) });
}
