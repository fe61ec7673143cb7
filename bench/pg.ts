/**
 * `npm run bench -- pg`: PostgreSQL → MongoDB, each measure beside its baseline in
 * the same run, on the test stack (the shared measures are in common.ts).
 *   1. snapshot rows/s        vs COPY out of PostgreSQL + insertMany (same batch size)
 *   2. CDC events/s into Kafka vs pg_recvlogical decoding the same WAL range
 *      and, on the same changes, end to end source → Kafka → MongoDB vs the direct
 *      transport end to end, with the daemon's CPU-seconds per 100k events (common.ts)
 *   3. end-to-end latency p50/p95/p99, source commit → MongoDB, at a steady rate
 *   4. peak RSS of the daemon over the whole run
 * Knobs: BENCH_SNAPSHOT_ROWS (200000), BENCH_CDC_ROWS (200000), BENCH_RATE (2000/s), BENCH_SECONDS (20), BENCH_BATCH (5000);
 * BENCH_ONLY, BENCH_LATENCY_TRANSPORT, BENCH_DAEMON_NODE_ARGS, BENCH_KAFKA_FORMAT, MALLOC_ARENA_MAX: see common.ts.
 */
import { spawn } from 'node:child_process';
import { Client } from 'pg';
import { to as copyTo } from 'pg-copy-streams';
import { Long, type Db } from 'mongodb';
import type { RunningDaemon } from '../test/helpers/daemon';
import { pgClient, uid } from '../test/helpers/pipeline';
import { stackUrls } from '../test/helpers/stack';
import { batchInserter, cdcBench, CDC_ROWS, latencyBench, log, main, runBench, snapshotBench, SNAPSHOT_ROWS } from './common';

async function table(pg: Client, name: string, rows: number): Promise<void> {
  await pg.query(`CREATE TABLE ${name} (id bigint PRIMARY KEY, n int NOT NULL, note text, amount numeric(14,2), at timestamptz NOT NULL)`);
  if (rows > 0) await pg.query(`INSERT INTO ${name} SELECT g, g % 1000, 'row ' || g, (g * 1.25)::numeric(14,2), now() FROM generate_series(1, $1) g`, [rows]);
  await pg.query(`ANALYZE ${name}`);
}

/** Baseline 1: COPY the table out as CSV and insertMany it, BATCH documents at a time. */
async function copyAndInsert(pg: Client, name: string, db: Db): Promise<void> {
  const out = batchInserter(db, 'copy');
  const stream = pg.query(copyTo(`COPY (SELECT id, n, note, amount, at FROM ${name}) TO STDOUT (FORMAT csv)`));
  let rest = '';
  for await (const chunk of stream) {
    const lines = (rest + chunk.toString()).split('\n');
    rest = lines.pop() ?? '';
    for (const line of lines) {
      const [id, n, note, amount, at] = line.split(',');
      await out.add({ _id: Long.fromString(id as string), n: Number(n), note, amount, at: new Date(at as string) });
    }
  }
  await out.flush();
}

async function snapshot(d: RunningDaemon, pg: Client) {
  const name = `public.bench_snap_${uid()}`;
  log(`snapshot: ${SNAPSHOT_ROWS} rows`);
  await table(pg, name, SNAPSHOT_ROWS);
  try {
    return await snapshotBench(d, { sourceKind: 'postgresql', table: name, baselineName: 'COPY out + insertMany', baseline: (db) => copyAndInsert(pg, name, db) });
  } finally {
    await pg.query(`DROP TABLE IF EXISTS ${name}`);
  }
}

function recvlogical(args: string[]): Promise<number> {
  return new Promise((resolve, reject) => {
    const t0 = performance.now();
    const p = spawn('pg_recvlogical', args, { stdio: ['ignore', 'ignore', 'pipe'] });
    let err = '';
    p.stderr.on('data', (c: Buffer) => (err += c.toString()));
    p.on('exit', (code) => (code === 0 ? resolve(performance.now() - t0) : reject(new Error(`pg_recvlogical exited ${code}: ${err}`))));
  });
}

async function cdc(d: RunningDaemon, pg: Client) {
  const short = `bench_cdc_${uid()}`;
  const name = `public.${short}`;
  log(`CDC into Kafka: ${CDC_ROWS} rows`);
  await table(pg, name, 0);
  const url = stackUrls().postgres;
  await pg.query(`CREATE PUBLICATION ${short}_pub FOR TABLE ${name}`);
  await recvlogical(['-d', url, '--slot', `${short}_recv`, '--create-slot', '-P', 'pgoutput']);
  const row = await cdcBench(d, {
    sourceKind: 'postgresql',
    name: short,
    table: name,
    measure: 'CDC PostgreSQL → Kafka',
    note: 'baseline decodes to /dev/null; sluice also runs its sink consumer meanwhile',
    load: async () => {
      for (let done = 0; done < CDC_ROWS; done += 10000) {
        await pg.query(`INSERT INTO ${name} SELECT g, g % 1000, 'row ' || g, (g * 1.25)::numeric(14,2), now() FROM generate_series($1::bigint, $2::bigint) g`, [done + 1, Math.min(done + 10000, CDC_ROWS)]);
      }
    },
    baseline: async () => {
      const endpos = (await pg.query('SELECT pg_current_wal_lsn()::text AS l')).rows[0].l as string;
      const ms = await recvlogical(['-d', url, '--slot', `${short}_recv`, '--start', '-o', 'proto_version=1', '-o', `publication_names=${short}_pub`, `--endpos=${endpos}`, '--no-loop', '-f', '/dev/null']);
      await recvlogical(['-d', url, '--slot', `${short}_recv`, '--drop-slot']);
      return ms;
    },
  });
  await pg.query(`DROP PUBLICATION ${short}_pub`);
  await pg.query(`DROP TABLE IF EXISTS ${name}`);
  return row;
}

async function latency(d: RunningDaemon, pg: Client) {
  const short = `bench_lat_${uid()}`;
  const name = `public.${short}`;
  await table(pg, name, 0);
  try {
    return await latencyBench(d, {
      sourceKind: 'postgresql',
      name: short,
      table: name,
      // Between transports: the next stream starts from an empty table (its own stream is gone by then).
      reset: async () => void (await pg.query(`DELETE FROM ${name}`)),
      insert: async (first, last) => {
        await pg.query(`INSERT INTO ${name} SELECT g, 0, 'lat', 0, now() FROM generate_series($1::bigint, $2::bigint) g`, [first, last]);
      },
    });
  } finally {
    await pg.query(`DROP TABLE IF EXISTS ${name}`);
  }
}

main(async () => {
  const pg = await pgClient();
  try {
    await runBench('pg', { snapshot: async (d) => [await snapshot(d, pg)], cdc: (d) => cdc(d, pg), latency: (d) => latency(d, pg) });
  } finally {
    await pg.end();
  }
});
