import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { EventBatch } from '../../src/core';
import { waitFor } from '../../test/helpers/wait-for';
import { slotName } from './naming';
import { lsnToBig } from './replication';
import { ReplicationStream } from './replication';
import { admin, cleanup, streaming, confirmedFlush, context, makeSource, Puller, skipReason, streamSpec, uniqueId } from './test-support';
import { applyEvents, snapshotThenDie } from '../../test/helpers/source-driver';

const skip = skipReason();

/** A sink in miniature: applies events by key, as the MongoDB sink does (full images, idempotent). */
async function tableState(db: Awaited<ReturnType<typeof admin>>, t: string): Promise<Map<string, Record<string, unknown>>> {
  const { rows } = await db.query(`SELECT id, v FROM ${t} ORDER BY id`);
  return new Map(rows.map((r: { id: number; v: string }) => [JSON.stringify({ id: r.id }), { id: r.id, v: r.v }]));
}

test('snapshot + CDC from the slot equals the source: rows changed after slot creation arrive via CDC exactly once', { skip, timeout: 60_000 }, async () => {
  const db = await admin();
  const id = uniqueId('consistent');
  const sfx = slotName(id).slice(7);
  const [a, b] = [`ca_${sfx}`, `cb_${sfx}`];
  for (const t of [a, b]) {
    await db.query(`CREATE TABLE ${t} (id int PRIMARY KEY, v text)`);
    await db.query(`INSERT INTO ${t} SELECT i, 'v' || i FROM generate_series(1, 30) i`);
  }
  const source = makeSource(streamSpec(id, [a, b], { snapshotChunkSize: 7, snapshotParallelism: 2, heartbeatIntervalMs: 100_000 }));
  try {
    const ctx = context(id);
    const snap = new Puller(source.snapshot({ tables: [{ schema: 'public', table: a }, { schema: 'public', table: b }], resumeFrom: null }, ctx));
    const first = await snap.next();
    // The slot and its exported snapshot exist now; these changes come after its consistent point.
    await db.query(`UPDATE ${a} SET v = 'changed' WHERE id = 1; DELETE FROM ${a} WHERE id = 30; INSERT INTO ${b} VALUES (31, 'new')`);
    const batches: EventBatch[] = [first, ...(await snap.rest())];
    assert.ok(batches.every((x) => x.events.length <= 7), 'chunks are bounded by snapshotChunkSize');
    const events = batches.flatMap((x) => x.events);
    assert.equal(events.length, 60, 'the snapshot shows the data as of the slot, not the later changes');
    assert.ok(events.every((e) => e.op === 'r' && e.source.snapshot === true));
    assert.equal(events.find((e) => e.table.table === a && e.key.id === 1)!.after!.v, 'v1');
    const last = batches[batches.length - 1]!;
    assert.equal(last.position!.kind, 'pg-snapshot');
    const progress = JSON.parse(String(last.position!.tables)) as Record<string, { n: number; done: boolean }>;
    assert.deepEqual(Object.values(progress).map((p) => [p.n, p.done]), [[30, true], [30, true]]);
    const done = batches.filter((x) => x.snapshot!.tableDone);
    assert.equal(done.length, 2);
    assert.ok(done.every((x) => x.snapshot!.rowsDone === 30 && x.snapshot!.rowsTotal === 30));

    const cdc = new Puller(source.stream(null, ctx));
    const { events: changes } = await cdc.events(3);
    assert.deepEqual(changes.map((e) => [e.table.table, e.op, e.key.id]), [[a, 'u', 1], [a, 'd', 30], [b, 'c', 31]]);
    // Exactly once: nothing else arrives, even after another (heartbeat-producing) write.
    await db.query(`INSERT INTO ${b} VALUES (32, 'after')`);
    const { events: more } = await cdc.events(1);
    assert.deepEqual(more.map((e) => e.key.id), [32]);
  } finally {
    await cleanup(source);
    await db.query(`DROP TABLE IF EXISTS ${a}, ${b}`);
    await db.end();
  }
});

test('a snapshot interrupted mid-way resumes from its saved position and converges with CDC', { skip, timeout: 60_000 }, async () => {
  const db = await admin();
  const id = uniqueId('resume');
  const t = `resume_${slotName(id).slice(7)}`;
  await db.query(`CREATE TABLE ${t} (id int PRIMARY KEY, v text)`);
  await db.query(`INSERT INTO ${t} SELECT i, 'v' || i FROM generate_series(1, 20) i`);
  const spec = streamSpec(id, [`public.${t}`], { snapshotChunkSize: 5, snapshotParallelism: 1 });
  const tables = [{ schema: 'public', table: t }];
  const sink = new Map<string, Record<string, unknown>>();
  const saved = await snapshotThenDie(makeSource(spec), tables, id, sink, 2); // then the process "dies": the exported snapshot is gone, the slot stays
  await db.query(`UPDATE ${t} SET v = 'x2' WHERE id = 2; UPDATE ${t} SET v = 'x15' WHERE id = 15; DELETE FROM ${t} WHERE id = 18; INSERT INTO ${t} VALUES (21, 'x21')`);
  const second = makeSource(spec);
  try {
    const ctx = context(id);
    const read: number[] = [];
    for await (const b of second.snapshot({ tables, resumeFrom: saved }, ctx)) {
      read.push(...b.events.map((e) => e.key.id as number));
      applyEvents(sink, b.events);
    }
    assert.deepEqual(read, [11, 12, 13, 14, 15, 16, 17, 19, 20, 21], 'continues after the last finished chunk');
    const cdc = new Puller(second.stream(null, ctx));
    const { events } = await cdc.events(4);
    applyEvents(sink, events);
    assert.deepEqual(sink, await tableState(db, t));
  } finally {
    await cleanup(second);
    await db.query(`DROP TABLE IF EXISTS ${t}`);
    await db.end();
  }
});

test('the slot never confirms past what was acked; it moves exactly to an acked LSN', { skip, timeout: 60_000 }, async () => {
  const db = await admin();
  const id = uniqueId('acks');
  const t = `acks_${slotName(id).slice(7)}`;
  await db.query(`CREATE TABLE ${t} (id int PRIMARY KEY)`);
  const source = makeSource(streamSpec(id, [t], { heartbeatIntervalMs: 200 }, { mode: 'CDC_ONLY' }));
  try {
    const ctx = context(id);
    const cdc = new Puller(source.stream(null, ctx));
    await streaming(db, id);
    const initial = (await confirmedFlush(db, id))!;
    for (let i = 1; i <= 3; i++) await db.query(`INSERT INTO ${t} VALUES (${i})`);
    const { position } = await cdc.events(3);
    // pg-logical-replication's timer would have acked after 10 s: watch for longer.
    const until = Date.now() + 11_000;
    while (Date.now() < until) {
      assert.equal(await confirmedFlush(db, id), initial, 'confirmed_flush_lsn moved without an ack');
      await new Promise((r) => setTimeout(r, 500));
    }
    await source.ack(position!);
    await waitFor(async () => (await confirmedFlush(db, id)) === lsnToBig(String(position!.lsn)), { timeoutMs: 10_000, intervalMs: 50 });
  } finally {
    await cleanup(source);
    await db.query(`DROP TABLE IF EXISTS ${t}`);
    await db.end();
  }
});

test('heartbeats advance the slot while only uncaptured tables change', { skip, timeout: 60_000 }, async () => {
  const db = await admin();
  const id = uniqueId('heartbeat');
  const sfx = slotName(id).slice(7);
  const [t, other] = [`hb_${sfx}`, `hbother_${sfx}`];
  await db.query(`CREATE TABLE ${t} (id int PRIMARY KEY); CREATE TABLE ${other} (id int PRIMARY KEY)`);
  const source = makeSource(streamSpec(id, [t], { heartbeatIntervalMs: 200 }, { mode: 'CDC_ONLY' }));
  try {
    const ctx = context(id);
    const cdc = new Puller(source.stream(null, ctx));
    await streaming(db, id);
    const initial = (await confirmedFlush(db, id))!;
    // Heartbeats pass this point only once the walsender decoded the write below.
    const walAfter = lsnToBig(((await db.query('SELECT pg_current_wal_insert_lsn()::text AS l')).rows[0] as { l: string }).l);
    await db.query(`INSERT INTO ${other} SELECT generate_series(1, 100)`);
    for (;;) {
      const b = await cdc.next();
      assert.equal(b.events.length, 0);
      await source.ack(b.position!);
      if (lsnToBig(String(b.position!.lsn)) > walAfter) break;
    }
    const moved = await waitFor(async () => {
      const c = await confirmedFlush(db, id);
      return c !== null && c > walAfter ? c : null;
    }, { timeoutMs: 10_000, intervalMs: 50 });
    assert.ok(moved > initial);
  } finally {
    await cleanup(source);
    await db.query(`DROP TABLE IF EXISTS ${t}, ${other}`);
    await db.end();
  }
});

test('a 200k-row transaction streams through in bounded batches with flat memory; only its last batch carries a position', { skip, timeout: 120_000 }, async () => {
  const db = await admin();
  const id = uniqueId('bigtx');
  const t = `bigtx_${slotName(id).slice(7)}`;
  await db.query(`CREATE TABLE ${t} (id int PRIMARY KEY, v int)`);
  const source = makeSource(streamSpec(id, [t], { maxBatchSize: 1000, heartbeatIntervalMs: 60_000 }, { mode: 'CDC_ONLY' }));
  try {
    const ctx = context(id);
    const cdc = new Puller(source.stream(null, ctx));
    await streaming(db, id);
    const rows = 200_000;
    await db.query(`INSERT INTO ${t} SELECT i, i FROM generate_series(1, ${rows}) i`);
    let total = 0;
    let maxBatch = 0;
    let maxQueued = 0;
    let pausedSeen = false;
    const positions: number[] = [];
    let n = 0;
    while (total < rows) {
      const b = await cdc.next(60_000);
      total += b.events.length;
      maxBatch = Math.max(maxBatch, b.events.length);
      if (b.position) positions.push(n);
      n++;
      const backlog = source.backlog!;
      maxQueued = Math.max(maxQueued, backlog.queued);
      pausedSeen ||= backlog.paused;
      // A slow consumer for the first batches: the socket must be paused meanwhile.
      if (n < 5) await waitFor(() => source.backlog!.paused, { timeoutMs: 20_000 });
    }
    assert.equal(total, rows);
    assert.ok(maxBatch <= 1000, `max batch ${maxBatch}`);
    assert.deepEqual(positions, [n - 1], 'only the batch ending with the COMMIT carries a position');
    assert.ok(pausedSeen, 'the replication socket was paused while the consumer lagged');
    // The queue is bounded by the high-water mark plus one socket read of messages.
    assert.ok(maxQueued < ReplicationStream.HIGH_WATER * 2, `queue reached ${maxQueued}`);
  } finally {
    await cleanup(source);
    await db.query(`DROP TABLE IF EXISTS ${t}`);
    await db.end();
  }
});
