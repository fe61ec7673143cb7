/**
 * The Prometheus registry: process metrics from prom-client, sluice_build_info,
 * and the stream gauges fed by the supervisor's lifecycle events. Each metric is
 * registered here once; modules get it from the returned object.
 */
import { Gauge, Registry, collectDefaultMetrics } from 'prom-client';
import { VERSION } from '../version';

export function createMetrics() {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry });
  const buildInfo = new Gauge({
    name: 'sluice_build_info',
    help: 'Always 1; labels carry the sluice and Node.js versions.',
    labelNames: ['version', 'node_version'],
    registers: [registry],
  });
  buildInfo.set({ version: VERSION, node_version: process.version }, 1);
  const streamState = new Gauge({
    name: 'sluice_stream_state',
    help: '1 for the lifecycle state each stream is in, 0 for the others.',
    labelNames: ['stream', 'state'],
    registers: [registry],
  });
  return { registry, streamState };
}

export type Metrics = ReturnType<typeof createMetrics>;
