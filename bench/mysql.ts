/**
 * `npm run bench -- mysql`: MariaDB → MongoDB, each measure beside its baseline in
 * the same run, on the test stack (the shared measures are in common.ts).
 *   1. snapshot rows/s        vs a streamed SELECT + insertMany (same batch size)
 *   2. CDC events/s into Kafka vs mariadb-binlog reading and decoding the same binlog
 *      range from the server (--read-from-remote-server --base64-output=decode-rows -v)
 *   3. end-to-end latency p50/p95/p99, source commit → MongoDB, at a steady rate
 *   4. peak RSS of the daemon over the whole run
 * Knobs: BENCH_SNAPSHOT_ROWS (200000), BENCH_CDC_ROWS (200000), BENCH_RATE (2000/s), BENCH_SECONDS (20), BENCH_BATCH (5000);
 * BENCH_ONLY, BENCH_LATENCY_TRANSPORT, BENCH_DAEMON_NODE_ARGS: see common.ts.
 */
import { spawn } from 'node:child_process';
import { Long, type Db } from 'mongodb';
import type { RunningDaemon } from '../test/helpers/daemon';
import { uid } from '../test/helpers/pipeline';
import { createMyOrders, myClient, myDatabase, type MyClient } from '../test/helpers/mysql-pipeline';
import { stackUrls } from '../test/helpers/stack';
import { clientConfig } from '../connectors/mysql/naming';
import { batchInserter, cdcBench, CDC_ROWS, latencyBench, log, main, runBench, snapshotBench, SNAPSHOT_ROWS } from './common';

/**
 * Baseline 1: a streamed SELECT into insertMany, BATCH at a time. The mysql driver's
 * streaming pattern: each row pauses the connection until its document is buffered
 * (or its batch written).
 */
async function selectAndInsert(my: MyClient, name: string, db: Db): Promise<void> {
  const out = batchInserter(db, 'select');
  await new Promise<void>((resolve, reject) => {
    my.raw
      .query(`SELECT id, n, note, amount, at FROM ${name}`)
      .on('error', reject)
      .on('result', (r: Record<string, string>) => {
        my.raw.pause();
        out.add({ _id: Long.fromString(r.id as string), n: Number(r.n), note: r.note, amount: r.amount, at: new Date(`${(r.at as string).replace(' ', 'T')}Z`) }).then(() => my.raw.resume(), reject);
      })
      .on('end', () => resolve());
  });
  await out.flush();
}

async function snapshot(d: RunningDaemon, my: MyClient) {
  const name = `${myDatabase()}.bench_snap_${uid()}`;
  log(`snapshot: ${SNAPSHOT_ROWS} rows`);
  await createMyOrders(my, name, SNAPSHOT_ROWS);
  await my.query(`ANALYZE TABLE ${name}`);
  try {
    return await snapshotBench(d, { sourceKind: 'mysql', table: name, baselineName: 'streamed SELECT + insertMany', baseline: (db) => selectAndInsert(my, name, db) });
  } finally {
    await my.query(`DROP TABLE IF EXISTS ${name}`);
  }
}

async function masterStatus(my: MyClient): Promise<{ file: string; pos: number }> {
  const [m] = await my.query<{ File: string; Position: number }>('SHOW MASTER STATUS');
  return { file: m!.File, pos: Number(m!.Position) };
}

/** mariadb-binlog reading [from, to) from the server and decoding every row event to /dev/null; resolves with its run time in ms. */
function binlogBaseline(from: { file: string; pos: number }, to: { file: string; pos: number }): Promise<number> {
  const c = clientConfig(stackUrls().mysql);
  const files = from.file === to.file ? [from.file] : [from.file, to.file];
  const args = [
    '--read-from-remote-server',
    `--host=${c.host}`,
    `--port=${c.port}`,
    `--user=${c.user}`,
    `--password=${c.password}`,
    '--base64-output=decode-rows',
    '--verbose',
    `--start-position=${from.pos}`,
    `--stop-position=${to.pos}`,
    ...files,
  ];
  return new Promise((resolve, reject) => {
    const t0 = performance.now();
    const p = spawn('mariadb-binlog', args, { stdio: ['ignore', 'ignore', 'pipe'] });
    let err = '';
    p.stderr.on('data', (b: Buffer) => (err += b.toString()));
    p.on('error', reject);
    p.on('exit', (code) => (code === 0 ? resolve(performance.now() - t0) : reject(new Error(`mariadb-binlog exited ${code}: ${err}`))));
  });
}

async function cdc(d: RunningDaemon, my: MyClient) {
  const short = `bench_cdc_${uid()}`;
  const name = `${myDatabase()}.${short}`;
  log(`CDC into Kafka: ${CDC_ROWS} rows`);
  await createMyOrders(my, name, 0);
  let from = { file: '', pos: 0 };
  try {
    return await cdcBench(d, {
      sourceKind: 'mysql',
      name: short,
      table: name,
      measure: 'CDC MariaDB → Kafka',
      note: 'baseline decodes to /dev/null; sluice also runs its sink consumer meanwhile',
      load: async () => {
        from = await masterStatus(my);
        // 1000-row transactions: the binlog holds CDC_ROWS row images, as in the PostgreSQL bench.
        for (let done = 0; done < CDC_ROWS; done += 1000) {
          const values: string[] = [];
          for (let g = done + 1; g <= Math.min(done + 1000, CDC_ROWS); g++) values.push(`(${g}, ${g % 1000}, 'row ${g}', ${(g * 1.25).toFixed(2)}, UTC_TIMESTAMP(3))`);
          await my.query(`INSERT INTO ${name} VALUES ${values.join(',')}`);
        }
      },
      baseline: async () => binlogBaseline(from, await masterStatus(my)),
    });
  } finally {
    await my.query(`DROP TABLE IF EXISTS ${name}`);
  }
}

async function latency(d: RunningDaemon, my: MyClient) {
  const short = `bench_lat_${uid()}`;
  const name = `${myDatabase()}.${short}`;
  await createMyOrders(my, name, 0);
  try {
    return await latencyBench(d, {
      sourceKind: 'mysql',
      name: short,
      table: name,
      // Between transports: the next stream starts from an empty table (its own stream is gone by then).
      reset: async () => void (await my.query(`DELETE FROM ${name}`)),
      insert: async (first, last) => {
        const values: string[] = [];
        for (let g = first; g <= last; g++) values.push(`(${g}, 0, 'lat', 0, UTC_TIMESTAMP(3))`);
        await my.query(`INSERT INTO ${name} VALUES ${values.join(',')}`);
      },
    });
  } finally {
    await my.query(`DROP TABLE IF EXISTS ${name}`);
  }
}

main(async () => {
  const my = await myClient();
  try {
    await runBench('mysql', { snapshot: async (d) => [await snapshot(d, my)], cdc: async (d) => [await cdc(d, my)], latency: (d) => latency(d, my) });
  } finally {
    await my.end();
  }
});
