/**
 * What every route is handed: the daemon's parts the API may use. Its own module so
 * that the routes and the server that registers them both import it, not each other.
 */
import type { Logger } from 'pino';
import type { Registry } from 'prom-client';
import type { SluiceConfig } from '../config';
import type { Store } from '../store';
import type { Supervisor } from '../runtime/supervisor';
import type { ConnectorRegistry } from '../runtime/registry';

export interface ApiDeps {
  config: SluiceConfig;
  logger: Logger;
  store: Store;
  supervisor: Supervisor;
  /** Connector lookups (connection tests) go through the runtime's registry. */
  connectors: ConnectorRegistry;
  metrics: Registry;
  /** True once the daemon is draining: new API calls get 503. */
  isShuttingDown: () => boolean;
}
