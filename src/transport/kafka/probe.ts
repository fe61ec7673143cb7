/**
 * `POST /validate` for the Kafka transport, as Kafka Connect checks a worker's
 * brokers: the cluster answers, and this client may create (and delete) a topic, as
 * a stream's first start will. The probe topic has one partition and is deleted at once.
 */
import crypto from 'node:crypto';
import { Kafka, logLevel } from 'kafkajs';
import type { CheckResult } from '../../core';
import { kafkaFailure, kafkaSecurity, type KafkaSecurity } from './security';

const message = (err: unknown): string => (err instanceof Error ? err.message : String(err));

/** The failed `kafka.brokers` check for why the admin client could not connect: SASL, TLS, or unreachable. */
export function brokersFailure(err: unknown, brokers: string[], security: KafkaSecurity): CheckResult {
  const { code, message: text, suggestion, detail } = kafkaFailure(err, brokers, security);
  return { name: 'kafka.brokers', ok: false, code, message: text, suggestion, detail };
}

/** Checks that the brokers answer (over TLS and SASL when the settings say so) and that a topic can be made. */
export async function probeKafka(brokers: string[], opts: { timeoutMs?: number; security?: KafkaSecurity } = {}): Promise<CheckResult[]> {
  if (brokers.length === 0) {
    return [
      {
        name: 'kafka.brokers',
        ok: false,
        message: 'no Kafka brokers: the stream names no kafka connection and SLUICE_KAFKA_BROKERS is not set',
        suggestion: 'Name a kafka connection in transport.connectionId, set SLUICE_KAFKA_BROKERS, or use transport {"kind":"direct"}.',
      },
      { name: 'kafka.topics', ok: false, skipped: true, message: 'skipped: no brokers to ask' },
    ];
  }
  const timeout = opts.timeoutMs ?? 5000;
  const security = opts.security ?? {};
  const kafka = new Kafka({ clientId: 'sluice-validate', brokers, ...kafkaSecurity(security), logLevel: logLevel.NOTHING, connectionTimeout: timeout, requestTimeout: timeout, retry: { retries: 1, initialRetryTime: 200 } });
  const admin = kafka.admin();
  const checks: CheckResult[] = [];
  try {
    try {
      await admin.connect();
      const cluster = await admin.describeCluster();
      checks.push({ name: 'kafka.brokers', ok: true, message: `${cluster.brokers.length} broker(s) answer at ${brokers.join(',')}`, detail: { brokers: cluster.brokers.length, controller: cluster.controller } });
    } catch (err) {
      checks.push(brokersFailure(err, brokers, security));
      checks.push({ name: 'kafka.topics', ok: false, skipped: true, message: 'skipped: the brokers do not answer' });
      return checks;
    }
    const topic = `_sluice_probe_${crypto.randomBytes(6).toString('hex')}`;
    try {
      await admin.createTopics({ waitForLeaders: true, topics: [{ topic, numPartitions: 1, replicationFactor: -1 }] });
      await admin.deleteTopics({ topics: [topic], timeout });
      checks.push({ name: 'kafka.topics', ok: true, message: `created and deleted the probe topic ${topic}` });
    } catch (err) {
      checks.push({
        name: 'kafka.topics',
        ok: false,
        message: `cannot create and delete a topic: ${message(err)}`,
        suggestion: 'Allow this client to create topics (ACL CREATE on the cluster, auto-creation is not used), or create the stream\'s topics <prefix>.<schema>.<table> beforehand.',
        detail: { topic },
      });
    }
    return checks;
  } finally {
    await admin.disconnect().catch(() => undefined);
  }
}
