/**
 * `npm run bench -- formats [json,avro,…]`: the record formats side by side in one run
 * (default json,avro; BENCH_FORMATS or the argument picks others: json-payload,
 * json-schema, protobuf). For each: a PostgreSQL CDC_ONLY stream on the Kafka transport with
 * that transport.format (registry formats against the stack's schema registry) is
 * paused, BENCH_CDC_ROWS rows of the bench table (5 columns) are inserted, and the
 * stream is resumed and timed until its topic holds them all (CDC events/s into Kafka);
 * then the topic's records are read back and their key+value bytes averaged (bytes per
 * record). The first format is the baseline column.
 */
import { Kafka, logLevel } from 'kafkajs';
import type { Client } from 'pg';
import type { RunningDaemon } from '../test/helpers/daemon';
import { startDaemon, tmpDataDir } from '../test/helpers/daemon';
import { createStream, mongoDb, pgClient, streamStatus, uid } from '../test/helpers/pipeline';
import { schemaRegistryUrl, stackUrls } from '../test/helpers/stack';
import { waitFor } from '../test/helpers/wait-for';
import { CDC_ROWS, log, main } from './common';
import { writeReport, type Row } from './report';

const ADMIN = 'bench-admin-key-0123456789abcdef';
const FORMATS = (process.argv[2] ?? process.env.BENCH_FORMATS ?? 'json,avro').split(',').map((f) => f.trim()).filter(Boolean);

async function measure(d: RunningDaemon, pg: Client, kafka: Kafka, connectionId: string, format: string): Promise<{ eventsPerSec: number; bytesPerRecord: number }> {
  const short = `bench_fmt_${format.replace('-', '_')}_${uid()}`;
  const table = `public.${short}`;
  await pg.query(`CREATE TABLE ${table} (id bigint PRIMARY KEY, n int NOT NULL, note text, amount numeric(14,2), at timestamptz NOT NULL)`);
  const ids = await createStream(d, { name: short, mongoDb: short, tables: [table], mode: 'CDC_ONLY', sourceKind: 'postgresql', extra: { transport: { kind: 'kafka', connectionId, format } } });
  const admin = kafka.admin();
  await admin.connect();
  try {
    await d.api(`/api/v1/streams/${ids.streamId}/start`, { method: 'POST' });
    await waitFor(async () => (await streamStatus(d, ids.streamId)).cdcStatus === 'RUNNING', { timeoutMs: 60000 });
    await d.api(`/api/v1/streams/${ids.streamId}/pause`, { method: 'POST' });
    for (let done = 0; done < CDC_ROWS; done += 10000) {
      await pg.query(`INSERT INTO ${table} SELECT g, g % 1000, 'row ' || g, (g * 1.25)::numeric(14,2), now() FROM generate_series($1::bigint, $2::bigint) g`, [done + 1, Math.min(done + 10000, CDC_ROWS)]);
    }
    const topic = `${short}.${table}`;
    const produced = async () => (await admin.fetchTopicOffsets(topic)).reduce((s, p) => s + Number(p.high), 0);
    const t0 = performance.now();
    await d.api(`/api/v1/streams/${ids.streamId}/resume`, { method: 'POST' });
    await waitFor(async () => (await produced().catch(() => 0)) >= CDC_ROWS, { timeoutMs: 1800000, intervalMs: 20 });
    const ms = performance.now() - t0;
    await d.api(`/api/v1/streams/${ids.streamId}/stop`, { method: 'POST' });
    // Bytes per record: key + value of every record on the topic.
    const consumer = kafka.consumer({ groupId: `${short}-size` });
    let bytes = 0;
    let n = 0;
    await consumer.connect();
    await consumer.subscribe({ topics: [topic], fromBeginning: true });
    await consumer.run({ eachBatch: async ({ batch }) => void batch.messages.forEach((m) => ((bytes += (m.key?.length ?? 0) + (m.value?.length ?? 0)), n++)) });
    await waitFor(async () => n >= CDC_ROWS, { timeoutMs: 600000, intervalMs: 100 });
    await consumer.disconnect();
    return { eventsPerSec: CDC_ROWS / (ms / 1000), bytesPerRecord: bytes / n };
  } finally {
    await admin.disconnect();
    await d.api(`/api/v1/streams/${ids.streamId}`, { method: 'DELETE' });
    await pg.query(`DROP TABLE IF EXISTS ${table}`);
    const sink = await mongoDb(short);
    await sink.db.dropDatabase().catch(() => undefined);
    await sink.client.close();
  }
}

main(async () => {
  const pg = await pgClient();
  const d = await startDaemon(tmpDataDir('sluice-bench-'), { SLUICE_KAFKA_BROKERS: stackUrls().kafka }, { adminKey: ADMIN });
  const kafka = new Kafka({ brokers: stackUrls().kafka.split(','), logLevel: logLevel.NOTHING });
  const results: Record<string, { eventsPerSec: number; bytesPerRecord: number }> = {};
  try {
    const conn = await d.api('/api/v1/connections', { method: 'POST', body: { name: 'bench-kafka', kind: 'kafka', url: `kafka://${stackUrls().kafka}`, options: { schemaRegistry: { url: schemaRegistryUrl() } } } });
    if (conn.status !== 201) throw new Error(`kafka connection: ${JSON.stringify(conn.body)}`);
    for (const f of FORMATS) {
      log(`${f}: CDC into Kafka, ${CDC_ROWS} rows`);
      results[f] = await measure(d, pg, kafka, conn.body.id, f);
      log(`${f}: ${results[f]!.eventsPerSec.toFixed(0)} events/s, ${results[f]!.bytesPerRecord.toFixed(0)} bytes/record`);
    }
  } finally {
    await d.stop('SIGTERM');
    await pg.end();
  }
  const base = results[FORMATS[0]!]!;
  const rows: Row[] = FORMATS.slice(1).flatMap((f) => [
    { measure: `CDC PostgreSQL → Kafka, ${f}`, sluice: results[f]!.eventsPerSec, baseline: base.eventsPerSec, unit: 'events/s', ratio: results[f]!.eventsPerSec / base.eventsPerSec },
    { measure: `bytes per record (key + value), ${f}`, sluice: results[f]!.bytesPerRecord, baseline: base.bytesPerRecord, unit: 'bytes', ratio: results[f]!.bytesPerRecord / base.bytesPerRecord },
  ]);
  const out = writeReport('formats', { CDC_ROWS, FORMATS }, rows, {
    baseline: FORMATS[0],
    ratio: `Each format against ${FORMATS[0]} in the same run and daemon (ratio = format / ${FORMATS[0]}); the table has 5 columns (bigint, int, text, numeric(14,2), timestamptz).`,
    extra: { results },
  });
  log(`wrote ${out.json} and ${out.md}`);
});
