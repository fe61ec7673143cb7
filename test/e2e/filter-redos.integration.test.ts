/**
 * A row filter cannot freeze the daemon (issue 22, finding 2). A CDC stream filters
 * with LIKE patterns that backtracked exponentially or quadratically before
 * (`%a%a%a%a%b`, `%@%.%`); rows built against them are written to PostgreSQL while
 * /healthz is polled: every answer comes within a bound (a liveness guard: before the
 * fix one row of 170 characters held the API for 8.7 s, one of 400 for minutes), and
 * MongoDB ends with exactly the rows the clause selects. Then the daemon is killed, more
 * such rows are written while it is down, and the restarted daemon replays them without
 * freezing either.
 *
 * Size knobs: SLUICE_E2E_REDOS_ROW (the long rows' length, default 50000),
 * SLUICE_E2E_REDOS_HEALTH_MS (the bound on one /healthz answer, default 2000).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createStream, E2E_ADMIN_KEY, knob, mongoDb, pgClient, streamStatus, uid } from '../helpers/pipeline';
import { startDaemon, tmpDataDir, type RunningDaemon } from '../helpers/daemon';
import { waitFor } from '../helpers/wait-for';
import { slotName } from '../../connectors/postgres/naming';

const ROW = knob('SLUICE_E2E_REDOS_ROW', 50000);
const HEALTH_MS = knob('SLUICE_E2E_REDOS_HEALTH_MS', 2000);
const CLAUSE = "note LIKE '%a%a%a%a%b' OR note LIKE '%@%.%' OR note ILIKE '%x_x_x_x_y%'";

/** Polls /healthz until stopped; resolves with the slowest answer (ms). An answer that never comes counts at the stop. */
function watchHealth(d: RunningDaemon): { stop: () => Promise<number> } {
  let running = true;
  let slowest = 0;
  const loop = (async () => {
    while (running) {
      const t0 = Date.now();
      const ctl = new AbortController();
      const timer = setTimeout(() => ctl.abort(), HEALTH_MS * 5);
      try {
        await fetch(`${d.base}/healthz`, { signal: ctl.signal });
      } catch {
        // aborted or refused: counted by the time it took
      } finally {
        clearTimeout(timer);
      }
      slowest = Math.max(slowest, Date.now() - t0);
      await new Promise((r) => setTimeout(r, 50));
    }
  })();
  return {
    stop: async () => {
      running = false;
      await loop;
      return slowest;
    },
  };
}

test('adversarial rows under a LIKE filter never freeze the daemon, live or replayed after a restart, and exactly the matching rows arrive', async () => {
  const id = uid();
  const table = `public.redos_${id}`;
  const collection = `redos_${id}`;
  const pg = await pgClient();
  const mongo = await mongoDb(collection);
  await pg.query(`CREATE TABLE ${table} (id bigint PRIMARY KEY, note text)`);
  const dataDir = tmpDataDir();
  let d = await startDaemon(dataDir, {}, { adminKey: E2E_ADMIN_KEY });
  let streamId: string | undefined;
  // Rows against each pattern, and rows each pattern selects.
  const rows = (base: number): Array<[number, string, boolean]> => [
    [base + 1, 'a'.repeat(170), false], // the row: 8.7 s before
    [base + 2, 'a'.repeat(400), false], // minutes before
    [base + 3, 'a'.repeat(ROW), false],
    [base + 4, '@'.repeat(ROW), false], // quadratic before
    [base + 5, 'x'.repeat(ROW), false],
    [base + 6, `${'a'.repeat(ROW)}b`, true],
    [base + 7, `user@example.org`, true],
    [base + 8, `..X1X2X3X4Y..`, true],
  ];
  const insert = async (base: number) => {
    for (const [rid, note] of rows(base)) await pg.query(`INSERT INTO ${table} VALUES ($1, $2)`, [rid, note]);
  };
  const docs = async () => (await mongo.db.collection(collection).find({}, { projection: { _id: 1 } }).toArray()).map((x) => Number(x._id)).sort((a, b) => a - b);
  const expected = (...bases: number[]) => bases.flatMap((b) => rows(b).filter(([, , m]) => m).map(([rid]) => rid)).sort((a, b) => a - b);
  try {
    const [schema, name] = table.split('.') as [string, string];
    streamId = (await createStream(d, { name: collection, mongoDb: collection, tables: [table], mode: 'CDC', options: { heartbeatIntervalMs: 1000 }, extra: { relationalTableFilters: { [schema]: { [name]: { whereClause: CLAUSE } } } } })).streamId;
    assert.equal((await d.api(`/api/v1/streams/${streamId}/start`, { method: 'POST' })).status, 202);
    await waitFor(async () => (await streamStatus(d, streamId!)).cdcStatus === 'RUNNING', { timeoutMs: 120000, intervalMs: 200, message: 'CDC running' });

    // Live.
    let health = watchHealth(d);
    await insert(0);
    await waitFor(async () => JSON.stringify(await docs()) === JSON.stringify(expected(0)), { timeoutMs: 120000, intervalMs: 250, message: 'the matching rows arrive' });
    let slowest = await health.stop();
    assert.ok(slowest < HEALTH_MS, `/healthz took ${slowest} ms while the filter read the rows`);
    assert.equal((await streamStatus(d, streamId)).cdcStatus, 'RUNNING');

    // Replayed: rows written while the daemon is down reach the restarted one.
    await d.stop('SIGKILL');
    await insert(100);
    d = await startDaemon(dataDir, {}, { adminKey: E2E_ADMIN_KEY });
    health = watchHealth(d);
    await waitFor(async () => JSON.stringify(await docs()) === JSON.stringify(expected(0, 100)), { timeoutMs: 120000, intervalMs: 250, message: 'the replayed matching rows arrive' });
    slowest = await health.stop();
    assert.ok(slowest < HEALTH_MS, `/healthz took ${slowest} ms while the restarted daemon replayed the rows`);
    const s = await streamStatus(d, streamId);
    assert.equal(s.cdcStatus, 'RUNNING', JSON.stringify(s.failureError));
  } finally {
    // Bounded: a daemon frozen by a filter must not hang the clean-up (it is killed, and restarted to drop the slot).
    const within = <T>(p: Promise<T>, ms: number): Promise<T | undefined> =>
      Promise.race([p.catch(() => undefined), new Promise<undefined>((r) => setTimeout(() => r(undefined), ms).unref())]);
    if ((await within(fetch(`${d.base}/healthz`), 3000)) === undefined) await d.stop('SIGKILL');
    if (streamId && d.proc.exitCode === null) {
      await within(d.api(`/api/v1/streams/${streamId}/stop`, { method: 'POST' }), 10000);
      await within(waitFor(async () => ['STOPPED', 'FAILED', 'CREATED'].includes((await streamStatus(d, streamId!)).state), { timeoutMs: 30000, intervalMs: 200, message: 'stopped' }), 31000);
      await within(d.api(`/api/v1/streams/${streamId}`, { method: 'DELETE' }), 30000);
    }
    if ((await within(d.stop('SIGTERM'), 10000)) === undefined) await d.stop('SIGKILL');
    // Whatever the daemon managed: the stream's slot and publication go (a frozen daemon could not drop them).
    if (streamId) {
      await pg.query('SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE slot_name = $1 AND NOT active', [slotName(streamId)]).catch(() => undefined);
      await pg.query(`DROP PUBLICATION IF EXISTS ${slotName(streamId)}`).catch(() => undefined);
    }
    await pg.query(`DROP TABLE IF EXISTS ${table}`).catch(() => undefined);
    await mongo.db.dropDatabase().catch(() => undefined);
    await mongo.client.close();
    await pg.end();
  }
});
