/**
 * The connectors this build ships, registered in one place. The supervisor looks
 * kinds up in the registry and never imports a connector itself.
 */
import { createRegistry, type ConnectorRegistry } from './registry';
import type { ConnectorModule } from '../core';
import { postgresConnector } from '../../connectors/postgres';
import { mongodbConnector } from '../../connectors/mongodb';
import { mysqlConnector } from '../../connectors/mysql';
import { kafkaConnectionModule } from '../transport/kafka/module';

export const BUILTIN_CONNECTORS: ConnectorModule[] = [postgresConnector, mysqlConnector, mongodbConnector];

/**
 * Every module the daemon registers: the shipped connectors, and `kafka` (a connection
 * kind a stream's Kafka transport names: options, no source or sink). Their kinds are
 * the connection kinds; the API's schemas are built from the registry holding them.
 */
export const BUILTIN_MODULES: ConnectorModule[] = [...BUILTIN_CONNECTORS, kafkaConnectionModule];

/** Every kind a connection may have. */
export const CONNECTION_KINDS: readonly string[] = BUILTIN_MODULES.map((c) => c.kind);

export function builtinRegistry(): ConnectorRegistry {
  const registry = createRegistry();
  for (const c of BUILTIN_MODULES) registry.register(c);
  return registry;
}
