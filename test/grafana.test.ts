import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { createMetrics } from '../src/metrics';

const dashboards = path.resolve(__dirname, '../../grafana/dashboards');

/** Metric names a PromQL expression reads: identifiers that are not functions, keywords or labels. */
function metricsOf(expr: string): string[] {
  const withoutLabels = expr.replace(/\{[^}]*\}/g, '').replace(/\b(by|without)\s*\([^)]*\)/g, '');
  return [...withoutLabels.matchAll(/\b([a-z_][a-z0-9_]*)\b(?!\s*\()/g)]
    .map((m) => m[1] as string)
    .filter((n) => n.includes('_') && !/^\d/.test(n));
}

test('every metric a Grafana dashboard queries is exported by the daemon', async () => {
  const files = fs.readdirSync(dashboards).filter((f) => f.endsWith('.json'));
  assert.ok(files.length > 0);
  const exposition = await createMetrics().registry.metrics();
  const exported = new Set([...exposition.matchAll(/^# TYPE (\S+) (\S+)/gm)].flatMap((m) => {
    const name = m[1] as string;
    return m[2] === 'histogram' ? [name, `${name}_bucket`, `${name}_sum`, `${name}_count`] : [name];
  }));
  for (const f of files) {
    const dash = JSON.parse(fs.readFileSync(path.join(dashboards, f), 'utf8')) as { panels: Array<{ title: string; targets?: Array<{ expr: string }> }> };
    for (const panel of dash.panels) {
      for (const t of panel.targets ?? []) {
        const names = metricsOf(t.expr);
        assert.ok(names.length > 0, `${f} / ${panel.title}: no metric in ${t.expr}`);
        for (const n of names) assert.ok(exported.has(n), `${f} / ${panel.title}: ${n} is not exported`);
      }
    }
  }
});
