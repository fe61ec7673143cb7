/**
 * Issue 21: a kafka connection with TLS and SASL, and a MongoDB sink over TLS, against
 * the stack's SASL_SSL listener (test/stack/tls.sh) and FerretDB's TLS listener, through
 * the real daemon and its API.
 *
 * - The connection test passes for PLAIN and SCRAM-SHA-256, and fails with a code of its
 *   own for a wrong password (KAFKA_AUTH_FAILED), an unknown CA (TLS_CERTIFICATE_UNTRUSTED)
 *   and a broker address the certificate does not name (TLS_HOSTNAME_MISMATCH), which
 *   `servername` then fixes.
 * - sasl.password and tls.key are write-only: in no API answer, sealed in the store file.
 * - A stream PostgreSQL -> Kafka (SCRAM-SHA-512 over mutual TLS; certificate, key and SASL
 *   password read from files) -> FerretDB over TLS (options.tls, then the URL's tlsCAFile) delivers the
 *   table's rows, compared at the end.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { MongoClient } from 'mongodb';
import { cdcRunning, createOrders, E2E_ADMIN_KEY, pgClient, start, streamStatus, uid, waitConverged } from '../helpers/pipeline';
import { waitFor } from '../helpers/wait-for';
import { stackUrls, tlsStack, type KafkaSaslUser } from '../helpers/stack';
import { startDaemon, tmpDataDir, type RunningDaemon } from '../helpers/daemon';

const t = tlsStack();
const users = t.kafkaSaslSsl.users;
const user = (m: KafkaSaslUser['mechanism']): KafkaSaslUser => users.find((u) => u.mechanism === m)!;
const ca = fs.readFileSync(t.ca, 'utf8');
const clientKey = fs.readFileSync(t.clientKey, 'utf8');

/** The secrets directory the daemon may read: the stack's CA, client certificate and key, copied in. */
function secretsDir(): string {
  const dir = tmpDataDir('sluice-tls-secrets-');
  for (const [name, from] of [['ca.pem', t.ca], ['client.pem', t.clientCert], ['client-key.pem', t.clientKey], ['untrusted-ca.pem', t.untrustedCa]] as const) {
    fs.copyFileSync(from, path.join(dir, name));
  }
  return dir;
}

async function connection(d: RunningDaemon, body: Record<string, unknown>): Promise<string> {
  const r = await d.api('/api/v1/connections', { method: 'POST', body });
  assert.equal(r.status, 201, JSON.stringify(r.body));
  return r.body.id as string;
}

async function testOf(d: RunningDaemon, id: string): Promise<{ ok: boolean; checks: Array<{ name: string; ok: boolean; code?: string; message: string; suggestion?: string }> }> {
  const r = await d.api(`/api/v1/connections/${id}/test`, { method: 'POST', body: {} });
  assert.equal(r.status, 200, JSON.stringify(r.body));
  return r.body;
}

test('kafka connection test over SASL_SSL: PLAIN and SCRAM pass; a wrong password, an unknown CA and a wrong host each fail with their code; secrets stay sealed', { timeout: 180_000 }, async () => {
  const dir = secretsDir();
  const dataDir = tmpDataDir();
  const d = await startDaemon(dataDir, { SLUICE_SECRETS_FILE_DIR: dir }, { adminKey: E2E_ADMIN_KEY });
  const { brokers, wrongHostBrokers } = t.kafkaSaslSsl;
  const id = uid();
  const plain = user('plain');
  const scram256 = user('scram-sha-256');
  const wrongPw = `wrong-${id}-pw`;
  try {
    // PLAIN with the CA and a client certificate given as PEM text (tls.key is a secret).
    const plainId = await connection(d, {
      name: `plain-${id}`,
      kind: 'kafka',
      url: brokers,
      options: { tls: { ca, cert: fs.readFileSync(t.clientCert, 'utf8'), key: clientKey }, sasl: { mechanism: 'plain', username: plain.username, password: plain.password } },
    });
    const ok = await testOf(d, plainId);
    assert.equal(ok.ok, true, JSON.stringify(ok.checks));
    assert.deepEqual(ok.checks.map((c) => c.name), ['kafka.brokers', 'kafka.topics']);

    // SCRAM-SHA-256 with the CA from a file inside secrets.fileDir.
    const s256 = await connection(d, { name: `s256-${id}`, kind: 'kafka', url: brokers, options: { tls: { caFile: 'ca.pem' }, sasl: { mechanism: 'scram-sha-256', username: scram256.username, password: scram256.password } } });
    assert.equal((await testOf(d, s256)).ok, true);

    const failing = async (name: string, url: string, options: Record<string, unknown>): Promise<{ code?: string; message: string; suggestion?: string }> => {
      const r = await testOf(d, await connection(d, { name: `${name}-${id}`, kind: 'kafka', url, options }));
      assert.equal(r.ok, false, name);
      const c = r.checks.find((x) => x.name === 'kafka.brokers')!;
      assert.equal(c.ok, false, name);
      assert.ok(c.suggestion && c.suggestion.length > 20, `${name}: a suggestion says what to do`);
      return c;
    };
    const sasl = { mechanism: 'plain', username: plain.username, password: plain.password };
    const badPw = await failing('wrongpw', brokers, { tls: { ca }, sasl: { mechanism: 'scram-sha-512', username: user('scram-sha-512').username, password: wrongPw } });
    assert.equal(badPw.code, 'KAFKA_AUTH_FAILED', badPw.message);
    assert.match(badPw.message, /sluice-scram512 \(scram-sha-512\)/);
    const badPlain = await failing('wrongplain', brokers, { tls: { ca }, sasl: { ...sasl, password: wrongPw } });
    assert.equal(badPlain.code, 'KAFKA_AUTH_FAILED', badPlain.message);
    const unknownCa = await failing('unknownca', brokers, { tls: { caFile: 'untrusted-ca.pem' }, sasl });
    assert.equal(unknownCa.code, 'TLS_CERTIFICATE_UNTRUSTED', unknownCa.message);
    const systemCa = await failing('systemca', brokers, { tls: {}, sasl });
    assert.equal(systemCa.code, 'TLS_CERTIFICATE_UNTRUSTED', systemCa.message);
    const wrongHost = await failing('wronghost', wrongHostBrokers, { tls: { ca }, sasl });
    assert.equal(wrongHost.code, 'TLS_HOSTNAME_MISMATCH', wrongHost.message);
    assert.match(wrongHost.suggestion!, /servername/);
    // The certificate names localhost: servername says so, and the host name is verified against it.
    const named = await connection(d, { name: `named-${id}`, kind: 'kafka', url: wrongHostBrokers, options: { tls: { ca, servername: 'localhost' }, sasl } });
    assert.equal((await testOf(d, named)).ok, true);
    // A TLS listener dialled without TLS: unreachable, and the suggestion names the tls option.
    const noTls = await failing('notls', brokers, { sasl });
    assert.equal(noTls.code, 'KAFKA_UNREACHABLE', noTls.message);
    assert.match(noTls.suggestion!, /"tls": \{\}/);

    // Write-only: no answer holds the password or the key, the store holds them sealed.
    const answers = [
      JSON.stringify((await d.api(`/api/v1/connections/${plainId}`)).body),
      JSON.stringify((await d.api(`/api/v1/connections/${s256}`)).body),
      JSON.stringify((await d.api('/api/v1/connections?limit=100')).body),
    ];
    const keyBody = clientKey.split('\n')[1]!;
    for (const a of answers) {
      for (const secret of [plain.password, scram256.password, wrongPw, keyBody]) assert.ok(!a.includes(secret), `an API answer holds a secret: ${a.slice(0, 300)}`);
    }
    const got = (await d.api(`/api/v1/connections/${plainId}`)).body;
    assert.equal(got.options.sasl.username, plain.username);
    assert.equal(got.options.tls.ca, ca, 'the CA is not a secret');
    // PATCH without the password keeps it (a secret left out keeps its stored value).
    const patched = await d.api(`/api/v1/connections/${plainId}`, { method: 'PATCH', body: { options: { tls: { ca, cert: fs.readFileSync(t.clientCert, 'utf8') }, sasl: { mechanism: 'plain', username: plain.username } } } });
    assert.equal(patched.status, 200, JSON.stringify(patched.body));
    assert.equal((await testOf(d, plainId)).ok, true, 'the stored password is kept');
    await d.stop('SIGTERM');
    for (const f of fs.readdirSync(dataDir).filter((n) => n.startsWith('sluice.db'))) {
      const bytes = fs.readFileSync(path.join(dataDir, f), 'latin1');
      for (const secret of [plain.password, scram256.password, wrongPw, keyBody]) assert.ok(!bytes.includes(secret), `${f} holds a secret in clear`);
    }
  } finally {
    await d.stop('SIGTERM');
  }
});

test('a stream PostgreSQL -> Kafka (SCRAM-SHA-512, mutual TLS) -> FerretDB over TLS delivers every row', { timeout: 300_000 }, async () => {
  const dir = secretsDir();
  const d = await startDaemon(tmpDataDir(), { SLUICE_SECRETS_FILE_DIR: dir }, { adminKey: E2E_ADMIN_KEY });
  const id = uid();
  const collection = `tls_${id}`;
  const table = `public.${collection}`;
  const pg = await pgClient();
  const mongo = new MongoClient(t.mongodbTls, { tlsCAFile: t.ca, directConnection: true, serverSelectionTimeoutMS: 5000 });
  const scram = user('scram-sha-512');
  fs.writeFileSync(path.join(dir, 'kafka-pw'), `${scram.password}\n`, { mode: 0o600 });
  let streamId: string | undefined;
  try {
    await createOrders(pg, table, 200);
    const src = await connection(d, { name: `pg-${id}`, kind: 'postgresql', url: stackUrls().postgres });
    const kafka = await connection(d, {
      name: `kafka-${id}`,
      kind: 'kafka',
      url: t.kafkaSaslSsl.brokers,
      // The SASL password from a file too, as a mounted Kubernetes secret.
      options: { tls: { caFile: path.join(dir, 'ca.pem'), certFile: 'client.pem', keyFile: 'client-key.pem' }, sasl: { mechanism: 'scram-sha-512', username: scram.username, passwordFile: 'kafka-pw' } },
    });
    const tlsUrl = new URL(t.mongodbTls);
    tlsUrl.pathname = `/${collection}`;
    tlsUrl.search = '';
    // MongoDB over TLS through options.tls (the CA file inside secrets.fileDir).
    const sink = await connection(d, { name: `mongo-${id}`, kind: 'mongodb', url: tlsUrl.toString(), options: { tls: { caFile: 'ca.pem' } } });
    const sinkTest = await testOf(d, sink);
    assert.equal(sinkTest.ok, true, JSON.stringify(sinkTest.checks));
    // Through the URL: tlsCAFile must be inside secrets.fileDir too; an unknown CA fails with its code.
    const viaUrl = `${tlsUrl.toString()}?tls=true&tlsCAFile=${encodeURIComponent(path.join(dir, 'ca.pem'))}`;
    assert.equal((await testOf(d, await connection(d, { name: `mongo-url-${id}`, kind: 'mongodb', url: viaUrl }))).ok, true);
    const outside = await d.api('/api/v1/connections', { method: 'POST', body: { name: `mongo-out-${id}`, kind: 'mongodb', url: `${tlsUrl.toString()}?tls=true&tlsCAFile=${encodeURIComponent(t.ca)}` } });
    assert.equal(outside.status, 403, JSON.stringify(outside.body));
    assert.equal(outside.body.error.code, 'SECRET_FILE_NOT_ALLOWED');
    const untrusted = await testOf(d, await connection(d, { name: `mongo-bad-${id}`, kind: 'mongodb', url: tlsUrl.toString(), options: { tls: { caFile: 'untrusted-ca.pem' } } }));
    assert.equal(untrusted.checks.find((c) => c.name === 'connect')?.code, 'TLS_CERTIFICATE_UNTRUSTED', JSON.stringify(untrusted.checks));

    const stream = await d.api('/api/v1/streams', {
      method: 'POST',
      body: {
        name: collection,
        source: { connectionId: src },
        sink: { connectionId: sink },
        transport: { kind: 'kafka', connectionId: kafka },
        mode: 'CDC',
        tables: [table],
        options: { heartbeatIntervalMs: 1000 },
      },
    });
    assert.equal(stream.status, 201, JSON.stringify(stream.body));
    streamId = stream.body.id as string;
    const validate = await d.api('/api/v1/validate', { method: 'POST', body: { name: `v-${collection}`, source: { connectionId: src }, sink: { connectionId: sink }, transport: { kind: 'kafka', connectionId: kafka }, tables: [table] } });
    assert.equal(validate.status, 200, JSON.stringify(validate.body));
    for (const name of ['kafka.brokers', 'kafka.topics', 'sink.connect']) assert.equal(validate.body.checks.find((c: { name: string }) => c.name === name)?.ok, true, `${name}: ${JSON.stringify(validate.body.checks)}`);

    // A stream whose kafka connection has a wrong password fails its start with the code the connection test gives.
    const badKafka = await connection(d, { name: `kafka-bad-${id}`, kind: 'kafka', url: t.kafkaSaslSsl.brokers, options: { tls: { caFile: 'ca.pem' }, sasl: { mechanism: 'scram-sha-512', username: scram.username, password: `not-${scram.password}` } } });
    const bad = await d.api('/api/v1/streams', { method: 'POST', body: { name: `bad-${collection}`, source: { connectionId: src }, sink: { connectionId: sink }, transport: { kind: 'kafka', connectionId: badKafka }, mode: 'CDC', tables: [table] } });
    assert.equal(bad.status, 201, JSON.stringify(bad.body));
    try {
      await start(d, bad.body.id);
      const failed = await waitFor(
        async () => {
          const st = await streamStatus(d, bad.body.id);
          return st.status === 'FAILED' ? st : null;
        },
        { timeoutMs: 60_000, intervalMs: 250, message: 'the stream with a wrong Kafka password FAILED' },
      );
      assert.equal((failed.failureError as { code: string }).code, 'KAFKA_AUTH_FAILED', JSON.stringify(failed.failureError));
    } finally {
      await d.api(`/api/v1/streams/${bad.body.id}`, { method: 'DELETE' }).catch(() => undefined);
    }

    await start(d, streamId);
    await cdcRunning(d, streamId);
    await pg.query(`INSERT INTO ${table} SELECT g, g, 'cdc ' || g, g * 0.5, date_trunc('milliseconds', now()) FROM generate_series(1001, 1050) g`);
    await pg.query(`UPDATE ${table} SET note = 'changed' WHERE id <= 20`);
    await pg.query(`DELETE FROM ${table} WHERE id BETWEEN 21 AND 30`);
    await mongo.connect();
    const diff = await waitConverged(pg, table, mongo.db(collection), collection);
    assert.equal(diff.missing.length + diff.extra.length + diff.different.length, 0);
    assert.equal(await mongo.db(collection).collection(collection).countDocuments(), 240);
  } finally {
    if (streamId) {
      await d.api(`/api/v1/streams/${streamId}/stop`, { method: 'POST' }).catch(() => undefined);
      await d.api(`/api/v1/streams/${streamId}`, { method: 'DELETE' }).catch(() => undefined);
    }
    await d.stop('SIGTERM');
    await pg.query(`DROP TABLE IF EXISTS ${table}`).catch(() => undefined);
    await pg.end();
    await mongo.db(collection).dropDatabase().catch(() => undefined);
    await mongo.close();
  }
});
