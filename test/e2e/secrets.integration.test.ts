/**
 * Passwords are write-only (issues 7 and 22): a real daemon at debug level, connections made
 * with known unique passwords (PostgreSQL and MariaDB users created for the test, a
 * MongoDB URL with a password), every route that returns connections, streams, tests,
 * validation and errors exercised — a failing test with a wrong password, stream runs
 * through Kafka, a failed run, a crash and restart — then the daemon's whole log, every
 * API response body and the SQLite files (sluice.db, -wal, -shm) are searched for each
 * password: plain, URL-encoded and base64. None may appear anywhere. A connection saved
 * with savePassword:false leaves not even its encrypted password in the store: it is
 * supplied at start, kept in memory, and a restarted daemon fails the stream with
 * CONNECTION_PASSWORD_REQUIRED naming the connection until it is started with it again.
 * Issue 22: every URL form (multi-host MongoDB, mongodb+srv, JDBC parameters, an
 * unencoded "@", several hosts, a bad port, an unencoded "/", "#" or "&", a Kafka broker
 * list with credentials, a second secret parameter; POST and PATCH) goes in with a
 * password of its own, which is then searched for like the others; a password with
 * "%", "@", ":" and "/" works for the test, browsing and a Relational Migrator job.
 * A connection whose password is read from a file (passwordFile) is searched for too.
 * The audit trail (issue 21) is part of the search: every mutating call above is in
 * GET /api/v1/audit and in the log as an `audit: true` line, and neither holds a password.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import Database from 'better-sqlite3';
import { createOrders, E2E_ADMIN_KEY, mongoDb, pgClient, uid, waitConverged } from '../helpers/pipeline';
import { myClient, myDatabase } from '../helpers/mysql-pipeline';
import { stackUrls } from '../helpers/stack';
import { startDaemon, tmpDataDir, type ApiAnswer, type RunningDaemon } from '../helpers/daemon';
import { waitFor } from '../helpers/wait-for';

/** Every form a password could leak in. */
function forms(pw: string): string[] {
  const b64 = (s: string) => Buffer.from(s).toString('base64');
  const out = new Set([pw, encodeURIComponent(pw), encodeURI(pw), b64(pw).slice(0, -4)]);
  // Base64 inside a longer string depends on the alignment: the two other offsets.
  out.add(b64(`a${pw}`).slice(4, -4));
  out.add(b64(`ab${pw}`).slice(4, -4));
  return [...out].filter((f) => f.length >= 8);
}

test('no password appears in the logs, the API answers or the store files; savePassword:false stores none and is supplied at start', async () => {
  const id = uid();
  // Characters that URL encoding changes, so each form is distinct.
  const pgPw = `pgPw-${id}@:/x`;
  const pgNoSavePw = `pgNs-${id}#?y`;
  const myPw = `myPw-${id}@z`;
  const mongoPw = `moPw-${id}@w`;
  const pgFilePw = `pgFi-${id}&=v`;
  // Issue 22: a password with "%", "@", ":" and "/" (URI malformed, a 500 and a FAILED job before).
  const pctPw = `p@ss:w/rd%Zq7-${id}`;
  const pctUser = `pct_${id}`;
  // Issue 22: one password per URL form sluice must split off or refuse (test/e2e is where they are searched for).
  const formPw = (n: number) => `Form${n}${{ 3: 'P@w', 7: 'P/w', 8: 'P#w', 10: 'P&w' }[n] ?? 'Pw'}${id}x`;
  const secrets = [pgPw, pgNoSavePw, myPw, mongoPw, pgFilePw, pctPw, ...Array.from({ length: 14 }, (_, i) => formPw(i))];
  const pgUser = `sec_${id}`;
  const pgUser2 = `secns_${id}`;
  const pgUser3 = `secfile_${id}`;
  const secretsDir = tmpDataDir('sluice-secrets-files-');
  fs.writeFileSync(path.join(secretsDir, 'pg'), `${pgFilePw}\n`, { mode: 0o600 });
  const myUser = `sec_${id}`;
  const table = `public.sec_${id}`;
  const logDir = tmpDataDir('sluice-secrets-log-');
  const previousLogDir = process.env.SLUICE_E2E_DAEMON_LOG;
  process.env.SLUICE_E2E_DAEMON_LOG = logDir;

  const pg = await pgClient();
  const my = await myClient();
  const mongo = await mongoDb(`sec_${id}`);
  await pg.query(`CREATE ROLE ${pgUser} LOGIN SUPERUSER PASSWORD '${pgPw}'`);
  await pg.query(`CREATE ROLE ${pgUser2} LOGIN SUPERUSER PASSWORD '${pgNoSavePw}'`);
  await pg.query(`CREATE ROLE ${pgUser3} LOGIN SUPERUSER PASSWORD '${pgFilePw}'`);
  await my.query(`CREATE USER '${myUser}'@'%' IDENTIFIED BY '${myPw}'`);
  await my.query(`GRANT ALL PRIVILEGES ON *.* TO '${myUser}'@'%'`);
  await pg.query(`CREATE ROLE ${pctUser} LOGIN SUPERUSER PASSWORD '${pctPw}'`);
  await createOrders(pg, table, 20);

  const answers: string[] = [];
  const dataDir = tmpDataDir();
  const env = { SLUICE_LOG_LEVEL: 'debug', SLUICE_KAFKA_BROKERS: stackUrls().kafka, SLUICE_SECRETS_FILE_DIR: secretsDir };
  let d: RunningDaemon = await startDaemon(dataDir, env, { adminKey: E2E_ADMIN_KEY });
  const call = async (p: string, init?: { method?: string; body?: unknown; headers?: Record<string, string> }): Promise<ApiAnswer> => {
    const r = await d.api(p, init);
    answers.push(`${init?.method ?? 'GET'} ${p} ${r.status} ${JSON.stringify(r.body)}`);
    return r;
  };
  const streams: string[] = [];
  try {
    const pgUrl = new URL(stackUrls().postgres);
    const myUrl = new URL(stackUrls().mysql);
    const mongoUrl = new URL(stackUrls().mongodb);
    const withUser = (u: URL, user: string, pw: string | null, db?: string): string => {
      const v = new URL(u.toString());
      v.username = user;
      v.password = pw === null ? '' : encodeURIComponent(pw);
      if (db) v.pathname = `/${db}`;
      return v.toString();
    };
    const made = async (body: Record<string, unknown>): Promise<string> => {
      const r = await call('/api/v1/connections', { method: 'POST', body });
      assert.equal(r.status, 201, JSON.stringify(r.body));
      return r.body.id as string;
    };
    // The password in the URL, URL-encoded; in the `password` field; in a JDBC URL; in a MongoDB URL.
    const pgConn = await made({ name: `pg-${id}`, kind: 'postgresql', url: withUser(pgUrl, pgUser, pgPw) });
    const pgNoSave = await made({ name: `pgns-${id}`, kind: 'postgresql', url: withUser(pgUrl, pgUser2, null), password: pgNoSavePw, savePassword: false });
    const myConn = await made({ name: `my-${id}`, kind: 'mysql', url: `jdbc:${withUser(myUrl, myUser, myPw)}` });
    const mongoAuth = await made({ name: `moauth-${id}`, kind: 'mongodb', url: withUser(mongoUrl, 'someone', mongoPw, `sec_${id}`) });
    const pgFile = await made({ name: `pgfile-${id}`, kind: 'postgresql', url: withUser(pgUrl, pgUser3, null), passwordFile: path.join(secretsDir, 'pg') });
    const sinkUrl = new URL(stackUrls().mongodb);
    sinkUrl.pathname = `/sec_${id}`;
    const sink = await made({ name: `mo-${id}`, kind: 'mongodb', url: sinkUrl.toString() });
    assert.equal((await call(`/api/v1/connections/${pgNoSave}`)).body.hasPassword, false);
    assert.equal((await call(`/api/v1/connections/${pgConn}`)).body.hasPassword, true);

    // Issue 22: every URL form with a password goes in; each is split off (201) or refused (400, nothing stored).
    const host = `${pgUrl.hostname}:${pgUrl.port}`;
    const mongoHost = `${mongoUrl.hostname}:${mongoUrl.port}`;
    const urlForms: Array<[string, string, number]> = [
      ['mongodb', `mongodb://someone:${formPw(0)}@${mongoHost},${mongoHost}/sec_${id}?connectTimeoutMS=2000`, 201], // multi-host
      ['mongodb', `mongodb+srv://someone:${formPw(1)}@cluster.invalid/sec_${id}`, 201],
      ['postgresql', `jdbc:postgresql://${host}/sluice?user=sluice&password=${formPw(2)}`, 201],
      ['postgresql', `postgresql://sluice:${formPw(3)}@${host}/sluice`, 201], // an unencoded "@"
      ['mysql', `jdbc:mariadb://${myUrl.host}/sluice?password=${formPw(4)}&user=sluice&useSSL=false`, 201],
      ['postgresql', `postgresql://sluice:${formPw(5)}@${host},${host}/sluice`, 400], // several hosts for a source
      ['postgresql', `postgresql://sluice:${formPw(6)}@${pgUrl.hostname}:999999/sluice`, 400],
      ['postgresql', `postgresql://sluice:${formPw(7)}@${host}/sluice`, 400], // an unencoded "/"
      ['mysql', `mysql://sluice:${formPw(8)}@${myUrl.host}/sluice`, 400],
      ['kafka', `kafka://user:${formPw(9)}@${stackUrls().kafka},${stackUrls().kafka}`, 400],
      ['mysql', `jdbc:mysql://${myUrl.host}/sluice?user=sluice&password=${formPw(10)}`, 400], // an unencoded "&"
      ['mongodb', `mongodb://u:pw@${mongoHost}/db?tlsCertificateKeyFilePassword=${formPw(11)}`, 400],
    ];
    const formIds: string[] = [];
    for (const [n, [kind, url, status]] of urlForms.entries()) {
      const r = await call('/api/v1/connections', { method: 'POST', body: { name: `form${n}-${id}`, kind, url } });
      assert.equal(r.status, status, `${url}: ${JSON.stringify(r.body)}`);
      if (status === 201) {
        assert.equal(r.body.hasPassword, true, url);
        formIds.push(r.body.id);
      } else assert.equal(r.body.error.code, 'CONNECTION_URL_INVALID', url);
    }
    // PATCH the same way: a multi-host PostgreSQL URL is refused, a multi-host MongoDB URL is split.
    const patchedBad = await call(`/api/v1/connections/${formIds[2]}`, { method: 'PATCH', body: { url: `postgresql://sluice:${formPw(12)}@${host},${host}/sluice` } });
    assert.equal(patchedBad.status, 400);
    const patchedOk = await call(`/api/v1/connections/${formIds[0]}`, { method: 'PATCH', body: { url: `mongodb://someone:${formPw(13)}@${mongoHost},${mongoHost}/sec_${id}` } });
    assert.equal(patchedOk.status, 200, JSON.stringify(patchedOk.body));
    const viewerKey = (await call('/api/v1/api-keys', { method: 'POST', body: { name: `sec-viewer-${id}`, role: 'viewer' } })).body.key as string;
    answers.push(JSON.stringify((await d.api('/api/v1/connections?limit=1000', { key: viewerKey })).body));
    for (const c of formIds) await call(`/api/v1/connections/${c}/test`, { method: 'POST', body: {} }); // bounded whatever answers; only leaks matter
    // The runtime gets the JDBC and the "@" passwords back: those connections work.
    assert.equal((await call(`/api/v1/connections/${formIds[2]}/test`, { method: 'POST', body: {} })).body.ok, false, 'a made-up password fails, as it should');

    // A password with "%", "@", ":" and "/": from the field, URL-encoded, and as a JDBC parameter,
    // the test, browsing and a Relational Migrator job work with it.
    const pctTable = `public.pct_${id}`;
    await createOrders(pg, pctTable, 5);
    const pctConns = [
      await made({ name: `pct-field-${id}`, kind: 'postgresql', url: withUser(pgUrl, pctUser, null), password: pctPw }),
      await made({ name: `pct-url-${id}`, kind: 'postgresql', url: withUser(pgUrl, pctUser, pctPw) }),
      await made({ name: `pct-jdbc-${id}`, kind: 'postgresql', url: `jdbc:postgresql://${host}/sluice?user=${pctUser}&password=${encodeURIComponent(pctPw)}` }),
    ];
    for (const c of pctConns) {
      const t = await call(`/api/v1/connections/${c}/test`, { method: 'POST', body: {} });
      assert.equal(t.body.ok, true, JSON.stringify(t.body));
      const rows = await call(`/api/v1/connections/${c}/tables/${pctTable}/rows?limit=2`);
      assert.equal(rows.status, 200, JSON.stringify(rows.body));
    }
    const rmSink = new URL(stackUrls().mongodb);
    rmSink.pathname = `/sec_${id}`;
    const job = await call('/api/v1/jobs', {
      method: 'POST',
      body: {
        projectId: `pct-${id}`,
        jdbcConnectionDetails: { type: 'POSTGRESQL', url: `jdbc:postgresql://${host}/sluice?user=${pctUser}&password=${encodeURIComponent(pctPw)}`, savePassword: true },
        mongodbConnectionDetails: { connectionString: rmSink.toString() },
        options: { mode: 'SNAPSHOT', dropCollections: true, errorHandling: 'FAIL', errorTolerance: 0 },
        verification: { enabled: false },
        relationalTableFilters: { public: { [`pct_${id}`]: {} } },
      },
    });
    assert.equal(job.status, 200, JSON.stringify(job.body));
    streams.push(job.body.id);
    await waitFor(async () => (await call(`/api/v1/jobs/${job.body.id}`)).body.status === 'COMPLETED', { timeoutMs: 60000, intervalMs: 300, message: 'the RM job with a "%" password completes' });
    assert.equal(await mongo.db.collection(`pct_${id}`).countDocuments(), 5);

    // Reads, a patch that sets a password through the field, tests good and bad.
    await call('/api/v1/connections');
    for (const c of [pgConn, pgNoSave, myConn, mongoAuth, sink, pgFile]) await call(`/api/v1/connections/${c}`);
    assert.equal((await call(`/api/v1/connections/${pgFile}/test`, { method: 'POST', body: {} })).body.ok, true, 'the password file is read');
    assert.equal((await call(`/api/v1/connections/${pgFile}/tables?table=${table.split('.')[1]}`)).status, 200);
    assert.equal((await call(`/api/v1/connections/${myConn}`, { method: 'PATCH', body: { password: myPw } })).status, 200);
    assert.equal((await call(`/api/v1/connections/${pgConn}/test`, { method: 'POST', body: {} })).body.ok, true);
    assert.equal((await call(`/api/v1/connections/${myConn}/test`, { method: 'POST', body: {} })).body.ok, true);
    await call(`/api/v1/connections/${mongoAuth}/test`, { method: 'POST', body: {} }); // FerretDB may refuse the credentials: only the leak matters
    const needs = await call(`/api/v1/connections/${pgNoSave}/test`, { method: 'POST', body: {} });
    assert.equal(needs.status, 400);
    assert.equal(needs.body.error.code, 'CONNECTION_PASSWORD_REQUIRED');
    assert.equal(needs.body.error.detail.connectionId, pgNoSave);
    assert.equal((await call(`/api/v1/connections/${pgNoSave}/test`, { method: 'POST', body: { password: pgNoSavePw } })).body.ok, true);
    // Browsing a savePassword:false connection: 400 naming it without the header, the catalogue with it.
    const pw = { 'X-Connection-Password': pgNoSavePw };
    const [tSchema, tName] = table.split('.');
    for (const p of [`/api/v1/connections/${pgNoSave}/tables?table=${tName}`, `/api/v1/connections/${pgNoSave}/tables/${table}/columns`, `/api/v1/connections/${pgNoSave}/tables/${table}/rows?limit=3`]) {
      const without = await call(p);
      assert.equal(without.status, 400, `${p}: ${JSON.stringify(without.body)}`);
      assert.equal(without.body.error.code, 'CONNECTION_PASSWORD_REQUIRED');
      assert.equal(without.body.error.detail.connectionId, pgNoSave);
      assert.match(without.body.error.suggestion, /X-Connection-Password/);
      assert.equal((await call(p, { headers: pw })).status, 200, p);
    }
    const listed = await call(`/api/v1/connections/${pgNoSave}/tables?table=${tName}`, { headers: pw });
    assert.deepEqual(listed.body.items, [{ schema: tSchema, table: tName, name: table }]);
    assert.equal((await call(`/api/v1/connections/${pgNoSave}/tables/${table}/rows?limit=3`, { headers: pw })).body.rows.length, 3);
    const badHeader = await call(`/api/v1/connections/${pgNoSave}/tables`, { headers: { 'X-Connection-Password': `${pgPw}-wrong` } });
    assert.equal(badHeader.status, 502, 'a wrong password: the source refuses, the answer names no password');
    const wrong = await call(`/api/v1/connections/${pgNoSave}/test`, { method: 'POST', body: { password: `${pgPw}-wrong` } });
    assert.equal(wrong.body.ok, false, 'a wrong password fails the test');
    assert.equal(wrong.body.reachable, false);

    // Validation, with and without the supplied password.
    const spec = (source: string, name: string) => ({ name, source: { connectionId: source }, sink: { connectionId: sink }, transport: { kind: 'kafka' }, tables: [table], options: { heartbeatIntervalMs: 500 } });
    assert.equal((await call('/api/v1/validate', { method: 'POST', body: spec(pgConn, 'v1') })).body.ok, true);
    assert.equal((await call('/api/v1/validate', { method: 'POST', body: { ...spec(pgNoSave, 'v2'), passwords: { [pgNoSave]: pgNoSavePw } } })).body.ok, true);
    assert.equal((await call('/api/v1/validate', { method: 'POST', body: spec(pgNoSave, 'v3') })).body.ok, false);
    await call('/api/v1/validate', { method: 'POST', body: { ...spec(myConn, 'v4'), tables: [`${myDatabase()}.nope_${id}`] } });

    // A stream run through Kafka on the saved password.
    const s1 = (await call('/api/v1/streams', { method: 'POST', body: spec(pgConn, `s1-${id}`) })).body.id as string;
    streams.push(s1);
    assert.equal((await call(`/api/v1/streams/${s1}/start`, { method: 'POST', body: {} })).status, 202);
    await waitFor(async () => (await call(`/api/v1/streams/${s1}`)).body.cdcStatus === 'RUNNING', { timeoutMs: 60000, intervalMs: 200, message: 's1 CDC running' });
    await pg.query(`INSERT INTO ${table} VALUES (1000, 1, 'cdc', 1.00, now())`);
    await waitConverged(pg, table, mongo.db, `sec_${id}`);
    for (const p of ['', '/stats', '/runs', '/logs']) await call(`/api/v1/streams/${s1}${p}`);
    await call('/api/v1/streams');
    assert.equal((await call(`/api/v1/streams/${s1}/stop`, { method: 'POST' })).status, 202);

    // savePassword:false: refused without the password (naming the connection), runs with it.
    const s2 = (await call('/api/v1/streams', { method: 'POST', body: { ...spec(pgNoSave, `s2-${id}`), transport: { kind: 'direct' } } })).body.id as string;
    streams.push(s2);
    const refused = await call(`/api/v1/streams/${s2}/start`, { method: 'POST' });
    assert.equal(refused.status, 400);
    assert.equal(refused.body.error.code, 'CONNECTION_PASSWORD_REQUIRED');
    assert.equal(refused.body.error.detail.connectionId, pgNoSave);
    assert.equal((await call(`/api/v1/streams/${s2}/start`, { method: 'POST', body: { passwords: { [pgNoSave]: pgNoSavePw } } })).status, 202);
    await waitFor(async () => (await call(`/api/v1/streams/${s2}`)).body.cdcStatus === 'RUNNING', { timeoutMs: 60000, intervalMs: 200, message: 's2 CDC running' });
    // Pause and resume reuse the password kept in memory.
    assert.equal((await call(`/api/v1/streams/${s2}/pause`, { method: 'POST' })).status, 202);
    assert.equal((await call(`/api/v1/streams/${s2}/resume`, { method: 'POST', body: {} })).status, 202);
    await waitFor(async () => (await call(`/api/v1/streams/${s2}`)).body.cdcStatus === 'RUNNING', { timeoutMs: 60000, intervalMs: 200, message: 's2 running again after resume' });

    // A crash: the restarted daemon has no password for s2 and says so; s1 (stopped) is untouched.
    await d.stop('SIGKILL');
    d = await startDaemon(dataDir, env, { adminKey: E2E_ADMIN_KEY });
    await waitFor(async () => (await call(`/api/v1/streams/${s2}`)).body.state === 'FAILED', { timeoutMs: 30000, intervalMs: 200, message: 's2 FAILED after restart' });
    const failed = (await call(`/api/v1/streams/${s2}`)).body;
    assert.equal(failed.failureError.code, 'CONNECTION_PASSWORD_REQUIRED');
    assert.match(failed.failureError.message, new RegExp(pgNoSave));
    // Verify and preview read through the connections: the restarted daemon holds no password, so the body brings it.
    for (const [route, body] of [['verify', {}], ['mapping/preview', { limit: 2 }]] as const) {
      const without = await call(`/api/v1/streams/${s2}/${route}`, { method: 'POST', body });
      assert.equal(without.status, 400, `${route}: ${JSON.stringify(without.body)}`);
      assert.equal(without.body.error.code, 'CONNECTION_PASSWORD_REQUIRED');
      assert.equal(without.body.error.detail.connectionId, pgNoSave);
      const withPw = await call(`/api/v1/streams/${s2}/${route}`, { method: 'POST', body: { ...body, passwords: { [pgNoSave]: pgNoSavePw } } });
      assert.equal(withPw.status, 200, `${route}: ${JSON.stringify(withPw.body)}`);
    }
    const verified = await call(`/api/v1/streams/${s2}/verify`, { method: 'POST', body: { passwords: { [pgNoSave]: pgNoSavePw } } });
    assert.equal(verified.body.tables[0].sourceCount, 21);
    const previewed = await call(`/api/v1/streams/${s2}/mapping/preview`, { method: 'POST', body: { limit: 2, passwords: { [pgNoSave]: pgNoSavePw } } });
    assert.equal(previewed.body.collections[0].documents.length, 2);
    // A wrong password supplied at start: the run fails, its error says so without the password.
    assert.equal((await call(`/api/v1/streams/${s2}/start`, { method: 'POST', body: { passwords: { [pgNoSave]: `${pgPw}-wrong` } } })).status, 202);
    await waitFor(async () => (await call(`/api/v1/streams/${s2}`)).body.state === 'FAILED', { timeoutMs: 60000, intervalMs: 200, message: 's2 FAILED on a wrong password' });
    await call(`/api/v1/streams/${s2}/logs`);
    await call(`/api/v1/streams/${s2}/runs`);

    assert.equal((await call(`/api/v1/streams/${s2}/start`, { method: 'POST', body: { passwords: { [pgNoSave]: pgNoSavePw } } })).status, 202);
    await waitFor(async () => (await call(`/api/v1/streams/${s2}`)).body.cdcStatus === 'RUNNING', { timeoutMs: 60000, intervalMs: 200, message: 's2 running with the password again' });
    await call(`/api/v1/streams/${s2}/stop`, { method: 'POST' });
    // Stopped: verify and preview fall back to the passwords of its last start.
    await waitFor(async () => (await call(`/api/v1/streams/${s2}`)).body.state === 'STOPPED', { timeoutMs: 30000, intervalMs: 200, message: 's2 stopped' });
    assert.equal((await call(`/api/v1/streams/${s2}/verify`, { method: 'POST', body: {} })).status, 200, 'verify on the held password');
    assert.equal((await call(`/api/v1/streams/${s2}/mapping/preview`, { method: 'POST' })).status, 200, 'preview on the held password');
    await call('/api/v1/connections/nope');
    await call(`/api/v1/connections/${pgConn}`, { method: 'DELETE' }); // 409: in use
    await call('/openapi.json');
    for (const s of streams) {
      await call(`/api/v1/streams/${s}/stop`, { method: 'POST' });
      assert.equal((await call(`/api/v1/streams/${s}`, { method: 'DELETE' })).status, 204);
    }
    streams.length = 0;

    // The audit trail has the calls above (by their routes and targets), in the API and in the log.
    const trail = await call('/api/v1/audit?limit=1000');
    assert.equal(trail.status, 200);
    const entries = trail.body.items as Array<{ method: string; route: string; targetId: string | null; status: number; keyRole: string | null }>;
    const has = (method: string, route: string, target: string, status: number) =>
      assert.ok(entries.some((e) => e.method === method && e.route === route && e.targetId === target && e.status === status && e.keyRole === 'admin'), `audit: ${method} ${route} ${target} ${status}`);
    for (const c of [pgConn, pgNoSave, myConn, mongoAuth, sink, pgFile]) has('POST', '/api/v1/connections', c, 201);
    has('PATCH', '/api/v1/connections/:id', myConn, 200);
    has('POST', '/api/v1/streams/:id/start', s2, 400);
    has('POST', '/api/v1/streams/:id/start', s2, 202);
    has('POST', '/api/v1/streams/:id/verify', s2, 200);
    has('DELETE', '/api/v1/connections/:id', pgConn, 409);
    has('DELETE', '/api/v1/streams/:id', s2, 204);
    assert.ok(!entries.some((e) => e.route.endsWith('/test') || e.route === '/api/v1/validate'), 'read-only calls are not audited');
    await d.stop('SIGTERM');

    // The store: savePassword:false left no secret at all, the others only encrypted ones.
    const db = new Database(path.join(dataDir, 'sluice.db'), { readonly: true });
    try {
      const rows = db.prepare('SELECT id, secret FROM connections').all() as Array<{ id: string; secret: string | null }>;
      assert.equal(rows.find((r) => r.id === pgNoSave)?.secret, null, 'savePassword:false: no encrypted password stored');
      assert.ok(rows.find((r) => r.id === pgConn)?.secret, 'the saved password is stored (encrypted)');
    } finally {
      db.close();
    }

    // The search.
    const haystacks: Array<[string, Buffer]> = [['API answers', Buffer.from(answers.join('\n'))]];
    const logs = fs.readdirSync(logDir).map((f) => path.join(logDir, f));
    assert.ok(logs.length >= 2, 'both daemons logged');
    for (const f of logs) haystacks.push([`log ${f}`, fs.readFileSync(f)]);
    const logText = logs.map((f) => fs.readFileSync(f, 'utf8')).join('');
    assert.match(logText, /"level":20/, 'the log is at debug level');
    assert.match(logText, /CONNECTION_PASSWORD_REQUIRED/);
    const auditLines = logText.split('\n').filter((l) => l.includes('"audit":true'));
    assert.ok(auditLines.length >= 20, `${auditLines.length} audit log lines`);
    assert.ok(auditLines.every((l) => /"level":30/.test(l)), 'audit lines at info');
    haystacks.push(['audit log lines', Buffer.from(auditLines.join('\n'))]);
    for (const f of ['sluice.db', 'sluice.db-wal', 'sluice.db-shm']) {
      const p = path.join(dataDir, f);
      if (fs.existsSync(p)) haystacks.push([f, fs.readFileSync(p)]);
    }
    assert.ok(haystacks.some(([n]) => n === 'sluice.db'));
    // The audit table on its own, read from the store.
    const auditDb = new Database(path.join(dataDir, 'sluice.db'), { readonly: true });
    try {
      const rows = auditDb.prepare('SELECT * FROM audit_log').all();
      assert.ok(rows.length >= 20, `${rows.length} audit rows`);
      haystacks.push(['audit table', Buffer.from(JSON.stringify(rows))]);
    } finally {
      auditDb.close();
    }
    for (const secret of secrets) {
      for (const form of forms(secret)) {
        for (const [where, hay] of haystacks) {
          assert.equal(hay.includes(form), false, `password form "${form}" found in ${where}`);
        }
      }
    }
    // The search can find what it looks for: the user names are there.
    assert.ok(haystacks.some(([, hay]) => hay.includes(pgUser2)), 'the searched material holds the connections');
  } finally {
    for (const s of streams) {
      await d.api(`/api/v1/streams/${s}/stop`, { method: 'POST' }).catch(() => undefined);
      await d.api(`/api/v1/streams/${s}`, { method: 'DELETE' }).catch(() => undefined);
    }
    await d.stop('SIGTERM');
    if (previousLogDir === undefined) delete process.env.SLUICE_E2E_DAEMON_LOG;
    else process.env.SLUICE_E2E_DAEMON_LOG = previousLogDir;
    await pg.query(`DROP TABLE IF EXISTS ${table}`).catch(() => undefined);
    fs.rmSync(secretsDir, { recursive: true, force: true });
    await pg.query(`DROP TABLE IF EXISTS public.pct_${id}`).catch(() => undefined);
    for (const u of [pgUser, pgUser2, pgUser3, pctUser]) {
      await pg.query(`SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = $1`, [u]).catch(() => undefined);
      await pg.query(`DROP ROLE IF EXISTS ${u}`).catch(() => undefined);
    }
    await my.query(`DROP USER IF EXISTS '${myUser}'@'%'`).catch(() => undefined);
    await mongo.db.dropDatabase().catch(() => undefined);
    await mongo.client.close();
    await pg.end();
    await my.end();
  }
});
