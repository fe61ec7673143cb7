/**
 * The Prometheus registry: process metrics from prom-client, sluice_build_info, and
 * the stream catalogue (see catalogue.ts). Each metric is registered here once;
 * modules reach it through the returned object, streams through `meter()`.
 */
import { Counter, Gauge, Registry, collectDefaultMetrics } from 'prom-client';
import { VERSION } from '../version';
import { createCatalogue } from './catalogue';
import { StreamMeter } from './stream-meter';
import type { StreamSpec } from '../core';
import { isPattern } from '../transform/tables';

export { StreamMeter, NOOP_METER, type Meter } from './stream-meter';

export function createMetrics() {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry });
  // Gauges named like counters (promtool check metrics rejects them); the per-type
  // nodejs_active_{handles,requests,resources} gauges carry the same numbers.
  for (const name of ['nodejs_active_handles_total', 'nodejs_active_requests_total', 'nodejs_active_resources_total']) registry.removeSingleMetric(name);
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
  const scheduleTicks = new Counter({
    name: 'sluice_schedule_ticks_total',
    help: 'Ticks of SNAPSHOT streams\' cron schedules: outcome "started" (a run began) or "skipped" (a run was still active).',
    labelNames: ['stream', 'outcome'],
    registers: [registry],
  });
  const catalogue = createCatalogue(registry);
  return {
    registry,
    streamState,
    scheduleTicks,
    catalogue,
    /** The meter one run of `stream` records through; its series start at zero so rates exist. */
    meter(stream: Pick<StreamSpec, 'id' | 'tables'>): StreamMeter {
      // Table patterns are resolved per run; only plain names get their series up front.
      return new StreamMeter(catalogue, stream.id, stream.tables.filter((t) => !isPattern(t)));
    },
    /**
     * Drops every series of a deleted stream, so that a stream gone for good neither
     * lingers on dashboards nor keeps an alert (SluiceStreamFailed) firing.
     */
    async forget(streamId: string): Promise<void> {
      for (const metric of [streamState, scheduleTicks, ...Object.values(catalogue)]) {
        const seen = new Set<string>();
        for (const v of (await metric.get()).values) {
          if (v.labels.stream !== streamId) continue;
          // Histogram samples carry `le`; the series is keyed by the other labels.
          const { le: _le, ...labels } = v.labels as Record<string, string | number>;
          const key = JSON.stringify(labels);
          if (seen.has(key)) continue;
          seen.add(key);
          (metric as unknown as { remove(labels: Record<string, string | number>): void }).remove(labels);
        }
      }
    },
  };
}

export type Metrics = ReturnType<typeof createMetrics>;
