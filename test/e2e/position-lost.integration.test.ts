/**
 * A source that no longer holds the stream's saved position (issue 16): a PostgreSQL
 * replication slot dropped by hand, a MariaDB binlog purged past the position. The
 * stream stops with SOURCE_POSITION_LOST naming what is gone, never silently starting
 * from "now"; `POST /streams/{id}/start {"resnapshot": true}` takes a fresh snapshot and
 * resumes CDC, and MongoDB ends equal to the source row by row.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { slotName } from '../../connectors/postgres/naming';
import { cdcRunning, start, waitConverged, withStream } from '../helpers/pipeline';
import { waitFor } from '../helpers/wait-for';
import type { RunningDaemon } from '../helpers/daemon';
import type { OrdersDb } from '../helpers/orders';
import { myClient } from '../helpers/mysql-pipeline';

async function stop(d: RunningDaemon, streamId: string): Promise<void> {
  assert.equal((await d.api(`/api/v1/streams/${streamId}/stop`, { method: 'POST' })).status, 202);
  await waitFor(async () => (await d.api(`/api/v1/streams/${streamId}`)).body.status === 'CANCELLED', { timeoutMs: 60000, message: 'stream stopped' });
}

/** Starts the stream after the loss: it fails with SOURCE_POSITION_LOST, whose message matches `names`. */
async function failsLost(d: RunningDaemon, streamId: string, names: RegExp): Promise<void> {
  await start(d, streamId);
  const failed = await waitFor(
    async () => {
      const s = (await d.api(`/api/v1/streams/${streamId}`)).body;
      return s.status === 'FAILED' ? s : null;
    },
    { timeoutMs: 60000, message: 'the stream fails when its position is gone' },
  );
  assert.equal(failed.failureError?.code, 'SOURCE_POSITION_LOST', JSON.stringify(failed.failureError));
  assert.match(failed.failureError.message, names);
  assert.match(failed.failureError.suggestion ?? '', /resnapshot/);
}

async function resnapshot(d: RunningDaemon, streamId: string): Promise<void> {
  const r = await d.api(`/api/v1/streams/${streamId}/start`, { method: 'POST', body: { resnapshot: true } });
  assert.equal(r.status, 202, JSON.stringify(r.body));
  await cdcRunning(d, streamId);
}

/** Rows changed while the stream cannot see them: updates and inserts (deletes would need dropCollections). */
async function changeWhileLost(src: OrdersDb, table: string, placeholder: (i: number) => string): Promise<void> {
  await src.exec(`UPDATE ${table} SET note = 'changed while lost' WHERE id <= 5`);
  for (let id = 1000; id < 1010; id++) await src.exec(`INSERT INTO ${table} (id, n, note, amount, at) VALUES (${placeholder(1)}, 7, 'inserted while lost', 1.5, '2026-12-05 07:00:00')`, [id]);
}

test('PostgreSQL: a replication slot dropped while the stream was stopped gives SOURCE_POSITION_LOST; a resnapshot brings MongoDB back equal', async () => {
  await withStream({ rows: 20 }, async ({ d, streamId, table, collection, src, pg, db }) => {
    await start(d, streamId);
    await cdcRunning(d, streamId);
    await pg.query(`INSERT INTO ${table} (id, n, note, amount, at) VALUES (500, 1, 'before', 1.0, now())`);
    await waitConverged(pg, table, db, collection);
    await stop(d, streamId);
    const slot = slotName(streamId);
    await pg.query('SELECT pg_drop_replication_slot($1)', [slot]);
    await changeWhileLost(src, table, (i) => `$${i}`);
    await failsLost(d, streamId, new RegExp(`replication slot ${slot} no longer exists`));
    assert.equal((await pg.query('SELECT 1 FROM pg_replication_slots WHERE slot_name = $1', [slot])).rowCount, 0, 'no slot recreated behind the operator\'s back');

    await resnapshot(d, streamId);
    await pg.query(`UPDATE ${table} SET note = 'after the resnapshot' WHERE id = 6`);
    await waitConverged(pg, table, db, collection);
  });
});

test('MariaDB: a binlog purged past the saved position gives SOURCE_POSITION_LOST; a resnapshot brings MongoDB back equal', async () => {
  await withStream({ source: 'mysql', rows: 20 }, async ({ d, streamId, table, collection, src, db }) => {
    await start(d, streamId);
    await cdcRunning(d, streamId);
    await src.exec(`INSERT INTO ${table} (id, n, note, amount, at) VALUES (500, 1, 'before', 1.0, '2026-12-05 06:00:00')`);
    await waitConverged(src, table, db, collection);
    await stop(d, streamId);
    // Rotate twice and purge everything before the newest file: the saved position's file is gone.
    await src.exec('FLUSH BINARY LOGS');
    await changeWhileLost(src, table, () => '?');
    await src.exec('FLUSH BINARY LOGS');
    // MariaDB keeps a file a binlog dump thread still reads (the stopped stream's, until the
    // server notices it left): purge until only the newest file is left.
    const my = await myClient();
    try {
      await waitFor(
        async () => {
          const logs = await my.query<{ Log_name: string }>('SHOW BINARY LOGS');
          if (logs.length === 1) return true;
          await my.query(`PURGE BINARY LOGS TO '${logs[logs.length - 1]!.Log_name}'`);
          return false;
        },
        { timeoutMs: 60000, intervalMs: 500, message: 'the binlog purged up to the newest file' },
      );
    } finally {
      await my.end();
    }
    await failsLost(d, streamId, /binary log .* is no longer on the server/);

    await resnapshot(d, streamId);
    await src.exec(`UPDATE ${table} SET note = 'after the resnapshot' WHERE id = 6`);
    await waitConverged(src, table, db, collection);
  });
});
