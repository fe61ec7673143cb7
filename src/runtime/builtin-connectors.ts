/**
 * The connectors this build ships, registered in one place. The supervisor looks
 * kinds up in the registry and never imports a connector itself.
 */
import { createRegistry, type ConnectorRegistry } from './registry';
import type { ConnectorModule } from '../core';
import { postgresConnector } from '../../connectors/postgres';
import { mongodbConnector } from '../../connectors/mongodb';
import { mysqlConnector } from '../../connectors/mysql';

export const BUILTIN_CONNECTORS: ConnectorModule[] = [postgresConnector, mysqlConnector, mongodbConnector];

/**
 * Every kind a connection may have, the one list the API's schemas use: the shipped
 * connectors' kinds, and `kafka` (a broker list a stream's Kafka transport can name).
 */
export const CONNECTION_KINDS: readonly string[] = [...BUILTIN_CONNECTORS.map((c) => c.kind), 'kafka'];

export function builtinRegistry(): ConnectorRegistry {
  const registry = createRegistry();
  for (const c of BUILTIN_CONNECTORS) registry.register(c);
  return registry;
}
