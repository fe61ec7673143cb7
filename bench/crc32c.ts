/**
 * `npm run bench -- crc32c`: what kafkajs's checksum costs the producer. kafkajs alone (no
 * sluice) produces BENCH_CRC_RECORDS (100000) keyed ~3 KiB records (the size of a `json`
 * record of the bench table) with acks=all, in batches of 500, to a 3-partition topic,
 * once with kafkajs's own JavaScript CRC-32C and once with the native one that
 * src/transport/kafka/crc32c.ts installs. Each run is a child process of its own (a fresh
 * require cache), timed by its CPU (user + system), alternating, BENCH_CRC_ROUNDS (2) each;
 * the best of each is reported per 100k records.
 */
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { knob } from '../test/helpers/pipeline';
import { stackUrls } from '../test/helpers/stack';
import { log, main } from './common';
import { writeReport } from './report';

const RECORDS = knob('BENCH_CRC_RECORDS', 100000);
const ROUNDS = knob('BENCH_CRC_ROUNDS', 2);
const BATCH = 500;

/** In a child: produce RECORDS records with the given CRC and print the CPU-seconds they took. */
async function child(mode: 'native' | 'kafkajs', topic: string): Promise<void> {
  if (mode === 'native') require('../src/transport/kafka/crc32c');
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const { Kafka, logLevel } = require('kafkajs') as typeof import('kafkajs');
  const kafka = new Kafka({ brokers: stackUrls().kafka.split(','), logLevel: logLevel.NOTHING });
  const producer = kafka.producer({ idempotent: true, maxInFlightRequests: 1 });
  await producer.connect();
  const value = randomBytes(1536).toString('hex');
  const cpu0 = process.cpuUsage();
  for (let i = 0; i < RECORDS; i += BATCH) {
    const messages = Array.from({ length: BATCH }, (_, j) => ({ key: `k${i + j}`, value: `${i + j}${value}` }));
    await producer.send({ topic, acks: -1, messages });
  }
  const cpu = process.cpuUsage(cpu0);
  await producer.disconnect();
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const taken = require('kafkajs/src/protocol/recordBatch/crc32C') as unknown;
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const native = (require.cache[require.resolve('../src/transport/kafka/crc32c')]?.exports as { crc32cImplementation?: string } | undefined)?.crc32cImplementation;
  process.stdout.write(JSON.stringify({ mode, used: native ?? (typeof taken === 'function' ? 'kafkajs' : '?'), cpuSeconds: (cpu.user + cpu.system) / 1e6 }) + '\n');
}

main(async () => {
  if (process.argv[2] === '--child') return child(process.argv[3] as 'native' | 'kafkajs', process.argv[4] as string);
  const { Kafka, logLevel } = await import('kafkajs');
  const admin = new Kafka({ brokers: stackUrls().kafka.split(','), logLevel: logLevel.NOTHING }).admin();
  await admin.connect();
  const best: Record<string, number> = {};
  const runs: Array<{ mode: string; used: string; cpuSeconds: number }> = [];
  try {
    for (let round = 0; round < ROUNDS; round++) {
      for (const mode of ['kafkajs', 'native'] as const) {
        const topic = `bench_crc_${mode}_${Date.now()}`;
        await admin.createTopics({ topics: [{ topic, numPartitions: 3 }], waitForLeaders: true });
        log(`crc32c: ${mode}, ${RECORDS} records`);
        const r = spawnSync(process.execPath, [__filename, '--child', mode, topic], { encoding: 'utf8', env: process.env });
        if (r.status !== 0) throw new Error(`child ${mode}: ${r.stderr}`);
        const out = JSON.parse(r.stdout.trim().split('\n').pop() as string) as { mode: string; used: string; cpuSeconds: number };
        if (out.used !== mode) throw new Error(`child ${mode} used the ${out.used} CRC`);
        runs.push(out);
        best[mode] = Math.min(best[mode] ?? Infinity, out.cpuSeconds);
        await admin.deleteTopics({ topics: [topic] }).catch(() => undefined);
      }
    }
  } finally {
    await admin.disconnect();
  }
  const per100k = (s: number) => (s * 100000) / RECORDS;
  const out = writeReport(
    'crc32c',
    { RECORDS, ROUNDS, BATCH, recordBytes: 3072 },
    [{ measure: 'kafkajs producing 100k keyed ~3 KiB records, acks=all', sluice: per100k(best.native!), baseline: per100k(best.kafkajs!), unit: 'CPU-s per 100k', ratio: best.native! / best.kafkajs!, note: 'sluice: the native CRC-32C (@node-rs/crc32); baseline: kafkajs\'s own JavaScript CRC-32C; best of each' }],
    { baseline: "kafkajs's CRC", extra: { runs } },
  );
  log(`wrote ${out.json} and ${out.md}`);
});
