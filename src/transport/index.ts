/**
 * Picks a stream's transport by kind. The supervisor only ever calls this factory
 * (or one injected in its place), never a transport class.
 */
import { createDirectTransport } from './direct';
import { createKafkaTransport } from './kafka';
import type { Transport, TransportFactoryArgs } from './types';

import { SluiceError } from '../errors';

export type { Transport, TransportFactory, TransportFactoryArgs } from './types';
export { DirectTransport, TransportClosedError } from './direct';

export const TRANSPORT_KINDS = ['direct', 'kafka'] as const;

export class TransportUnavailableError extends SluiceError {
  constructor(kind: string, reason: string, suggestion: string) {
    super('TRANSPORT_UNAVAILABLE', `transport "${kind}" is not available: ${reason}`, { kind, supported: ['direct'] }, { suggestion });
    this.name = 'TransportUnavailableError';
  }
}

export function createTransport(kind: string, args: TransportFactoryArgs): Transport {
  switch (kind) {
    case 'direct':
      return createDirectTransport(args.sink);
    case 'kafka':
      if (!args.stream || !args.kafka?.brokers?.length) {
        throw new TransportUnavailableError(kind, 'no Kafka brokers configured', 'set SLUICE_KAFKA_BROKERS (kafka.brokers) or give the stream a kafka connection');
      }
      return createKafkaTransport({ sink: args.sink, stream: args.stream, kafka: args.kafka, ...(args.records ? { records: args.records } : {}) });
    default:
      throw new TransportUnavailableError(
        kind,
        `unknown transport kind; known kinds: ${TRANSPORT_KINDS.join(', ')}`,
        'use {"kind":"direct"} or {"kind":"kafka"}',
      );
  }
}
