/**
 * The Grafana dashboards as the tests see them: every panel query, the metric names
 * its PromQL reads, and the query with the dashboard variables filled in.
 */
import fs from 'node:fs';
import path from 'node:path';

/** grafana/dashboards, from dist/test/helpers. */
export const DASHBOARDS_DIR = path.resolve(__dirname, '../../../grafana/dashboards');

export interface PanelQuery {
  dashboard: string;
  panel: string;
  refId: string;
  expr: string;
}

interface Dashboard {
  uid?: string;
  title?: string;
  panels?: Array<{ title: string; targets?: Array<{ refId?: string; expr?: string }>; panels?: unknown[] }>;
}

/** Every dashboard file, parsed (a file that is not JSON throws, naming it). */
export function loadDashboards(dir = DASHBOARDS_DIR): Array<{ file: string; dashboard: Dashboard }> {
  return fs
    .readdirSync(dir)
    .filter((f) => f.endsWith('.json'))
    .sort()
    .map((file) => {
      try {
        return { file, dashboard: JSON.parse(fs.readFileSync(path.join(dir, file), 'utf8')) as Dashboard };
      } catch (err) {
        throw new Error(`${file} is not valid JSON: ${(err as Error).message}`);
      }
    });
}

export function panelQueries(dir = DASHBOARDS_DIR): PanelQuery[] {
  return loadDashboards(dir).flatMap(({ file, dashboard }) =>
    (dashboard.panels ?? []).flatMap((p) =>
      (p.targets ?? []).map((t) => {
        if (typeof t.expr !== 'string' || t.expr.trim() === '') throw new Error(`${file} / ${p.title}: a target without a PromQL expr`);
        return { dashboard: file, panel: p.title, refId: t.refId ?? '?', expr: t.expr };
      }),
    ),
  );
}

const NOT_METRICS = new Set(['by', 'without', 'on', 'ignoring', 'group_left', 'group_right', 'bool', 'and', 'or', 'unless', 'offset', 'inf', 'nan']);

/** Metric names a PromQL expression reads: identifiers that are not functions, keywords, labels, strings, ranges or variables. */
export function metricsOf(expr: string): string[] {
  const bare = expr
    .replace(/"(?:[^"\\]|\\.)*"/g, '""')
    .replace(/\{[^}]*\}/g, '')
    .replace(/\[[^\]]*\]/g, '')
    .replace(/\$\w+/g, '')
    .replace(/\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)/g, '');
  const names = [...bare.matchAll(/(?<![\w.])([a-zA-Z_:][a-zA-Z0-9_:]*)\b(?!\s*\()/g)].map((m) => m[1] as string);
  return [...new Set(names.filter((n) => !NOT_METRICS.has(n.toLowerCase()) && !/^\d/.test(n)))];
}

/** Fills in the dashboards' variables the way Grafana would for one job and one stream. */
export function expand(expr: string, vars: { job: string; stream: string; rateInterval?: string }): string {
  return expr
    .replace(/\$__rate_interval/g, vars.rateInterval ?? '30s')
    .replace(/\$__range/g, '5m')
    .replace(/\$job\b/g, vars.job)
    .replace(/\$stream\b/g, vars.stream);
}

/** Names of the metrics that have at least one sample in a text exposition. */
export function sampledMetrics(exposition: string): Set<string> {
  const names = new Set<string>();
  for (const line of exposition.split('\n')) {
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{|\s)/.exec(line);
    if (m) names.add(m[1] as string);
  }
  return names;
}
