import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { EventBatch, Position } from '../../src/core';
import { isSluiceError } from '../../src/errors';
import { admin, context, database, makeSource, Puller, skipReason, streamSpec, tableName, uniqueId } from './test-support';
import { applyEvents, snapshotThenDie } from '../../test/helpers/source-driver';

const skip = skipReason();

/** A sink in miniature: applies events by key, as the MongoDB sink does (full images, idempotent). */
async function tableState(db: Awaited<ReturnType<typeof admin>>, t: string): Promise<Map<string, Record<string, unknown>>> {
  const rows = await db.query<{ id: string; v: string }>(`SELECT id, v FROM ${t} ORDER BY id`);
  return new Map(rows.map((r) => [JSON.stringify({ id: Number(r.id) }), { id: Number(r.id), v: r.v }]));
}

async function seed(db: Awaited<ReturnType<typeof admin>>, t: string, n: number): Promise<void> {
  await db.query(`CREATE TABLE ${t} (id int PRIMARY KEY, v varchar(50))`);
  const values = Array.from({ length: n }, (_, i) => `(${i + 1}, 'v${i + 1}')`).join(',');
  if (n > 0) await db.query(`INSERT INTO ${t} VALUES ${values}`);
}

test('snapshot + CDC from the consistent point equals the source: changes after the point arrive via CDC exactly once', { skip, timeout: 60_000 }, async () => {
  const db = await admin();
  const id = uniqueId('consistent');
  const [a, b] = [tableName('ca'), tableName('cb')];
  for (const t of [a, b]) await seed(db, t, 30);
  const source = makeSource(streamSpec(id, [a, b], { snapshotChunkSize: 7, snapshotParallelism: 2, heartbeatIntervalMs: 100_000 }));
  const ctx = context(id);
  try {
    const snap = new Puller(source.snapshot({ tables: [{ schema: '', table: a }, { schema: '', table: b }], resumeFrom: null }, ctx));
    const first = await snap.next();
    assert.equal(first.position!.kind, 'mysql-snapshot');
    assert.match(String(first.position!.file), /bin\.\d+$/);
    const batches: EventBatch[] = [first];
    // Read one chunk of each table so both read views are open, then change the data.
    while (new Set(batches.flatMap((x) => x.events.map((e) => e.table.table))).size < 2) batches.push(await snap.next());
    await db.query(`UPDATE ${a} SET v = 'changed' WHERE id = 1`);
    await db.query(`DELETE FROM ${a} WHERE id = 30`);
    await db.query(`INSERT INTO ${b} VALUES (31, 'new')`);
    batches.push(...(await snap.rest()));
    assert.ok(batches.every((x) => x.events.length <= 7), 'chunks are bounded by snapshotChunkSize');
    const events = batches.flatMap((x) => x.events);
    assert.equal(events.length, 60, 'each table is read in one consistent view, without the later changes');
    assert.ok(events.every((e) => e.op === 'r' && e.source.snapshot === true && e.source.connector === 'mysql'));
    assert.equal(events.find((e) => e.table.table === a && e.key.id === 1)!.after!.v, 'v1');
    const last = batches[batches.length - 1]!;
    const progress = JSON.parse(String(last.position!.tables)) as Record<string, { n: number; done: boolean }>;
    assert.deepEqual(Object.values(progress).map((p) => [p.n, p.done]), [[30, true], [30, true]]);

    const sink = new Map<string, Record<string, unknown>>();
    applyEvents(sink, events.filter((e) => e.table.table === a));
    const cdc = new Puller(source.stream(last.position, ctx));
    const { events: changes } = await cdc.events(3);
    assert.deepEqual(changes.map((e) => [e.table.table, e.op, e.key.id]), [[a, 'u', 1], [a, 'd', 30], [b, 'c', 31]]);
    applyEvents(sink, changes.filter((e) => e.table.table === a));
    assert.deepEqual(sink, await tableState(db, a));
    await db.query(`INSERT INTO ${b} VALUES (32, 'after')`);
    const { events: more } = await cdc.events(1);
    assert.deepEqual(more.map((e) => e.key.id), [32], 'nothing arrives twice');
  } finally {
    ctx.abort();
    await source.close();
    await db.query(`DROP TABLE IF EXISTS ${a}, ${b}`);
    await db.end();
  }
});

test('a snapshot interrupted mid-way resumes after its last finished chunk and converges with CDC', { skip, timeout: 60_000 }, async () => {
  const db = await admin();
  const id = uniqueId('resume');
  const t = tableName('resume');
  await seed(db, t, 20);
  const spec = streamSpec(id, [t], { snapshotChunkSize: 5, snapshotParallelism: 1 });
  const tables = [{ schema: database(), table: t }];
  const sink = new Map<string, Record<string, unknown>>();
  const saved = await snapshotThenDie(makeSource(spec), tables, id, sink, 3); // then the process "dies"
  await db.query(`UPDATE ${t} SET v = 'x2' WHERE id = 2`);
  await db.query(`UPDATE ${t} SET v = 'x15' WHERE id = 15`);
  await db.query(`DELETE FROM ${t} WHERE id = 18`);
  await db.query(`INSERT INTO ${t} VALUES (21, 'x21')`);
  const second = makeSource(spec);
  const ctx = context(id);
  try {
    const read: number[] = [];
    let last: Position | null = saved;
    for await (const b of second.snapshot({ tables, resumeFrom: saved }, ctx)) {
      read.push(...b.events.map((e) => e.key.id as number));
      applyEvents(sink, b.events);
      last = b.position ?? last;
    }
    assert.deepEqual(read, [11, 12, 13, 14, 15, 16, 17, 19, 20, 21], 'continues after the last finished chunk');
    const cdc = new Puller(second.stream(last, ctx));
    const { events } = await cdc.events(4);
    applyEvents(sink, events);
    assert.deepEqual(sink, await tableState(db, t));
  } finally {
    ctx.abort();
    await second.close();
    await db.query(`DROP TABLE IF EXISTS ${t}`);
    await db.end();
  }
});

test('CDC resumes exactly after the saved position: nothing lost, nothing twice, across a binlog rotation; other tables are skipped', { skip, timeout: 60_000 }, async () => {
  const db = await admin();
  const id = uniqueId('resume-cdc');
  const t = tableName('rc');
  const other = tableName('other');
  await seed(db, t, 0);
  await seed(db, other, 0);
  const spec = streamSpec(id, [t], { heartbeatIntervalMs: 200 }, { mode: 'CDC_ONLY' });
  const first = makeSource(spec);
  const ctx1 = context(id);
  let saved: Position | null = null;
  try {
    const cdc = new Puller(first.stream(null, ctx1));
    saved = (await cdc.next()).position; // the start position comes first
    for (let i = 1; i <= 3; i++) await db.query(`INSERT INTO ${t} VALUES (${i}, 'a${i}')`);
    await db.query(`INSERT INTO ${other} VALUES (1, 'not captured')`);
    const got = await cdc.events(3);
    assert.deepEqual(got.events.map((e) => e.key.id), [1, 2, 3]);
    saved = got.position;
  } finally {
    ctx1.abort();
    await first.close();
  }
  // While down: more writes, and a rotation in the middle of them.
  await db.query(`INSERT INTO ${t} VALUES (4, 'a4')`);
  await db.query('FLUSH BINARY LOGS');
  await db.query(`UPDATE ${t} SET v = 'b2' WHERE id = 2`);
  await db.query(`DELETE FROM ${t} WHERE id = 3`);
  await db.query(`INSERT INTO ${other} VALUES (2, 'not captured')`);
  const second = makeSource(spec);
  const ctx2 = context(id);
  try {
    const cdc = new Puller(second.stream(saved, ctx2));
    await cdc.next(); // start position
    const { events, position } = await cdc.events(3);
    assert.deepEqual(events.map((e) => [e.op, e.key.id]), [['c', 4], ['u', 2], ['d', 3]], 'resumes at the next transaction, across the rotate');
    assert.ok(events.every((e) => e.table.table === t), 'uncaptured tables are skipped');
    assert.notEqual(position!.file, saved!.file, 'the position follows the rotation');
    assert.equal(events[1]!.before!.v, 'a2');
    assert.equal(events[1]!.after!.v, 'b2');
    // A heartbeat records progress made only by uncaptured tables.
    await db.query(`INSERT INTO ${other} VALUES (3, 'x')`);
    let hb: EventBatch;
    do hb = await cdc.next(5000);
    while (hb.events.length > 0 || (hb.position!.file === position!.file && hb.position!.pos === position!.pos));
    assert.equal(hb.events.length, 0);
  } finally {
    ctx2.abort();
    await second.close();
    await db.query(`DROP TABLE IF EXISTS ${t}, ${other}`);
    await db.end();
  }
});

test('ADD/DROP COLUMN while streaming keeps decoding; events replayed from before both ALTERs decode with the shape of their time (schema history)', { skip, timeout: 60_000 }, async () => {
  const db = await admin();
  const id = uniqueId('ddl');
  const t = tableName('ddl');
  await seed(db, t, 0);
  const spec = streamSpec(id, [t], { heartbeatIntervalMs: 100_000 }, { mode: 'CDC_ONLY' });
  const source = makeSource(spec);
  const ctx = context(id);
  let start: Position | null = null;
  try {
    const cdc = new Puller(source.stream(null, ctx));
    start = (await cdc.next()).position;
    await db.query(`INSERT INTO ${t} VALUES (1, 'one')`);
    assert.deepEqual((await cdc.events(1)).events[0]!.after, { id: 1, v: 'one' });
    await db.query(`ALTER TABLE ${t} ADD COLUMN n int NULL`);
    await db.query(`INSERT INTO ${t} VALUES (2, 'two', 22)`);
    const added = (await cdc.events(1)).events[0]!;
    assert.deepEqual(added.after, { id: 2, v: 'two', n: 22 });
    assert.deepEqual(added.schema!.columns.map((c) => c.name), ['id', 'v', 'n']);
    await db.query(`ALTER TABLE ${t} DROP COLUMN v`);
    await db.query(`UPDATE ${t} SET n = 23 WHERE id = 2`);
    const dropped = (await cdc.events(1)).events[0]!;
    assert.deepEqual([dropped.op, dropped.after], ['u', { id: 2, n: 23 }]);
  } finally {
    ctx.abort();
    await source.close();
  }
  // Replaying from before both ALTERs: the first insert has 2 columns, the table now
  // has (id, n); the history carried by the position gives each row its own shape.
  const replay = makeSource(spec);
  const ctx2 = context(id);
  try {
    const cdc = new Puller(replay.stream(start, ctx2));
    await cdc.next();
    const rows = (await cdc.events(3)).events;
    assert.deepEqual(rows.map((e) => [e.op, e.after]), [['c', { id: 1, v: 'one' }], ['c', { id: 2, v: 'two', n: 22 }], ['u', { id: 2, n: 23 }]]);
    // A position saved before the history existed (no shapes): the old loud stop.
    const old = makeSource(spec);
    const ctx3 = context(id);
    try {
      const legacy = new Puller(old.stream({ file: start!.file!, pos: start!.pos!, gtid: null }, ctx3));
      await legacy.next();
      await assert.rejects(legacy.events(1), (err: unknown) => isSluiceError(err) && err.code === 'SOURCE_SCHEMA_CHANGED' && /predates the schema history/.test(err.message));
    } finally {
      ctx3.abort();
      await old.close();
    }
  } finally {
    ctx2.abort();
    await replay.close();
    await db.query(`DROP TABLE IF EXISTS ${t}`);
    await db.end();
  }
});

test('RENAME COLUMN (same types, invisible in the table map): decoded with the new name while streaming; a replay from before it decodes with the old name; a resume after it with the new', { skip, timeout: 60_000 }, async () => {
  const db = await admin();
  const id = uniqueId('rename');
  const t = tableName('rename');
  await seed(db, t, 0);
  const spec = streamSpec(id, [t], { heartbeatIntervalMs: 100_000 }, { mode: 'CDC_ONLY' });
  let start: Position | null = null;
  let afterRename: Position | null = null;
  const source = makeSource(spec);
  const ctx = context(id);
  try {
    const cdc = new Puller(source.stream(null, ctx));
    start = (await cdc.next()).position;
    await db.query(`INSERT INTO ${t} VALUES (1, 'one')`);
    assert.deepEqual((await cdc.events(1)).events[0]!.after, { id: 1, v: 'one' });
    await db.query(`ALTER TABLE ${t} RENAME COLUMN v TO w`);
    await db.query(`INSERT INTO ${t} VALUES (2, 'two')`);
    const renamed = await cdc.events(1);
    assert.deepEqual(renamed.events[0]!.after, { id: 2, w: 'two' });
    afterRename = renamed.position;
  } finally {
    ctx.abort();
    await source.close();
  }
  const replay = async (from: Position | null, body: (cdc: Puller) => Promise<void>): Promise<void> => {
    const s = makeSource(spec);
    const c = context(id);
    try {
      const cdc = new Puller(s.stream(from, c));
      await cdc.next();
      await body(cdc);
    } finally {
      c.abort();
      await s.close();
    }
  };
  try {
    // Row 1 was written as (id, v); today's catalog says (id, w), with the same types.
    await replay(start, async (cdc) => assert.deepEqual((await cdc.events(2)).events.map((e) => e.after), [{ id: 1, v: 'one' }, { id: 2, w: 'two' }]));
    await replay(afterRename, async (cdc) => {
      await db.query(`INSERT INTO ${t} VALUES (3, 'three')`);
      assert.deepEqual((await cdc.events(1)).events[0]!.after, { id: 3, w: 'three' });
    });
    // A statement the history cannot follow: the old catalog fallback, its loud stop naming the statement.
    const beforeOdd = await (async () => {
      const s = makeSource(spec);
      const c = context(id);
      try {
        const cdc = new Puller(s.stream(afterRename, c));
        await cdc.next();
        await db.query(`INSERT INTO ${t} VALUES (4, 'four')`);
        return (await cdc.events(1)).position;
      } finally {
        c.abort();
        await s.close();
      }
    })();
    // Row 5 is written between a statement the parser does not read and a later rename:
    // neither the history nor today's catalog can name its columns.
    await db.query(`ALTER TABLE ${t} ADD COLUMN (x int, y int)`);
    await db.query(`INSERT INTO ${t} (id, w) VALUES (5, 'five')`);
    await db.query(`ALTER TABLE ${t} RENAME COLUMN w TO z`);
    await replay(beforeOdd, async (cdc) => {
      await assert.rejects(cdc.events(1), (err: unknown) => isSluiceError(err) && err.code === 'SOURCE_SCHEMA_CHANGED' && /could not be parsed.*ADD COLUMN \(x int, y int\)/.test(err.message));
    });
  } finally {
    await db.query(`DROP TABLE IF EXISTS ${t}`);
    await db.end();
  }
});
