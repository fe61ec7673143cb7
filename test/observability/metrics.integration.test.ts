/**
 * What operators see, checked against a real, streaming daemon: its /metrics passes
 * `promtool check metrics` and exports every metric the dashboards query; the test
 * stack's Prometheus scrapes it (through a file_sd target file this test writes) and
 * every panel query of every dashboard returns data; the alert rules pass promtool.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { spawnSync } from 'node:child_process';
import { cdcRunning, start, uid, waitConverged, withStream } from '../helpers/pipeline';
import type { Client } from 'pg';
import { prometheusStack } from '../helpers/stack';
import { expand, metricsOf, panelQueries, sampledMetrics } from '../helpers/promql';
import { waitFor } from '../helpers/wait-for';

const RULES_DIR = path.resolve(__dirname, '../../../prometheus');

function promtool(args: string[], input?: string): { status: number | null; out: string } {
  const r = spawnSync(prometheusStack().promtool, args, { input, encoding: 'utf8' });
  if (r.error) throw r.error;
  return { status: r.status, out: `${r.stdout}${r.stderr}` };
}

/**
 * About 40 changes a second until stopped: enough for every rate() to move, and little
 * enough that the sink stays close behind (this test is about what is measured, not speed).
 */
function writeSteadily(pg: Client, table: string): { stop: () => Promise<void> } {
  let running = true;
  let id = 1_000_000;
  const loop = (async () => {
    while (running) {
      await pg.query(`INSERT INTO ${table} VALUES ($1, 1, 'steady', 1.00, date_trunc('milliseconds', now()))`, [id]);
      await pg.query(`UPDATE ${table} SET n = n + 1 WHERE id = $1`, [(id % 2000) + 1]);
      if (id % 5 === 0) await pg.query(`DELETE FROM ${table} WHERE id = $1`, [id - 1]);
      id++;
      await new Promise((r) => setTimeout(r, 50));
    }
  })();
  return { stop: async () => { running = false; await loop; } };
}

async function scrape(base: string): Promise<string> {
  const r = await fetch(`${base}/metrics`);
  assert.equal(r.status, 200);
  return r.text();
}

/** One sample's value: `name{labels…}` where every given label matches. */
function sample(exposition: string, name: string, labels: Record<string, string>): number | undefined {
  for (const line of exposition.split('\n')) {
    if (!line.startsWith(`${name}{`) && !line.startsWith(`${name} `)) continue;
    if (Object.entries(labels).every(([k, v]) => line.includes(`${k}="${v}"`))) return Number(line.slice(line.lastIndexOf(' ') + 1));
  }
  return undefined;
}

async function instantQuery(url: string, query: string): Promise<Array<{ metric: Record<string, string>; value: [number, string] }>> {
  const r = await fetch(`${url}/api/v1/query?query=${encodeURIComponent(query)}`);
  const body = (await r.json()) as { status: string; error?: string; data?: { resultType: string; result: any[] } };
  if (body.status !== 'success') throw new Error(`Prometheus refused ${query}: ${body.error}`);
  return body.data!.result;
}

test('a streaming daemon exports the whole catalogue, promtool-clean, and Prometheus answers every panel of every dashboard', async (t) => {
  const prom = prometheusStack();
  const queries = panelQueries();
  assert.ok(queries.length >= 20, `only ${queries.length} panel queries found`);
  // Kafka transport, a snapshot and then changes: the path that exercises every metric.
  // Chunks of 200 rows: a 5000-row chunk of Debezium JSON exceeds Kafka's default max.message.bytes (see the report on issue 8).
  await withStream({ transport: 'kafka', rows: 2000, options: { snapshotChunkSize: 200 } }, async ({ d, streamId, table, collection, pg, db }) => {
    await start(d, streamId);
    await cdcRunning(d, streamId);
    const writer = writeSteadily(pg, table);
    const job = `sluice-test-${uid()}`;
    const target = path.join(prom.targetsDir, `${job}.json`);
    try {
      // Changes must have reached MongoDB (end-to-end latency) and the lag probes must have answered.
      const awaited = ['sluice_end_to_end_latency_seconds_count', 'sluice_kafka_consumer_lag_messages', 'sluice_source_slot_retained_wal_bytes'];
      let seen: Record<string, number | undefined> = {};
      await waitFor(
        async () => {
          const m = await scrape(d.base);
          seen = Object.fromEntries(awaited.map((n) => [n, sample(m, n, { stream: streamId })]));
          return Object.values(seen).every((v) => v !== undefined) && (seen.sluice_end_to_end_latency_seconds_count ?? 0) > 0;
        },
        { timeoutMs: 60000, intervalMs: 250, message: 'CDC changes written and lag probes answered' },
      ).catch((err: Error) => {
        throw new Error(`${err.message}: ${JSON.stringify(seen)}`);
      });
      const exposition = await scrape(d.base);

      await t.test('promtool check metrics finds nothing to complain about', () => {
        const r = promtool(['check', 'metrics'], exposition);
        assert.equal(r.status, 0, r.out);
        assert.equal(r.out.trim(), '', r.out);
      });

      await t.test('every metric a dashboard queries has samples on the running daemon', () => {
        const sampled = sampledMetrics(exposition);
        const missing = queries.flatMap((q) => metricsOf(q.expr).filter((n) => !sampled.has(n)).map((n) => `${q.dashboard} / ${q.panel}: ${n}`));
        assert.deepEqual(missing, []);
      });

      await t.test('the numbers are the stream\'s own: snapshot rows, progress, writes per table', async () => {
        const tableLabel = table; // public.<name>
        assert.equal(sample(exposition, 'sluice_snapshot_rows_total', { stream: streamId, table: tableLabel }), 2000);
        assert.equal(sample(exposition, 'sluice_snapshot_progress_ratio', { stream: streamId, table: tableLabel }), 1);
        const read = sample(exposition, 'sluice_events_read_total', { stream: streamId, table: tableLabel })!;
        assert.ok(read > 2000, `read ${read}`);
        // Kafka partitions are written independently: changes on one may land before snapshot rows on another.
        let written = 0;
        await waitFor(async () => (written = sample(await scrape(d.base), 'sluice_events_written_total', { stream: streamId, table: tableLabel }) ?? 0) > 2000, {
          timeoutMs: 60000,
          message: `more than the 2000 snapshot rows written (last ${written})`,
        });
        assert.equal(sample(exposition, 'sluice_stream_state', { stream: streamId, state: 'STREAMING' }), 1);
        assert.equal(sample(exposition, 'sluice_events_failed_total', { stream: streamId }), 0);
        assert.ok((sample(exposition, 'sluice_source_slot_retained_wal_bytes', { stream: streamId }) ?? 0) > 0);
      });

      await t.test('Prometheus scrapes the daemon and every panel query returns data', async () => {
        const { hostname: host, port } = new URL(d.base);
        fs.mkdirSync(prom.targetsDir, { recursive: true });
        // Written whole then renamed: Prometheus must never read half a file.
        fs.writeFileSync(`${target}.tmp`, JSON.stringify([{ targets: [`${host}:${port}`], labels: { job } }]));
        fs.renameSync(`${target}.tmp`, target);
        await waitFor(async () => (await instantQuery(prom.url, `up{job="${job}"} == 1`)).length === 1, {
          timeoutMs: 30000,
          intervalMs: 250,
          message: `Prometheus scraping ${d.base} as job ${job}`,
        }).catch(async (err: Error) => {
          const targets = (await (await fetch(`${prom.url}/api/v1/targets`)).json()) as { data: { activeTargets: Array<{ labels: Record<string, string>; health: string; lastError: string }> } };
          throw new Error(`${err.message}; targets: ${JSON.stringify(targets.data.activeTargets.filter((x) => x.labels.job === job))}`);
        });
        const pending = new Map(queries.map((q) => [`${q.dashboard} / ${q.panel} / ${q.refId}`, expand(q.expr, { job, stream: streamId })]));
        try {
          await waitFor(
            async () => {
              for (const [name, query] of pending) if ((await instantQuery(prom.url, query)).length > 0) pending.delete(name);
              return pending.size === 0;
            },
            { timeoutMs: 60000, intervalMs: 1000, message: 'every panel query non-empty' },
          );
        } catch (err) {
          throw new Error(`${(err as Error).message}; still empty: ${[...pending].map(([n, q]) => `${n}: ${q}`).join('; ')}`);
        }
        // The answers are about this daemon's stream, not some other target's.
        const written = await instantQuery(prom.url, `sum by (stream) (sluice_events_written_total{job="${job}"})`);
        assert.deepEqual(written.map((r) => r.metric.stream), [streamId]);
      });
    } finally {
      fs.rmSync(target, { force: true });
      await writer.stop();
    }
    await waitConverged(pg, table, db, collection);
  });
});

test('the alert rules pass promtool: syntax (check rules) and behaviour (test rules)', () => {
  const check = promtool(['check', 'rules', path.join(RULES_DIR, 'alerts.yml')]);
  assert.equal(check.status, 0, check.out);
  assert.match(check.out, /SUCCESS: 5 rules found/);
  const unit = promtool(['test', 'rules', path.join(RULES_DIR, 'alerts.test.yml')]);
  assert.equal(unit.status, 0, unit.out);
  // Each of the four required alerts is exercised by the unit tests, so none can go untested.
  const tests = fs.readFileSync(path.join(RULES_DIR, 'alerts.test.yml'), 'utf8');
  for (const alert of ['SluiceStreamFailed', 'SluiceSourceLagGrowing', 'SluiceConsumerLagGrowing', 'SluiceDeadLettersGrowing', 'SluiceSlotRetainedWalHigh']) {
    assert.match(tests, new RegExp(`alertname: ${alert}\\b`), `${alert} has no promtool unit test`);
  }
});
