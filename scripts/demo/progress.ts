/**
 * The demo's live progress line, from what any operator can read: the stream's view
 * (GET /api/v1/streams/{id}) and /metrics. Snapshot progress per table while the
 * snapshot runs; events per second, source lag and counts once it streams.
 */

/** The value of `name{stream="…"[,table="…"]}` samples in Prometheus text, by table ('' without one). */
export function samples(metrics: string, name: string, stream: string): Map<string, number> {
  const out = new Map<string, number>();
  for (const line of metrics.split('\n')) {
    if (!line.startsWith(`${name}{`)) continue;
    const m = /^[^{]+\{([^}]*)\}\s+(\S+)/.exec(line);
    if (!m) continue;
    const labels = new Map([...(m[1] as string).matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)].map((x) => [x[1] as string, x[2] as string]));
    if (labels.get('stream') !== stream) continue;
    out.set(labels.get('table') ?? '', Number(m[2]));
  }
  return out;
}

export interface Snapshot {
  at: number;
  state: string;
  eventsWritten: number;
  snapshotRows: number;
  /** Table → share of its snapshot done (0..1). */
  progress: Map<string, number>;
  /** Seconds since the last change delivered was committed (0 after a heartbeat); NaN: unknown. */
  lagSeconds: number;
}

export function snapshotOf(at: number, view: { state?: string; statistics?: Record<string, number> }, metrics: string, stream: string): Snapshot {
  const lag = samples(metrics, 'sluice_source_lag_seconds', stream).get('');
  return {
    at,
    state: view.state ?? '?',
    eventsWritten: view.statistics?.eventsWritten ?? 0,
    snapshotRows: view.statistics?.snapshotRows ?? 0,
    progress: samples(metrics, 'sluice_snapshot_progress_ratio', stream),
    lagSeconds: lag ?? Number.NaN,
  };
}

const n = (x: number): string => Math.round(x).toLocaleString('en-US');
const short = (table: string): string => table.replace(/^shop\./, '');

export interface LineContext {
  /** The tables of the stream, shown even before their snapshot reports progress. */
  tables: readonly string[];
  /** Rows the snapshot will read (what the demo seeded), for the overall share. */
  snapshotTotal: number;
  /** Transactions the write generator committed. */
  writes: number;
  remainingSeconds?: number;
}

/**
 * One line: the snapshot's progress (rows of the total, and each table's share from
 * sluice_snapshot_progress_ratio), or, streaming, events/s over the polls in `recent`
 * (oldest first: writes land in batches, so one second says little), lag and counts.
 */
export function progressLine(now: Snapshot, recent: readonly Snapshot[], ctx: LineContext): string {
  if (now.state === 'SNAPSHOTTING' || now.state === 'STARTING') {
    const share = ctx.snapshotTotal > 0 ? Math.min(1, now.snapshotRows / ctx.snapshotTotal) : 0;
    const tables = ctx.tables.map((t) => `${short(t)} ${Math.floor((now.progress.get(t) ?? 0) * 100)}%`).join('  ');
    return `snapshot ${Math.floor(share * 100)}%  ${n(now.snapshotRows)} of ${n(ctx.snapshotTotal)} rows  (${tables})`;
  }
  if (now.state !== 'STREAMING') return `stream ${now.state.toLowerCase()}  (${n(now.eventsWritten)} events written)`;
  const first = recent[0];
  const seconds = first ? (now.at - first.at) / 1000 : 0;
  const rate = first && seconds > 0 ? Math.max(0, now.eventsWritten - first.eventsWritten) / seconds : 0;
  const lag = Number.isNaN(now.lagSeconds) ? '-' : `${now.lagSeconds.toFixed(1)} s`;
  const left = ctx.remainingSeconds === undefined ? '' : ctx.remainingSeconds > 0 ? `  writing for ${Math.ceil(ctx.remainingSeconds)} s more` : '  writes done';
  return `streaming  ${n(rate)} events/s  lag ${lag}  ${n(now.eventsWritten)} events written  ${n(ctx.writes)} transactions${left}`;
}
