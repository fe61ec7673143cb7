/**
 * Row filters end to end (PostgreSQL → daemon → MongoDB): the snapshot takes only
 * the rows the whereClause selects, and under CDC rows that move out of the filter
 * leave MongoDB, rows that move in arrive whole. The reference is the source itself,
 * read with the same WHERE.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { cdcRunning, compareOrders, createOrders, createStream, E2E_ADMIN_KEY, mongoDb, ORDER_COLUMNS, pgClient, uid, sourceOrders, start, streamStatus, waitConverged, withStream, writeContinuously } from '../helpers/pipeline';
import { describe as describeDiff, diffRows, isEqual, sinkRows, type Normalised } from '../helpers/compare';
import { waitFor } from '../helpers/wait-for';
import { startDaemon, tmpDataDir } from '../helpers/daemon';

// `n % 3 = 0 AND amount < 200 OR note LIKE '%7'`: AND binds tighter than OR (the parser does not do that by itself).
const CLAUSE = "n % 3 = 0 AND amount < 200 OR note LIKE '%7'";

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

for (const transport of ['direct', 'kafka'] as const) test(`a filtered snapshot, then CDC moving rows into and out of the filter, leaves MongoDB equal to the source read with the same WHERE (${transport})`, async () => {
  const filters = (table: string) => {
    const [schema, name] = table.split('.') as [string, string];
    return { relationalTableFilters: { [schema]: { [name]: { whereClause: CLAUSE } } } };
  };
  await withStream({ rows: 300, extra: filters, transport }, async ({ d, streamId, table, collection, pg, db }) => {
    const filtered = `(SELECT * FROM ${table} WHERE ${CLAUSE}) AS filtered`;
    await start(d, streamId);
    await cdcRunning(d, streamId);
    // The snapshot: exactly the filtered rows (the reference reads them with the operator's own clause).
    const snap = await waitConverged(pg, filtered, db, collection);
    assert.ok(snap.sourceCount > 50 && snap.sourceCount < 200, `the filter should keep part of the table, kept ${snap.sourceCount}`);
    // And it really is a filter: the unfiltered table differs.
    assert.equal(isEqual(await compareOrders(pg, table, db, collection)), false);

    // Moves, one of each kind. Row 3: n=3, amount 3.75 → in. Row 4: n=4, note 'row 4' → out. Row 27 → in (n=27, note '%7').
    await pg.query(`UPDATE ${table} SET n = 4 WHERE id = 3`); // in → out: its document goes
    await pg.query(`UPDATE ${table} SET n = 6 WHERE id = 4`); // out → in: its document arrives whole
    await pg.query(`UPDATE ${table} SET note = 'row 28' WHERE id = 27`); // n = 27 keeps it in
    await pg.query(`UPDATE ${table} SET n = 5 WHERE id = 5`); // out, stays out
    await pg.query(`INSERT INTO ${table} VALUES (1000, 9, 'in', 1.00, date_trunc('milliseconds', now())), (1001, 10, 'out', 1.00, date_trunc('milliseconds', now()))`);
    await pg.query(`DELETE FROM ${table} WHERE id IN (6, 8)`); // one in, one out
    await pg.query(`UPDATE ${table} SET id = 2000, n = 1 WHERE id = 9`); // key change moving out
    await pg.query(`UPDATE ${table} SET id = 2001 WHERE id = 12`); // key change staying in
    await waitConverged(pg, filtered, db, collection);
    assert.equal(await db.collection(collection).countDocuments({ _id: 3 as never }), 0, 'a row that moved out is gone');
    const moved = await db.collection(collection).findOne({ _id: 4 as never });
    assert.equal(moved?.note, 'row 4', 'a row that moved in arrives with every column');
    assert.equal(await db.collection(collection).countDocuments({ _id: 9 as never }), 0, 'the old key of a key change that moved out is gone');

    // Random writes: n = n + 1 moves rows across the filter all the time.
    const writer = writeContinuously(pg, table, 3000);
    await sleep(4000);
    const writes = await writer.stop();
    assert.ok(writes > 20, `only ${writes} writes`);
    const final = await waitConverged(pg, filtered, db, collection);
    assert.ok(isEqual(final), describeDiff(final));

    // What was dropped is counted.
    const metrics = await fetch(`${d.base}/metrics`).then((r) => r.text());
    const line = metrics.split('\n').find((l) => l.startsWith('sluice_events_filtered_total') && l.includes(streamId));
    assert.ok(line && Number(line.split(' ').pop()) > 0, `filtered counter: ${line}`);
    await waitFor(async () => (await streamStatus(d, streamId)).cdcStatus === 'RUNNING', { timeoutMs: 10000, message: 'still running' });
  });
});

test('an excluded column never reaches MongoDB, even when the whereClause reads it', async () => {
  const spec = (table: string) => {
    const [schema, name] = table.split('.') as [string, string];
    return { relationalTableFilters: { [schema]: { [name]: { whereClause: 'amount < 100', excludeColumns: ['amount'] } } } };
  };
  await withStream({ rows: 200, extra: spec }, async ({ d, streamId, table, collection, pg, db }) => {
    await start(d, streamId);
    await cdcRunning(d, streamId);
    await pg.query(`UPDATE ${table} SET amount = 1 WHERE id = 150`); // moves in
    await pg.query(`UPDATE ${table} SET amount = 500 WHERE id = 1`); // moves out
    await pg.query(`INSERT INTO ${table} VALUES (1000, 1, 'new', 2.00, date_trunc('milliseconds', now()))`);
    const columns = ORDER_COLUMNS.filter((c) => c !== 'amount');
    const strip = (m: Map<string, Normalised>) => new Map([...m].map(([k, v]) => [k, Object.fromEntries(columns.map((c) => [c, v[c]!]))]));
    await waitFor(
      async () => isEqual(diffRows(strip(await sourceOrders(pg, `(SELECT * FROM ${table} WHERE amount < 100) AS f`)), strip(await sinkRows(db, collection, 'id', columns)))),
      { timeoutMs: 120000, intervalMs: 500, message: 'MongoDB equal to the filtered source without amount' },
    );
    assert.equal(await db.collection(collection).countDocuments({ _id: 150 as never }), 1);
    assert.equal(await db.collection(collection).countDocuments({ _id: 1 as never }), 0);
    assert.equal(await db.collection(collection).countDocuments({ amount: { $exists: true } }), 0, 'no document carries the excluded column');
  });
});

test('table patterns and excludeTables pick the tables at start: matching tables stream, excluded ones never reach MongoDB', async () => {
  const prefix = `pat_${uid()}`;
  const pg = await pgClient();
  const mongo = await mongoDb(prefix);
  for (const t of ['a', 'b', 'skip']) await createOrders(pg, `public.${prefix}_${t}`, 20);
  const d = await startDaemon(tmpDataDir(), {}, { adminKey: E2E_ADMIN_KEY });
  let streamId: string | undefined;
  try {
    ({ streamId } = await createStream(d, { name: prefix, mongoDb: prefix, tables: [`public.${prefix}_*`], extra: { excludeTables: ['*_skip'] } }));
    await start(d, streamId);
    await cdcRunning(d, streamId);
    await pg.query(`INSERT INTO public.${prefix}_b VALUES (100, 1, 'cdc', 1, now()); INSERT INTO public.${prefix}_skip VALUES (100, 1, 'cdc', 1, now())`);
    await waitConverged(pg, `public.${prefix}_a`, mongo.db, `${prefix}_a`);
    await waitConverged(pg, `public.${prefix}_b`, mongo.db, `${prefix}_b`);
    const names = (await mongo.db.listCollections().toArray()).map((c) => c.name).sort();
    assert.deepEqual(names, [`${prefix}_a`, `${prefix}_b`]);
    const spec = (await d.api(`/api/v1/streams/${streamId}`)).body.spec;
    assert.deepEqual(spec.tables, [`public.${prefix}_*`], 'the spec keeps the pattern; it is resolved at each start');
  } finally {
    if (streamId) {
      await d.api(`/api/v1/streams/${streamId}/stop`, { method: 'POST' }).catch(() => undefined);
      await d.api(`/api/v1/streams/${streamId}`, { method: 'DELETE' }).catch(() => undefined);
    }
    await d.stop('SIGTERM');
    for (const t of ['a', 'b', 'skip']) await pg.query(`DROP TABLE IF EXISTS public.${prefix}_${t}`).catch(() => undefined);
    await mongo.db.dropDatabase().catch(() => undefined);
    await mongo.client.close();
    await pg.end();
  }
});
