/**
 * Relational Migrator's job API against the real daemon and the stack: a job posted
 * with RM's exact request (a JDBC URL, a MongoDB connection string, options, table
 * filters) runs, and GET /jobs/{id} reports it in RM's shape while the rows arrive in
 * MongoDB. 470 for a second POST while it runs, 440 for a connection string without a
 * database, a 4xx naming the supported types for ORACLE; a MariaDB JDBC URL too.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createOrders, E2E_ADMIN_KEY, mongoDb, pgClient, uid, waitConverged } from '../helpers/pipeline';
import { createMyOrders, myClient, myOrders } from '../helpers/mysql-pipeline';
import { stackUrls } from '../helpers/stack';
import { startDaemon, tmpDataDir, type RunningDaemon } from '../helpers/daemon';
import { waitFor } from '../helpers/wait-for';

/** postgresql://u:p@h:port/db → jdbc:<sub>://h:port/db, with the credentials apart (RM's form). */
function toJdbc(url: string, sub: string): { url: string; user: string; password: string } {
  const u = new URL(url);
  return { url: `jdbc:${sub}://${u.host}${u.pathname}`, user: decodeURIComponent(u.username), password: decodeURIComponent(u.password) };
}

/**
 * The stack's password is also its user and database name ("sluice"), so a bare
 * substring test proves nothing: look for it where a password would sit.
 */
function assertNoPassword(answer: unknown, password: string): void {
  const text = JSON.stringify(answer);
  assert.ok(!/password=/i.test(text), `a password parameter in ${text}`);
  assert.ok(!text.includes(`:${password}@`) && !text.includes(`:${encodeURIComponent(password)}@`), `a password in a URL in ${text}`);
  assert.ok(!text.includes(`"password":`), `a password field in ${text}`);
}

const mongoUrl = (db: string): string => {
  const u = new URL(stackUrls().mongodb);
  u.pathname = `/${db}`;
  return u.toString();
};

const jobBody = (project: string, jdbcConnectionDetails: Record<string, unknown>, db: string, over: Record<string, unknown> = {}) => ({
  // RM's projectIds are ^[A-Za-z0-9-]+$; table names here have underscores.
  projectId: project.replace(/_/g, '-'),
  jdbcConnectionDetails,
  mongodbConnectionDetails: { connectionString: mongoUrl(db) },
  options: { mode: 'CDC', dropCollections: false, errorHandling: 'FAIL', errorTolerance: 0 },
  verification: { enabled: false },
  ...over,
});

async function cleanup(d: RunningDaemon, jobId: string | undefined): Promise<void> {
  if (!jobId) return;
  await d.api(`/api/v1/streams/${jobId}/stop`, { method: 'POST' }).catch(() => undefined);
  // Deleting the stream drops its replication slot.
  const del = await d.api(`/api/v1/streams/${jobId}`, { method: 'DELETE' }).catch(() => undefined);
  if (del && del.status !== 204) console.error(`could not delete stream ${jobId}: ${JSON.stringify(del.body)}`);
}

test('a PostgreSQL job posted in RM\'s request shape runs: RM\'s job view with statistics moving, the filtered rows in MongoDB; 470, 440 and ORACLE refused', async () => {
  const name = `rmjob_${uid()}`;
  const table = `public.${name}`;
  const pg = await pgClient();
  const mongo = await mongoDb(name);
  await createOrders(pg, table, 200);
  const d = await startDaemon(tmpDataDir(), {}, { adminKey: E2E_ADMIN_KEY });
  let jobId: string | undefined;
  try {
    const pgJdbc = toJdbc(stackUrls().postgres, 'postgresql');
    // The JDBC style: credentials as query parameters of the URL.
    const details = { type: 'POSTGRESQL', url: `${pgJdbc.url}?user=${encodeURIComponent(pgJdbc.user)}&password=${encodeURIComponent(pgJdbc.password)}` };
    const filters = { public: { [name]: { whereClause: 'n % 2 = 0' } } };
    const posted = await d.api('/api/v1/jobs', { method: 'POST', body: jobBody(name, details, name, { relationalTableFilters: filters }) });
    assert.equal(posted.status, 200, JSON.stringify(posted.body));
    jobId = posted.body.id as string;
    assert.equal(posted.body.status, 'RUNNING');
    assert.equal(posted.body.projectId, name.replace(/_/g, '-'));
    assert.equal(posted.body.options.mode, 'CDC');
    assertNoPassword(posted.body, pgJdbc.password);

    const filtered = `(SELECT * FROM ${table} WHERE n % 2 = 0) AS f`;
    await waitConverged(pg, filtered, mongo.db, name);
    await waitFor(async () => (await d.api(`/api/v1/jobs/${jobId}`)).body.cdcStatus === 'RUNNING', { timeoutMs: 60000, message: 'CDC running' });
    const first = (await d.api(`/api/v1/jobs/${jobId}`)).body;
    assert.equal(first.status, 'RUNNING');
    assert.equal(first.statistics.snapshotCompleted, true);
    assert.equal(first.statistics.totalEventsSeen, 100, 'the snapshot read the 100 rows the filter keeps');
    assert.equal(first.statistics.totalTableCount, 1);
    assert.deepEqual(first.relationalTableFilters, filters);
    assert.equal(first.jdbcConnectionString, `${pgJdbc.url}?user=${encodeURIComponent(pgJdbc.user)}`);

    await pg.query(`INSERT INTO ${table} SELECT g, g, 'cdc', 1.00, date_trunc('milliseconds', now()) FROM generate_series(1000, 1009) g`);
    await waitConverged(pg, filtered, mongo.db, name);
    await waitFor(async () => (await d.api(`/api/v1/jobs/${jobId}`)).body.cdcStatistics.totalEventsSeen >= 5, { timeoutMs: 60000, message: 'CDC events counted' });
    assert.equal(await mongo.db.collection(name).countDocuments({ _id: 1001 as never }), 0, 'an odd n stays out');
    const cdcStats = (await d.api(`/api/v1/jobs/${jobId}`)).body.cdcStatistics;
    assert.ok(cdcStats.eventsInLastMinute >= 5 && cdcStats.eventsInLastHour >= cdcStats.eventsInLastMinute, JSON.stringify(cdcStats));
    assert.ok(!Number.isNaN(Date.parse(cdcStats.lastEventTime)), JSON.stringify(cdcStats));

    // A second POST while it runs: RM's 470, the job untouched.
    const again = await d.api('/api/v1/jobs', { method: 'POST', body: jobBody(name, details, name, { options: { mode: 'SNAPSHOT' } }) });
    assert.equal(again.status, 470, JSON.stringify(again.body));
    assert.equal(again.body.jobId, jobId);
    assert.equal(typeof again.body.message, 'string');
    assert.ok(!Number.isNaN(Date.parse(again.body.timestamp)));
    assert.equal((await d.api(`/api/v1/jobs/${jobId}`)).body.options.mode, 'CDC');

    // No database in the MongoDB connection string: RM's 440.
    const nodb = await d.api('/api/v1/jobs', { method: 'POST', body: { ...jobBody(`${name}-x`, details, name), mongodbConnectionDetails: { connectionString: stackUrls().mongodb } } });
    assert.equal(nodb.status, 440, JSON.stringify(nodb.body));
    assert.match(nodb.body.message, /database/);

    // A source type sluice does not read: a 400 naming the ones it does.
    const oracle = await d.api('/api/v1/jobs', { method: 'POST', body: jobBody(`${name}-o`, { type: 'ORACLE', url: 'jdbc:oracle:thin:@127.0.0.1:1521:XE', user: 'u', password: 'p' }, name) });
    assert.equal(oracle.status, 400);
    assert.equal(oracle.body.error.code, 'CONNECTOR_UNKNOWN');
    assert.match(oracle.body.error.message, /POSTGRESQL, MYSQL, MARIADB/);

    // The job is a stream: its runs and logs are there.
    const runs = await d.api(`/api/v1/streams/${jobId}/runs`);
    assert.equal(runs.body.total, 1);
    assert.equal(runs.body.items[0].endedAt, null);
    assert.ok(runs.body.items[0].counters.snapshotRows >= 100, `the open run's counters are live: ${JSON.stringify(runs.body.items[0])}`);
    const logs = await d.api(`/api/v1/streams/${jobId}/logs?level=INFO&stage=INITIALIZATION`);
    assert.ok(logs.body.total >= 1, JSON.stringify(logs.body));
    assertNoPassword((await d.api(`/api/v1/jobs/${jobId}`)).body, pgJdbc.password);
    assertNoPassword((await d.api('/api/v1/connections')).body, pgJdbc.password);
    assert.ok(!/password=(?!\[)/i.test(d.output()), 'no password parameter in the daemon log');
  } finally {
    await cleanup(d, jobId);
    await d.stop('SIGTERM');
    await pg.query(`DROP TABLE IF EXISTS ${table}`).catch(() => undefined);
    await mongo.db.dropDatabase().catch(() => undefined);
    await mongo.client.close();
    await pg.end();
  }
});

test('a MariaDB job (jdbc:mariadb:// with user and password beside the URL) takes its SNAPSHOT into MongoDB and completes', async () => {
  const name = `rmjob_${uid()}`;
  const my = await myClient();
  const src = await myOrders();
  const table = src.table(name);
  const [schema] = table.split('.') as [string];
  const mongo = await mongoDb(name);
  await createMyOrders(my, table, 150);
  const d = await startDaemon(tmpDataDir(), {}, { adminKey: E2E_ADMIN_KEY });
  let jobId: string | undefined;
  try {
    const jdbc = toJdbc(stackUrls().mysql, 'mariadb');
    const posted = await d.api('/api/v1/jobs', {
      method: 'POST',
      body: jobBody(name, { type: 'MARIADB', url: jdbc.url, user: jdbc.user, password: jdbc.password, savePassword: true }, name, {
        options: { mode: 'SNAPSHOT' },
        relationalTableFilters: { [schema]: { [name]: {} } },
      }),
    });
    assert.equal(posted.status, 200, JSON.stringify(posted.body));
    jobId = posted.body.id as string;
    await waitFor(async () => (await d.api(`/api/v1/jobs/${jobId}`)).body.status === 'COMPLETED', { timeoutMs: 120000, message: 'the SNAPSHOT job completes' });
    const done = (await d.api(`/api/v1/jobs/${jobId}`)).body;
    assert.equal(done.cdcStatus, 'NOT_STARTED', 'a SNAPSHOT job has no CDC phase');
    assert.equal(done.statistics.totalEventsSeen, 150);
    assert.equal('cdcStatistics' in done, false);
    await waitConverged(src, table, mongo.db, name);
    const conn = await d.api(`/api/v1/connections?name=rm-${name.replace(/_/g, '-')}-source`);
    assert.equal(conn.body.items[0].kind, 'mysql');
    assert.equal(conn.body.items[0].hasPassword, true, 'savePassword:true stores it (encrypted)');
    assertNoPassword(conn.body, jdbc.password);
    assertNoPassword(done, jdbc.password);
  } finally {
    await cleanup(d, jobId);
    await d.stop('SIGTERM');
    await my.query(`DROP TABLE IF EXISTS ${table}`).catch(() => undefined);
    await mongo.db.dropDatabase().catch(() => undefined);
    await mongo.client.close();
    await src.end().catch(() => undefined);
    await my.end().catch(() => undefined);
  }
});
