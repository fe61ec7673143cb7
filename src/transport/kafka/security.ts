/**
 * TLS and SASL of a kafka connection (`options.tls`, `options.sasl`): what every kafkajs
 * client sluice makes for it is given (the transport's producer, consumer and admin,
 * the dead-letter producer, the connection test), and what a failure to connect means.
 */
import type { KafkaConfig, SASLOptions } from 'kafkajs';
import { tlsFailure } from '../../connection-tls';
import { ERRORS, errorChain, SluiceError, type ErrorCode } from '../../errors';
import type { KafkaSettings } from './settings';

export type KafkaSecurity = Pick<KafkaSettings, 'tls' | 'sasl'>;

/**
 * kafkajs's `ssl` and `sasl` for the settings. TLS verifies the chain and the server
 * name (Node's default; sockets.ts gives the broker's host name as servername unless
 * the connection names another), against the connection's CA or the system trust store.
 */
export function kafkaSecurity(k: KafkaSecurity): Pick<KafkaConfig, 'ssl' | 'sasl'> {
  const t = k.tls;
  return {
    ...(t
      ? {
          ssl: {
            rejectUnauthorized: true,
            ...(t.ca ? { ca: t.ca } : {}),
            ...(t.cert ? { cert: t.cert } : {}),
            ...(t.key ? { key: t.key } : {}),
            ...(t.servername ? { servername: t.servername } : {}),
          },
        }
      : {}),
    ...(k.sasl ? { sasl: { mechanism: k.sasl.mechanism, username: k.sasl.username, password: k.sasl.password } as SASLOptions } : {}),
  };
}

export interface KafkaFailure {
  code: ErrorCode;
  message: string;
  suggestion: string;
  detail: Record<string, unknown>;
}

const message = (err: unknown): string => (err instanceof Error ? err.message : String(err));

/** Why a kafkajs client could not connect: a TLS failure (tlsFailure), a refused SASL login, or brokers that do not answer. */
export function kafkaFailure(err: unknown, brokers: string[], security: KafkaSecurity): KafkaFailure {
  const at = brokers.join(',');
  const tls = tlsFailure(err);
  if (tls) return { code: tls.code, message: `TLS to Kafka at ${at} failed: ${tls.message}`, suggestion: ERRORS[tls.code].suggestion, detail: { brokers, reason: tls.reason } };
  if ([...errorChain(err)].some((e) => e.name === 'KafkaJSSASLAuthenticationError')) {
    const sasl = security.sasl;
    return {
      code: 'KAFKA_AUTH_FAILED',
      message: `Kafka at ${at} refused the SASL login${sasl ? ` of ${sasl.username} (${sasl.mechanism})` : ''}: ${message(err)}`,
      suggestion: ERRORS.KAFKA_AUTH_FAILED.suggestion,
      detail: { brokers, ...(sasl ? { mechanism: sasl.mechanism, username: sasl.username } : {}) },
    };
  }
  return {
    code: 'KAFKA_UNREACHABLE',
    message: `Kafka at ${at} does not answer: ${message(err)}`,
    suggestion: security.tls
      ? 'Check that the brokers are up and reachable from sluice (host:port,… as the brokers advertise them), and that the port is a TLS listener (SSL or SASL_SSL).'
      : 'Check that the brokers are up and reachable from sluice (host:port,… as the brokers advertise them). A listener that needs TLS (SSL, SASL_SSL) closes a plaintext connection: add "tls": {} to the connection\'s options.',
    detail: { brokers },
  };
}

/** The error a transport end throws when it cannot set up its clients. */
export function kafkaSetupError(err: unknown, brokers: string[], security: KafkaSecurity): SluiceError {
  const f = kafkaFailure(err, brokers, security);
  return new SluiceError(f.code, `cannot set up the Kafka transport: ${f.message}`, f.detail, { cause: err, suggestion: f.suggestion });
}
