/**
 * `npm run bench -- scrape [streams] [tables]`: how long one /metrics scrape takes when
 * the daemon carries 50 streams × 100 tables of label series (every per-stream and
 * per-table metric populated, histograms included).
 *
 * Baseline, in the same run: a bare prom-client registry holding the same number of
 * series as plain counters and gauges — the floor prom-client itself costs for that
 * cardinality — so the ratio is what sluice's catalogue adds. The cost of the process
 * metrics alone is reported too. Serialisation happens on the event loop, so a scrape
 * is also time the data path waits.
 */
import { Counter, Gauge, Registry, collectDefaultMetrics } from 'prom-client';
import { createMetrics } from '../src/metrics';
import { RUN_EVENTS, type ChangeEvent } from '../src/core';
import { percentile, writeReport, type Row } from './report';

const STREAMS = Number(process.argv[2] ?? 50);
const TABLES = Number(process.argv[3] ?? 100);
const SCRAPES = 60;
const WARMUP = 10;

function event(schema: string, table: string, op: ChangeEvent['op']): ChangeEvent {
  return { table: { schema, table }, op, key: { id: 1 }, before: null, after: { id: 1 }, source: { connector: 'bench', name: 'b', db: 'db', schema, table, ts_ms: Date.now() - 50, snapshot: op === 'r' }, ts_ms: Date.now() };
}

async function timeScrapes(registry: Registry): Promise<{ p50: number; p95: number; bytes: number; series: number }> {
  const times: number[] = [];
  let text = '';
  for (let i = 0; i < WARMUP + SCRAPES; i++) {
    const t0 = process.hrtime.bigint();
    text = await registry.metrics();
    const ms = Number(process.hrtime.bigint() - t0) / 1e6;
    if (i >= WARMUP) times.push(ms);
  }
  times.sort((a, b) => a - b);
  const series = text.split('\n').filter((l) => l !== '' && !l.startsWith('#')).length;
  return { p50: percentile(times, 50), p95: percentile(times, 95), bytes: Buffer.byteLength(text), series };
}

async function sluiceRegistry(): Promise<Registry> {
  const m = createMetrics();
  const ctx = { streamId: 'x', runId: 'r', logger: undefined as never, signal: new AbortController().signal };
  for (let s = 0; s < STREAMS; s++) {
    const tables = Array.from({ length: TABLES }, (_, t) => `public.table_${t}`);
    const meter = m.meter({ id: `stream-${s}`, tables });
    for (const st of ['CREATED', 'STARTING', 'SNAPSHOTTING', 'STREAMING', 'PAUSED', 'STOPPING', 'STOPPED', 'COMPLETED', 'FAILED']) {
      m.streamState.set({ stream: `stream-${s}`, state: st }, st === 'STREAMING' ? 1 : 0);
    }
    const snapshot = tables.map((t) => event('public', t.slice(7), 'r'));
    const changes = tables.map((t) => event('public', t.slice(7), 'u'));
    meter.read({ events: snapshot, position: null });
    for (const e of snapshot) meter.delivered({ events: [e], position: null, snapshot: { table: e.table, rowsDone: 1, rowsTotal: 2, tableDone: false } }, 'snapshot');
    meter.read({ events: changes, position: null });
    meter.delivered({ events: changes, position: null }, 'cdc');
    const sink = meter.sink({ write: async () => undefined, close: async () => undefined });
    await sink.write({ events: [...snapshot, ...changes], position: null }, ctx);
    meter.lag({ bytes: 1024, retainedBytes: 4096 }, 10);
    meter.count(RUN_EVENTS.FILTERED, 1, { schema: 'public', table: 'table_0' });
  }
  return m.registry;
}

/** The same number of series, as plain metrics with the same label names and values. */
function baselineRegistry(series: number): Registry {
  const registry = new Registry();
  const c = new Counter({ name: 'baseline_events_total', help: 'baseline', labelNames: ['stream', 'table'], registers: [registry] });
  const g = new Gauge({ name: 'baseline_level', help: 'baseline', labelNames: ['stream', 'table'], registers: [registry] });
  for (let i = 0; i < series; i++) {
    const labels = { stream: `stream-${i % STREAMS}`, table: `public.table_${Math.floor(i / STREAMS)}` };
    if (i % 2) c.inc(labels, i);
    else g.set(labels, i);
  }
  return registry;
}

async function main(): Promise<void> {
  const sluice = await timeScrapes(await sluiceRegistry());
  const baseline = await timeScrapes(baselineRegistry(sluice.series));
  const processOnly = new Registry();
  collectDefaultMetrics({ register: processOnly });
  const defaults = await timeScrapes(processOnly);
  const ratio = (a: number, b: number) => (b > 0 ? a / b : null);
  const rows: Row[] = [
    { measure: 'scrape p50', sluice: sluice.p50, baseline: baseline.p50, unit: 'ms', ratio: ratio(sluice.p50, baseline.p50), note: 'registry.metrics(), same number of series' },
    { measure: 'scrape p95', sluice: sluice.p95, baseline: baseline.p95, unit: 'ms', ratio: ratio(sluice.p95, baseline.p95), target: '< 250 ms', met: sluice.p95 < 250 },
    { measure: 'series', sluice: sluice.series, baseline: baseline.series, unit: 'samples', note: `${STREAMS} streams × ${TABLES} tables` },
    { measure: 'exposition size', sluice: sluice.bytes / 1024, baseline: baseline.bytes / 1024, unit: 'KiB' },
    { measure: 'scrape p50, process metrics only', sluice: null, baseline: defaults.p50, unit: 'ms', note: `${defaults.series} samples` },
  ];
  const out = writeReport('scrape', { streams: STREAMS, tables: TABLES, scrapes: SCRAPES, warmup: WARMUP }, rows);
  console.log(JSON.stringify({ sluice, baseline, processOnly: defaults }, null, 2));
  console.log(`wrote ${out.json} and ${out.md}`);
}

main().catch((err) => {
  console.error(err);
  process.exitCode = 1;
});
