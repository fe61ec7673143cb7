/**
 * `npm run bench -- mysql`: MariaDB → MongoDB, each measure beside its baseline in
 * the same run, on the test stack (the shared measures are in common.ts).
 *   1. snapshot rows/s        vs a streamed SELECT + insertMany (same batch size)
 *   2. CDC events/s into Kafka vs sluice's own binlog reader (the connector's Source)
 *      reading and decoding the same binlog range from the server into nothing
 *      and, on the same changes, end to end source → Kafka → MongoDB vs the direct
 *      transport end to end, with the daemon's CPU-seconds per 100k events (common.ts)
 *   3. end-to-end latency p50/p95/p99, source commit → MongoDB, at a steady rate
 *   4. peak RSS of the daemon over the whole run
 * Knobs: BENCH_SNAPSHOT_ROWS (200000), BENCH_CDC_ROWS (200000), BENCH_RATE (2000/s), BENCH_SECONDS (20), BENCH_BATCH (5000);
 * BENCH_ONLY, BENCH_LATENCY_TRANSPORT, BENCH_DAEMON_NODE_ARGS, BENCH_KAFKA_FORMAT, MALLOC_ARENA_MAX: see common.ts.
 */
import pino from 'pino';
import { Long, type Db } from 'mongodb';
import type { RunningDaemon } from '../test/helpers/daemon';
import { uid } from '../test/helpers/pipeline';
import { createMyOrders, myClient, myDatabase, type MyClient } from '../test/helpers/mysql-pipeline';
import { stackUrls } from '../test/helpers/stack';
import { MysqlSource } from '../connectors/mysql/source';
import { binlogPositionOf, type Position, type StreamSpec } from '../src/core';

const quiet = pino({ level: 'silent' });
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

/**
 * sluice's own binlog reader (the `mysql` connector's Source, as the daemon runs it)
 * reading [from, to) and decoding every row event into events that go nowhere: no
 * transport, no sink. Resolves with its run time in ms. The ratio of the daemon's rate
 * to this one measures the pipeline behind the reader (issue 17), where mariadb-binlog
 * reading a file measured a bound no network binlog client reaches.
 */
async function binlogReaderBaseline(table: string, from: { file: string; pos: number }, to: { file: string; pos: number }): Promise<number> {
  const [schema, name] = table.split('.') as [string, string];
  const stream = { id: `bench-reader-${uid()}`, name: 'bench-reader', mode: 'CDC', tables: [table] } as unknown as StreamSpec;
  const source = new MysqlSource({ connection: { id: 'bench', name: 'bench', kind: 'mysql', url: stackUrls().mysql, options: {} }, stream, logger: quiet });
  const ac = new AbortController();
  const reached = (p: { file: string; pos: number }): boolean => p.file > to.file || (p.file === to.file && p.pos >= to.pos);
  let events = 0;
  const t0 = performance.now();
  try {
    for await (const batch of source.stream({ file: from.file, pos: from.pos, gtid: null } as unknown as Position, { streamId: stream.id, runId: 'bench', logger: quiet, signal: ac.signal })) {
      events += batch.events.filter((e) => e.table.schema === schema && e.table.table === name).length;
      const at = binlogPositionOf(batch.position);
      if (at && reached(at)) break;
    }
  } finally {
    ac.abort();
    await source.close();
  }
  if (events < CDC_ROWS) throw new Error(`the reader saw ${events} of ${CDC_ROWS} events`);
  return performance.now() - t0;
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
      note: "baseline: sluice's own binlog reader decoding the same range into nothing; the daemon also runs its sink consumer meanwhile",
      load: async () => {
        from = await masterStatus(my);
        // 1000-row transactions: the binlog holds CDC_ROWS row images, as in the PostgreSQL bench.
        for (let done = 0; done < CDC_ROWS; done += 1000) {
          const values: string[] = [];
          for (let g = done + 1; g <= Math.min(done + 1000, CDC_ROWS); g++) values.push(`(${g}, ${g % 1000}, 'row ${g}', ${(g * 1.25).toFixed(2)}, UTC_TIMESTAMP(3))`);
          await my.query(`INSERT INTO ${name} VALUES ${values.join(',')}`);
        }
      },
      baseline: async () => binlogReaderBaseline(name, from, await masterStatus(my)),
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
    await runBench('mysql', { snapshot: async (d) => [await snapshot(d, my)], cdc: (d) => cdc(d, my), latency: (d) => latency(d, my) });
  } finally {
    await my.end();
  }
});
