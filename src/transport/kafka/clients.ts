/**
 * The kafkajs clients of one end of the Kafka transport, and how they are closed. Each
 * end (the carrier on the source side, the consumer group on the sink side) opens its
 * own `Kafka` with its own sockets (sockets.ts), so either can run, and be closed, on
 * its own.
 *
 * Closing waits at most CLOSE_WAIT_MS for each client; one still busy (a consumer in
 * the middle of a group join or rebalance only disconnects once that round ends, up to
 * the session timeout and more) finishes disconnecting in the background, having
 * fetched and written nothing more, and is cut off ABANDON_AFTER_MS later: no
 * connection of a closed end outlives its close() by more than that.
 */
// First: kafkajs's record batches take the native CRC-32C (crc32c.ts).
import './crc32c';
import { Kafka, logLevel } from 'kafkajs';
import type { ConnectorContext, StreamSpec } from '../../core';
import { KafkaSockets } from './sockets';
import { kafkaSecurity, kafkaSetupError, type KafkaSecurity } from './security';
import type { KafkaSettings } from './settings';

/**
 * How long close() waits for each client to disconnect. A consumer in the middle of a
 * group join or rebalance only disconnects once that round ends (up to the session
 * timeout and more); it is stopped already (it fetches and writes nothing more) and
 * leaves the group in the background.
 */
export const CLOSE_WAIT_MS = 2000;
/**
 * How long after close() returned a client it gave up on may go on disconnecting in the
 * background (a consumer that leaves its group cleanly lets the next run join at once).
 * Then every socket the end still holds is destroyed and it opens no new one: no
 * connection of a closed transport outlives its close() by more than this, and close()
 * itself returns within 3 x CLOSE_WAIT_MS.
 */
export const ABANDON_AFTER_MS = 5000;

/** The brokers of the settings as kafkajs wants them. */
export function brokerList(k: KafkaSettings): string[] {
  return (Array.isArray(k.brokers) ? k.brokers : k.brokers.split(',')).map((b) => b.trim()).filter(Boolean);
}

export class KafkaClients {
  readonly kafka: Kafka;
  readonly brokers: string[];
  readonly #sockets = new KafkaSockets();
  readonly #log: ConnectorContext['logger'];
  readonly #security: KafkaSecurity;

  constructor(settings: KafkaSettings, stream: Pick<StreamSpec, 'id'>, logger: ConnectorContext['logger']) {
    this.brokers = brokerList(settings);
    this.#log = logger;
    this.#security = { ...(settings.tls ? { tls: settings.tls } : {}), ...(settings.sasl ? { sasl: settings.sasl } : {}) };
    this.kafka = new Kafka({
      clientId: `${settings.clientId ?? 'sluice'}-${stream.id}`,
      brokers: this.brokers,
      ...kafkaSecurity(settings),
      socketFactory: this.#sockets.factory,
      logLevel: logLevel.WARN,
      logCreator: () => ({ level, log: entry }) => {
        // Clients cut off after close() complain about their destroyed sockets: expected.
        if (this.#sockets.cut) return;
        const { message, ...rest } = entry;
        if (level <= logLevel.ERROR) logger.error(rest, message);
        else logger.warn(rest, message);
      },
      retry: { retries: 5, initialRetryTime: 300, maxRetryTime: 5000 },
    });
  }

  /** The error to throw when the clients cannot be set up: TLS, SASL or unreachable brokers, each with its code. */
  setupError(err: unknown): Error {
    return kafkaSetupError(err, this.brokers, this.#security);
  }

  /**
   * Disconnects the clients in order, waiting at most CLOSE_WAIT_MS for each; one still
   * busy finishes in the background until ABANDON_AFTER_MS, when every socket is cut.
   * Throws the first error a disconnect threw.
   */
  async close(parts: Array<[string, () => Promise<void> | undefined]>): Promise<void> {
    const errors: unknown[] = [];
    for (const [name, stop] of parts) {
      let timer: NodeJS.Timeout | undefined;
      try {
        const done = stop();
        if (!done) continue;
        const late = await Promise.race([done.then(() => false), new Promise<boolean>((r) => (timer = setTimeout(() => r(true), CLOSE_WAIT_MS)))]);
        if (late) {
          done.catch(() => undefined);
          this.#log.info({ client: name, waitedMs: CLOSE_WAIT_MS }, 'kafka client still disconnecting; it finishes in the background');
        }
      } catch (err) {
        errors.push(err);
      } finally {
        clearTimeout(timer);
      }
    }
    this.#abandon();
    if (errors.length) throw errors[0];
  }

  /** Cuts off what close() left disconnecting in the background, after ABANDON_AFTER_MS. */
  #abandon(): void {
    if (this.#sockets.open === 0) {
      this.#sockets.destroyAll();
      return;
    }
    // Unref'd: sockets that kafkajs closed do not hold the process; ones still in use do, until this fires.
    setTimeout(() => {
      const n = this.#sockets.destroyAll();
      if (n) this.#log.info({ sockets: n, afterMs: ABANDON_AFTER_MS }, 'kafka clients were still disconnecting; destroyed their connections');
    }, ABANDON_AFTER_MS).unref();
  }
}
