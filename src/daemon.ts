/**
 * The daemon, sluice's composition root: the one module that knows every part and
 * wires them (store, metrics, connectors, transports, supervisor, API). It opens the
 * store, bootstraps the admin key, starts the supervisor and the API, and resumes the
 * streams that were running. `close()` is the graceful path
 * SIGTERM takes: stop taking API calls, bring every stream to a clean point
 * (only what is durable is acknowledged), close the store.
 */
import type { Logger } from 'pino';
import type { FastifyInstance } from 'fastify';
import { isLoopbackHost, kafkaBrokers, readApiTls, type SluiceConfig } from './config';
import { openStore, type Store } from './store';
import { bootstrapAdminKey } from './store/bootstrap';
import { storePersistence } from './store/persistence';
import { createMetrics } from './metrics';
import { buildApi } from './api/server';
import { reloadTlsOnChange } from './api/tls';
import { Supervisor, SUPERVISOR_EVENTS } from './runtime/supervisor';
import { builtinRegistry } from './runtime/builtin-connectors';
import { secretOptionsOf } from './runtime/run-options';
import { STREAM_STATES } from './runtime/lifecycle';
import { VERSION } from './version';
import { transportEnds } from './transport';
import type { KafkaSettings } from './transport/kafka/settings';
import { kafkaConnectionSettings } from './transport/kafka/options';
import type { StreamSpec } from './core';
import { brokerList } from './connection-url';

export interface Daemon {
  /** host:port the API listens on. */
  address: { host: string; port: number };
  store: Store;
  supervisor: Supervisor;
  /** Graceful stop; resolves true when every stream reached a clean point in time. */
  close(): Promise<boolean>;
}

/**
 * Brokers for a stream: its own kafka connection when the spec names one, else the
 * daemon's default (SLUICE_KAFKA_BROKERS); producer and topic settings from config,
 * overridden by what the kafka connection's options set.
 */
async function kafkaSettings(config: SluiceConfig, store: Store, stream: StreamSpec | undefined): Promise<KafkaSettings> {
  const connectionId = stream?.transport && 'connectionId' in stream.transport ? stream.transport.connectionId : undefined;
  const conn = connectionId ? await store.connections.resolve(connectionId) : undefined;
  const { brokers: _default, ...rest } = config.kafka;
  if (!conn) return { ...rest, brokers: kafkaBrokers(config) };
  return kafkaConnectionSettings({ ...rest, brokers: brokerList(conn.url) }, conn.options);
}

export async function startDaemon(config: SluiceConfig, logger: Logger): Promise<Daemon> {
  const connectors = builtinRegistry();
  // Secret options (declared x-secret by a connector) are stored encrypted, like passwords.
  const store = openStore({ dataDir: config.dataDir, secretKey: config.store.secretKey, secretFileDir: config.secrets.fileDir, secretOptions: (kind) => secretOptionsOf(connectors, kind) });
  if (store.urlScrub.scrubbed.length) {
    logger.warn({ connections: store.urlScrub.scrubbed }, 'connection URLs stored with a password in them (by an older version) were rewritten: the password is now kept encrypted apart from the URL');
  }
  if (store.urlScrub.unreadable.length) {
    logger.warn({ connections: store.urlScrub.unreadable }, 'connection URLs that cannot be parsed safely (they may hold a password): PATCH each with a valid URL (README, "Security")');
  }
  const abandoned = await store.runs.closeAbandoned();
  if (abandoned) logger.warn({ runs: abandoned }, 'closed runs left open by an unclean stop; their streams resume from the last durable position');
  await bootstrapAdminKey(store.apiKeys, config.dataDir, config.auth.adminKey, logger);

  const metrics = createMetrics();
  const supervisor = new Supervisor({
    registry: connectors,
    logger,
    persistence: storePersistence(store),
    defaultTransport: kafkaBrokers(config).length ? 'kafka' : 'direct',
    meter: (stream) => metrics.meter(stream),
    forget: (streamId) => void metrics.forget(streamId).catch((err: unknown) => logger.error({ err, streamId }, 'could not drop the metrics of a deleted stream')),
    transports: async (kind, stream) => transportEnds(kind, stream, { kafka: await kafkaSettings(config, store, stream) }),
  });
  supervisor.on(SUPERVISOR_EVENTS.STATE, (e: { streamId: string; state: string }) => {
    for (const s of STREAM_STATES) metrics.streamState.set({ stream: e.streamId, state: s }, s === e.state ? 1 : 0);
  });

  supervisor.on(SUPERVISOR_EVENTS.TICK, (e: { streamId: string; started: boolean }) => {
    metrics.scheduleTicks.inc({ stream: e.streamId, outcome: e.started ? 'started' : 'skipped' });
  });

  let shuttingDown = false;
  let api: FastifyInstance;
  let stopTlsReload = (): void => undefined;
  // Checked by loadConfig already; read again here, as the files are now.
  const https = readApiTls(config);
  try {
    api = await buildApi({ config, logger, store, supervisor, connectors, metrics: metrics.registry, isShuttingDown: () => shuttingDown }, { https });
    await api.listen({ host: config.api.host, port: config.api.port });
    if (https) stopTlsReload = reloadTlsOnChange(api, config.api.tls, logger);
  } catch (err) {
    await store.close();
    throw err;
  }
  const addr = api.server.address();
  const address = typeof addr === 'object' && addr ? { host: addr.address, port: addr.port } : { host: config.api.host, port: config.api.port };
  const scheme = https ? 'https' : 'http';
  const apiUrl = `${scheme}://${address.host.includes(':') ? `[${address.host}]` : address.host}:${address.port}`;
  if (!https && !isLoopbackHost(config.api.host)) logger.warn({ host: config.api.host }, 'the API speaks plain HTTP on a non-loopback address (api.insecure): keys and passwords cross the network in clear unless a proxy encrypts them');
  logger.info({ version: VERSION, api: apiUrl, tls: Boolean(https), dataDir: config.dataDir }, 'sluice started');

  await supervisor.resumeAll();
  // After the resumes: a tick that arrives now sees the streams that are running again.
  await supervisor.armSchedules(await store.streams.allIds());

  let closing: Promise<boolean> | undefined;
  const close = (): Promise<boolean> =>
    (closing ??= (async () => {
      shuttingDown = true;
      logger.info({ deadlineMs: config.shutdown.deadlineMs }, 'shutting down: draining streams');
      stopTlsReload();
      const apiClosed = api.close();
      const clean = await supervisor.shutdown({ deadlineMs: config.shutdown.deadlineMs });
      await apiClosed;
      await store.close();
      logger.info({ clean }, clean ? 'sluice stopped cleanly' : 'sluice stopped; some streams did not reach a clean point in time and resume from their last durable position');
      return clean;
    })());

  return { address, store, supervisor, close };
}
