/**
 * What a supervisor test starts from: the in-memory connectors registered, a memory
 * store with a source connection `src` and a sink connection `dst`, and the test's
 * streams stored. A second supervisor (a restarted daemon) passes the first's `shared`.
 */
import type { ConnectionSpec, StreamSpec } from '../../core';
import { createMemoryPersistence, type MemoryPersistence } from '../persistence';
import { createRegistry, type ConnectorRegistry } from '../registry';
import { createMemoryConnectors, type MemoryConnectors } from './memory-connectors';

export const memoryConnection = (id: string, kind: string): ConnectionSpec => ({ id, name: id, kind, url: `memory://${id}`, options: {} });

export function memoryWorld(streams: StreamSpec[], shared?: { mem: MemoryConnectors; store: MemoryPersistence }): { mem: MemoryConnectors; registry: ConnectorRegistry; store: MemoryPersistence } {
  const mem = shared?.mem ?? createMemoryConnectors();
  const registry = createRegistry();
  registry.register(mem.sourceModule);
  registry.register(mem.sinkModule);
  const store = shared?.store ?? createMemoryPersistence({ connections: [memoryConnection('src', 'memory-source'), memoryConnection('dst', 'memory-sink')] });
  for (const s of streams) store.putStream(s);
  return { mem, registry, store };
}
