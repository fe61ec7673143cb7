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

export function builtinRegistry(): ConnectorRegistry {
  const registry = createRegistry();
  for (const c of BUILTIN_CONNECTORS) registry.register(c);
  return registry;
}
