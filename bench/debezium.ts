/**
 * `npm run bench -- debezium`: sluice beside Debezium 3.6.1 on Kafka Connect 4.3 (the stack's
 * worker, test/stack/connect.sh): PostgreSQL → Kafka → MongoDB on the same servers, tables and
 * row mix (the orders table of the pg bench), measured in one run, sluice first, then Debezium:
 *   1. start-up: the sluice daemon, and the Connect worker (restarted for the run)
 *   2. snapshot of BENCH_DEBEZIUM_ROWS rows: rows/s into Kafka and into MongoDB
 *   3. CDC: as many inserts, written while the pipeline is paused, timed from its resume:
 *      events/s into Kafka and into MongoDB
 *   4. CPU-seconds per 100k events of each phase: user+sys of the sluice daemon against the
 *      Connect JVM (Debezium's source and sink), from /proc/<pid>/stat
 *   5. latency p50/p95/p99 at BENCH_RATE rows/s for BENCH_SECONDS: commit → record in Kafka
 *      (the broker's LogAppendTime on topics created for both) and commit → document
 *   6. peak RSS of each process over the run
 * Both write JSON with the Connect schema inline (sluice's default format; JsonConverter with
 * schemas.enable=true for Debezium); BENCH_DEBEZIUM_CONVERTER=avro is the parameter left for the
 * registry formats. Debezium's topics get sluice's 3 partitions; otherwise its defaults.
 * On FerretDB v1 (the stack's MongoDB) Debezium's MongoDB sink is not run: it loses records
 * with Connect Decimals (FerretDB has no Decimal128) and is quadratic there (its `_id` is a
 * document, which FerretDB cannot look up by index); Debezium is then measured into Kafka, with
 * decimal.handling.mode=string. On a real MongoDB (SLUICE_TEST_MONGODB_URL) it runs end to end
 * with `precise`. BENCH_DEBEZIUM_SINK=1|0 and BENCH_DEBEZIUM_DECIMAL=precise|string override.
 * MariaDB: Debezium is validated against the stack's MariaDB and the reason it cannot run is
 * reported (Debezium 3.6.1's MySQL connector refuses MariaDB 10.11; its MariaDB connector is
 * not on Maven Central).
 * Knobs: BENCH_DEBEZIUM_ROWS (100000), BENCH_RATE (2000/s), BENCH_SECONDS (20). Writes
 * bench/results/<date>-debezium.{json,md,png} (the chart: bench/chart.sh, matplotlib).
 */
import fs from 'node:fs';
import path from 'node:path';
import { spawnSync } from 'node:child_process';
import { Kafka, logLevel } from 'kafkajs';
import type { Client } from 'pg';
import { startDaemon, tmpDataDir } from '../test/helpers/daemon';
import { mongoDb, pgClient, rssBytes, uid } from '../test/helpers/pipeline';
import { stackUrls } from '../test/helpers/stack';
import { debeziumMysql, deleteConnector, ensureConnect, listConnectors, stopConnect, validateConnector, type DecimalMode } from '../test/helpers/connect';
import { log, main, RATE, SECONDS } from './common';
import { percentile, writeReport, type Row } from './report';
import {
  CONVERTER,
  debeziumCdc,
  debeziumLatency,
  debeziumSnapshot,
  load,
  ORDERS,
  PARTITIONS,
  pid,
  ROWS,
  sluiceCdc,
  sluiceLatency,
  sluiceSnapshot,
  type Env,
  type Timing,
} from './debezium/sides';

const ADMIN = 'bench-admin-key-0123456789abcdef';

// ---- the run -------------------------------------------------------------------

/** Why Debezium cannot read the stack's MariaDB, in Connect's own words (null if it can). */
async function mariadbBlocker(connect: string): Promise<string | null> {
  const errors = await validateConnector(
    connect,
    debeziumMysql({ mysqlUrl: stackUrls().mysql, kafkaBrokers: stackUrls().kafka, topicPrefix: 'bdz_probe', tables: ['x.y'], serverId: 5401 }),
  );
  return errors.length ? errors.join('; ') : null;
}

async function withTable<T>(pg: Client, short: string, body: () => Promise<T>): Promise<T> {
  await pg.query(`CREATE TABLE public.${short} ${ORDERS}`);
  try {
    return await body();
  } finally {
    await pg.query(`DROP TABLE IF EXISTS public.${short}`);
  }
}

async function isFerretDb(): Promise<boolean> {
  const m = await mongoDb('admin');
  try {
    return (await m.db.admin().command({ buildInfo: 1 })).ferretdbVersion !== undefined;
  } finally {
    await m.client.close();
  }
}

const rate = (ms: number | null, n = ROWS) => (ms === null ? null : n / (ms / 1000));
const per100k = (t: Timing, events: number) => (t.cpuS / events) * 100000;

/**
 * A row of both figures. Its ratio reads "above 100%: sluice ahead": sluice/Debezium where
 * higher is better (throughput), Debezium/sluice where lower is (time, CPU, latency, memory).
 */
function row(better: 'higher' | 'lower', measure: string, s: number | null, b: number | null, unit: string, note?: string): Row {
  const ratio = s === null || b === null ? null : better === 'higher' ? s / b : b / s;
  return { measure, sluice: s, baseline: b, unit, ratio, ...(note ? { note } : {}) };
}
const higher = (...a: [string, number | null, number | null, string, string?]) => row('higher', ...a);
const lower = (...a: [string, number | null, number | null, string, string?]) => row('lower', ...a);

main(async () => {
  const ferret = await isFerretDb();
  // Debezium's sink on FerretDB v1 is quadratic (see the notes): end to end only on a real MongoDB,
  // unless BENCH_DEBEZIUM_SINK=1 forces it (a small BENCH_DEBEZIUM_ROWS then, to try the path).
  const endToEnd = process.env.BENCH_DEBEZIUM_SINK === '1' || (process.env.BENCH_DEBEZIUM_SINK !== '0' && !ferret);
  const decimal = (process.env.BENCH_DEBEZIUM_DECIMAL as DecimalMode | undefined) ?? (ferret ? 'string' : 'precise');
  // A fresh worker for the run: its start time is a measure and its RSS peak is this run's.
  const before = ensureConnect();
  if (!before.started) stopConnect();
  const worker = before.started ? before : ensureConnect();
  if (!worker.pid) throw new Error('the Connect worker pid is unknown: the bench needs the stack worker (unset SLUICE_TEST_CONNECT_URL)');
  for (const c of await listConnectors(worker.url)) if (c.startsWith('bench-dbz-')) await deleteConnector(worker.url, c);
  const d0 = performance.now();
  const d = await startDaemon(tmpDataDir('sluice-bench-'), { SLUICE_KAFKA_BROKERS: stackUrls().kafka }, { adminKey: ADMIN });
  const daemonMs = performance.now() - d0;
  const peak = { sluice: 0, debezium: 0 };
  const sampler = setInterval(() => {
    peak.sluice = Math.max(peak.sluice, rssBytes(pid(d)));
    peak.debezium = Math.max(peak.debezium, rssBytes(worker.pid!));
  }, 200);
  const pg = await pgClient();
  const kafka = new Kafka({ brokers: stackUrls().kafka.split(','), logLevel: logLevel.NOTHING });
  const admin = kafka.admin();
  await admin.connect();
  const e: Env = { d, connect: worker.url, connectPid: worker.pid, pg, admin, kafka, decimal, endToEnd };
  const rows: Row[] = [];
  const notes: string[] = [];
  let chart: Record<string, unknown> = {};
  try {
    rows.push(lower('start-up to ready', daemonMs, worker.startMs, 'ms', 'sluice: daemon process to "sluice started"; Debezium: Connect worker JVM to /health 200 (plugins loaded, group joined)'));

    const snapTable = `bench_dbz_snap_${uid()}`;
    log(`snapshot: ${ROWS} rows, sluice then Debezium${endToEnd ? '' : ' (Debezium into Kafka only)'}`);
    const snap = await withTable(pg, snapTable, async () => {
      await load(pg, `public.${snapTable}`, ROWS);
      await pg.query(`ANALYZE public.${snapTable}`);
      return { sluice: await sluiceSnapshot(e, snapTable), debezium: await debeziumSnapshot(e, snapTable) };
    });
    log(`CDC: ${ROWS} inserts while paused, sluice then Debezium`);
    const cdcS = `bench_dbz_cdc_s_${uid()}`;
    const cdcD = `bench_dbz_cdc_d_${uid()}`;
    const cdc = {
      sluice: await withTable(pg, cdcS, () => sluiceCdc(e, cdcS)),
      debezium: await withTable(pg, cdcD, () => debeziumCdc(e, cdcD)),
    };
    log(`latency: ${RATE} rows/s for ${SECONDS} s, sluice then Debezium`);
    const latS = `bench_dbz_lat_s_${uid()}`;
    const latD = `bench_dbz_lat_d_${uid()}`;
    const lat = {
      sluice: await withTable(pg, latS, () => sluiceLatency(e, latS)),
      debezium: await withTable(pg, latD, () => debeziumLatency(e, latD)),
    };
    log("MariaDB: asking Debezium whether it can read the stack's MariaDB");
    const mariadb = await mariadbBlocker(worker.url);

    const both = endToEnd ? "each side's sink runs meanwhile" : "sluice's sink runs meanwhile, Debezium's does not (no sink on FerretDB, see below)";
    const snapNote = `${ROWS} rows of the pg bench's orders table, from stream/connector start (slot creation included)`;
    rows.push(higher('snapshot → Kafka', rate(snap.sluice.kafkaMs), rate(snap.debezium.kafkaMs), 'rows/s', `${snapNote}; ${both}`));
    rows.push(higher('snapshot → MongoDB', rate(snap.sluice.mongoMs), rate(snap.debezium.mongoMs), 'rows/s', endToEnd ? snapNote : 'Debezium: not measured on FerretDB'));
    rows.push(lower('CPU per 100k rows, snapshot', per100k(snap.sluice, ROWS), per100k(snap.debezium, ROWS), 'CPU-s', `user+sys of the sluice daemon (until the last document) vs the Connect JVM (until the last ${endToEnd ? 'document' : 'record in Kafka'})`));
    const cdcNote = `${ROWS} inserts (10k-row transactions) written while paused, timed from resume`;
    rows.push(higher('CDC PostgreSQL → Kafka', rate(cdc.sluice.kafkaMs), rate(cdc.debezium.kafkaMs), 'events/s', `${cdcNote}; ${both}`));
    rows.push(higher('CDC PostgreSQL → MongoDB', rate(cdc.sluice.mongoMs), rate(cdc.debezium.mongoMs), 'events/s', endToEnd ? cdcNote : 'Debezium: not measured on FerretDB'));
    rows.push(lower('CPU per 100k events, CDC', per100k(cdc.sluice, ROWS), per100k(cdc.debezium, ROWS), 'CPU-s', `user+sys, resume until the last ${endToEnd ? 'document' : 'document (sluice) / record in Kafka (Debezium)'}`));
    for (const p of [50, 95, 99]) {
      rows.push(lower(`latency commit → Kafka p${p} at ${RATE}/s`, percentile(lat.sluice.kafka, p), percentile(lat.debezium.kafka, p), 'ms', p === 50 ? `${lat.sluice.kafka.length} / ${lat.debezium.kafka.length} batches of 10 ms; the record's LogAppendTime` : undefined));
    }
    for (const p of [50, 95, 99]) {
      const dbz = lat.debezium.mongo ? percentile(lat.debezium.mongo, p) : null;
      rows.push(lower(`latency commit → MongoDB p${p} at ${RATE}/s`, percentile(lat.sluice.mongo ?? [], p), dbz, 'ms', p === 50 ? (lat.debezium.mongo ? 'samples every 50 ms, document found by _id' : 'Debezium: not measured on FerretDB') : undefined));
    }
    rows.push(lower('peak RSS', peak.sluice / 1048576, peak.debezium / 1048576, 'MB', 'sluice daemon vs Connect worker JVM (-Xmx512m), sampled every 200 ms over the run'));
    rows.push({ measure: 'MariaDB → Kafka → MongoDB', sluice: null, baseline: null, unit: '–', note: mariadb ? `Debezium not measured: ${mariadb.replace(/\|/g, '/')}` : "Debezium can read the stack's MariaDB: add its measures" });

    notes.push(
      "Ratio: sluice's figure over Debezium's for throughput, Debezium's over sluice's for time, CPU, latency and memory: above 100% sluice is ahead. " +
        `Debezium 3.6.1.Final on Kafka Connect 4.3.0 (one distributed worker, -Xmx512m, otherwise defaults), converter ${CONVERTER} (JsonConverter, schemas.enable=true, as sluice writes), ` +
        `decimal.handling.mode=${decimal}, topics with sluice's ${PARTITIONS} partitions; sluice with its defaults, Kafka transport.`,
    );
    if (!endToEnd) {
      notes.push(
        "Debezium's MongoDB sink is not measured on FerretDB v1.24: it works there only with decimal.handling.mode=string (a Connect Decimal becomes a BSON Decimal128, on which FerretDB v1 drops the connection, and the sink then loses the records silently), " +
          "and it is quadratic there: it filters every replace by `_id: {<key columns>}`, and FerretDB v1 pushes `_id` equality down to PostgreSQL only for scalar ids, so each write scans the whole collection " +
          '(about 3 writes/s at 3,700 documents on this machine). Set SLUICE_TEST_MONGODB_URL to a real MongoDB for the end-to-end figures.',
      );
    }
    const pick = (unit: string) => rows.filter((r) => r.unit === unit && r.sluice !== null).map((r) => ({ measure: r.measure, sluice: r.sluice, debezium: r.baseline }));
    chart = { throughput: [...pick('rows/s'), ...pick('events/s')], cpu: pick('CPU-s') };
  } finally {
    clearInterval(sampler);
    await admin.disconnect().catch(() => undefined);
    await pg.end().catch(() => undefined);
    await d.stop('SIGTERM');
    if (before.started && process.env.SLUICE_TEST_KEEP_STACK !== '1') stopConnect();
  }
  const status = spawnSync('bash', [path.resolve(__dirname, '../../test/stack/stack.sh'), 'status', '--json'], { encoding: 'utf8' });
  const kafkaVersion = (JSON.parse(status.stdout || '{}') as { kafkaVersion?: string }).kafkaVersion ?? 'unknown';
  const params = { ROWS, RATE, SECONDS, PARTITIONS, CONVERTER, DECIMAL: decimal, kafka: kafkaVersion, sink: ferret ? 'FerretDB v1.24' : 'MongoDB', debeziumSink: endToEnd };
  const out = writeReport('debezium', params, rows, {
    baseline: 'Debezium',
    ratio: 'sluice beside Debezium on Kafka Connect, measured in the same run on the same servers; bare numbers on this shared machine are noisy.',
    notes,
    extra: { chart },
  });
  const png = out.json.replace(/\.json$/, '.png');
  const drawn = spawnSync('bash', [path.resolve(__dirname, '../../bench/chart.sh'), out.json, png], { stdio: 'inherit' });
  if (drawn.status === 0) fs.appendFileSync(out.md, `![sluice beside Debezium](${path.basename(png)})\n`);
  else log('chart: bench/chart.sh failed; the table is written without it');
  process.stdout.write(fs.readFileSync(out.md, 'utf8'));
  log(`wrote ${out.json}, ${out.md}${drawn.status === 0 ? ` and ${png}` : ''}`);
});
