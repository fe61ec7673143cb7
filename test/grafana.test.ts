import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import YAML from 'yaml';
import { createMetrics } from '../src/metrics';
import { loadDashboards, metricsOf, panelQueries } from './helpers/promql';

const grafana = path.resolve(__dirname, '../../grafana');

test('metricsOf reads metric names, not functions, labels, ranges or variables', () => {
  assert.deepEqual(
    metricsOf('histogram_quantile(0.95, sum by (le, phase) (rate(sluice_batch_size_events_bucket{job=~"$job", stream="$stream"}[$__rate_interval])))'),
    ['sluice_batch_size_events_bucket'],
  );
  assert.deepEqual(metricsOf('sum by (stream) (rate(a_total[5m])) / on (stream) b_bytes > 5 * 1024'), ['a_total', 'b_bytes']);
});

test('every metric a Grafana dashboard queries is registered by the daemon (the running daemon is checked in test/observability)', async () => {
  const exposition = await createMetrics().registry.metrics();
  const exported = new Set([...exposition.matchAll(/^# TYPE (\S+) (\S+)/gm)].flatMap((m) => {
    const name = m[1] as string;
    return m[2] === 'histogram' ? [name, `${name}_bucket`, `${name}_sum`, `${name}_count`] : [name];
  }));
  const queries = panelQueries();
  assert.ok(queries.length > 0);
  for (const q of queries) {
    const names = metricsOf(q.expr);
    assert.ok(names.length > 0, `${q.dashboard} / ${q.panel}: no metric in ${q.expr}`);
    for (const n of names) assert.ok(exported.has(n), `${q.dashboard} / ${q.panel}: ${n} is not exported`);
  }
});

test('the fleet overview and the stream detail dashboards exist, with unique uids and the $job/$stream variables they use', () => {
  const dashboards = loadDashboards();
  const uids = dashboards.map((d) => d.dashboard.uid);
  assert.equal(new Set(uids).size, uids.length, `duplicate uids: ${uids}`);
  for (const uid of ['sluice-fleet', 'sluice-stream']) assert.ok(uids.includes(uid), `no dashboard ${uid}`);
  for (const { file, dashboard } of dashboards) {
    const text = JSON.stringify(dashboard.panels);
    const vars = ((dashboard as { templating?: { list?: Array<{ name: string }> } }).templating?.list ?? []).map((v) => v.name);
    for (const v of ['job', 'stream']) if (text.includes(`$${v}`)) assert.ok(vars.includes(v), `${file} uses $${v} without defining it`);
  }
});

test('provisioning: the datasource uid the dashboards use exists, and the provider loads the directory compose mounts', () => {
  const ds = YAML.parse(fs.readFileSync(path.join(grafana, 'provisioning/datasources/prometheus.yaml'), 'utf8'));
  const uids = new Set(ds.datasources.map((d: { uid: string }) => d.uid));
  for (const { file, dashboard } of loadDashboards()) {
    for (const p of dashboard.panels ?? []) {
      const uid = (p as { datasource?: { uid?: string } }).datasource?.uid;
      assert.ok(uid && uids.has(uid), `${file} / ${p.title}: datasource ${uid} is not provisioned`);
    }
  }
  const provider = YAML.parse(fs.readFileSync(path.join(grafana, 'provisioning/dashboards/sluice.yaml'), 'utf8'));
  const compose = YAML.parse(fs.readFileSync(path.resolve(grafana, '../docker-compose.yml'), 'utf8'));
  const mounts: string[] = compose.services.grafana.volumes;
  assert.ok(mounts.some((m) => m.startsWith('./grafana/dashboards:') && m.split(':')[1] === provider.providers[0].options.path), `grafana mounts ${mounts}`);
});
