/**
 * A cron-scheduled SNAPSHOT stream end to end (PostgreSQL → daemon → MongoDB): every
 * tick starts a run whose whereClause is evaluated at that moment, the way Relational
 * Migrator's users run a nightly "modified since yesterday" job from cron. Ticks come
 * every second here. A restarted daemon re-arms the schedule from its store.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createOrders, createStream, E2E_ADMIN_KEY, mongoDb, pgClient, uid } from '../helpers/pipeline';
import { startDaemon, tmpDataDir, type RunningDaemon } from '../helpers/daemon';
import { waitFor } from '../helpers/wait-for';

test('each scheduled run picks the rows its NOW()-relative whereClause selects at that moment; a restarted daemon re-arms the schedule', async () => {
  const name = `sched_${uid()}`;
  const table = `public.${name}`;
  const pg = await pgClient();
  const mongo = await mongoDb(name);
  const dataDir = tmpDataDir();
  let d: RunningDaemon | undefined = await startDaemon(dataDir, {}, { adminKey: E2E_ADMIN_KEY });
  let streamId: string | undefined;
  try {
    await createOrders(pg, table, 0);
    // Row 1 is "recent" for the next 4 s; row 2 (dated 6 s ahead) becomes recent then, for 4 s.
    // A clause evaluated once would keep picking the same rows; one evaluated per run moves on.
    await pg.query(`INSERT INTO ${table} VALUES (1, 1, 'now', 1.00, now()), (2, 2, 'later', 2.00, now() + interval '6 seconds')`);
    // "at" quoted: the filter parser reads a bare `at` as the keyword (AT TIME ZONE).
    const whereClause = '"at" > NOW() - INTERVAL \'4 seconds\' AND "at" <= NOW()';
    ({ streamId } = await createStream(d, {
      name,
      mongoDb: name,
      tables: [table],
      mode: 'SNAPSHOT',
      // Each fresh snapshot empties the collection first, so it holds exactly the last run's rows.
      options: { dropCollections: true },
      extra: { relationalTableFilters: { public: { [name]: { whereClause } } }, schedule: { cron: '* * * * * *', timezone: 'UTC' } },
    }));
    const coll = mongo.db.collection(name);
    const seen: string[] = [];
    await waitFor(
      async () => {
        const ids = (await coll.find({}, { projection: { _id: 1 } }).toArray()).map((doc) => String(doc._id)).sort();
        const state = ids.join(',');
        if (state && seen.at(-1) !== state) seen.push(state);
        return seen.includes('2');
      },
      { timeoutMs: 30000, intervalMs: 100, message: `a run that picked row 2 (seen: ${JSON.stringify(seen)})` },
    );
    assert.ok(seen.indexOf('1') >= 0 && seen.indexOf('1') < seen.indexOf('2'), `an early run picked row 1, a later one row 2: ${JSON.stringify(seen)}`);
    assert.ok(!seen.includes('1,2'), `no run picked both: ${JSON.stringify(seen)}`);

    const runs = await d.api(`/api/v1/streams/${streamId}/runs?limit=1000`);
    assert.ok(runs.body.items.filter((r: { status: string }) => r.status === 'COMPLETED').length >= 2, JSON.stringify(runs.body.items));
    const logs = await d.api(`/api/v1/streams/${streamId}/logs?stage=SCHEDULE&limit=1000`);
    assert.ok(logs.body.items.some((u: { message: string }) => /scheduled run started/.test(u.message)), 'scheduled runs are in the job updates');
    const view = await d.api(`/api/v1/streams/${streamId}`);
    assert.deepEqual(view.body.schedule, { cron: '* * * * * *', timezone: 'UTC' });
    assert.ok(Date.parse(view.body.nextRunAt) <= Date.now() + 2000, `nextRunAt is the next second: ${view.body.nextRunAt}`);

    const metrics = await fetch(`${d.base}/metrics`).then((r) => r.text());
    const started = metrics.split('\n').find((l) => l.startsWith('sluice_schedule_ticks_total') && l.includes(`stream="${streamId}"`) && l.includes('outcome="started"'));
    assert.ok(started && Number(started.split(' ').pop()) >= 2, `ticks that started runs are counted: ${started}`);

    // Restart: the schedule comes back from the store, and runs go on.
    await d.stop('SIGTERM');
    d = undefined;
    d = await startDaemon(dataDir, {}, { adminKey: E2E_ADMIN_KEY });
    const before = (await d.api(`/api/v1/streams/${streamId}/runs?limit=1000`)).body.total as number;
    assert.ok((await d.api(`/api/v1/streams/${streamId}`)).body.nextRunAt, 'the restarted daemon shows the next run');
    const restarted = d;
    await waitFor(async () => {
      const page = (await restarted.api(`/api/v1/streams/${streamId}/runs?limit=1000&sort=-startedAt`)).body;
      return page.total > before && page.items[0].status === 'COMPLETED';
    }, { timeoutMs: 20000, intervalMs: 200, message: 'a scheduled run completes after the restart' });
    assert.match(d.output(), /stream schedules armed/);
  } finally {
    if (d && streamId) {
      const live = d;
      const id = streamId;
      // Remove the schedule, then the stream; a tick may start a run in between, so retry.
      await waitFor(
        async () => {
          await live.api(`/api/v1/streams/${id}/stop`, { method: 'POST' });
          return (await live.api(`/api/v1/streams/${id}`, { method: 'DELETE' })).status === 204;
        },
        { timeoutMs: 20000, intervalMs: 50, message: 'the scheduled stream is deleted' },
      ).catch(() => undefined);
    }
    await d?.stop('SIGTERM');
    await pg.query(`DROP TABLE IF EXISTS ${table}`).catch(() => undefined);
    await pg.end().catch(() => undefined);
    await mongo.db.dropDatabase().catch(() => undefined);
    await mongo.client.close();
  }
});
