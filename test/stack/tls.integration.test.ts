/**
 * Smoke test of the stack's TLS and SASL endpoints (test/stack/tls.sh): each works with
 * the stack CA and fails without it (the system roots, or a CA that signed nothing here),
 * a client that connects by 127.0.0.2 (an address the certificate does not carry) fails
 * hostname verification but connects when it verifies the chain only, and Kafka's SASL_SSL
 * listener takes each of its users and refuses a wrong password.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import tls from 'node:tls';
import { X509Certificate } from 'node:crypto';
import { Client } from 'pg';
import mysql from 'mysql';
import { Kafka, logLevel, type KafkaConfig } from 'kafkajs';
import { MongoClient } from 'mongodb';
import { stackUrls, tlsStack } from '../helpers/stack';
import { TcpProxy } from '../helpers/tcp-proxy';

const t = tlsStack();
const ca = fs.readFileSync(t.ca, 'utf8');
const untrustedCa = fs.readFileSync(t.untrustedCa, 'utf8');
/** A chain not signed by a trusted CA, as Node words it. */
const UNTRUSTED = /self[- ]signed certificate in certificate chain|unable to (verify|get local issuer)/i;
/** Hostname verification failed, as Node words it. */
const WRONG_HOST = /does not match certificate's altnames|ERR_TLS_CERT_ALTNAME_INVALID/;

async function pgTry(host: string, ssl: tls.ConnectionOptions): Promise<boolean> {
  const u = new URL(stackUrls().postgres);
  const c = new Client({ host, port: Number(u.port), user: u.username, password: u.password, database: u.pathname.slice(1), ssl, connectionTimeoutMillis: 10_000 });
  try {
    await c.connect();
    return (await c.query('SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()')).rows[0].ssl as boolean;
  } finally {
    await c.end().catch(() => undefined);
  }
}

test('postgres: TLS verified with the stack CA; an unknown CA and the wrong host fail; plain still works', async () => {
  assert.equal(await pgTry('127.0.0.1', { ca }), true);
  await assert.rejects(pgTry('127.0.0.1', {}), UNTRUSTED);
  await assert.rejects(pgTry('127.0.0.1', { ca: untrustedCa }), UNTRUSTED);
  await assert.rejects(pgTry(t.wrongHost, { ca }), WRONG_HOST);
  // require: encrypted, nothing verified.
  assert.equal(await pgTry(t.wrongHost, { rejectUnauthorized: false }), true);
  // TLS is optional for clients.
  const plain = new Client({ connectionString: stackUrls().postgres });
  await plain.connect();
  try {
    assert.equal((await plain.query('SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()')).rows[0].ssl, false);
  } finally {
    await plain.end();
  }
});

/** Connects with the mysql driver over TLS; returns the session's cipher and the server's certificate. */
function mysqlTry(host: string, ssl: tls.SecureContextOptions & { rejectUnauthorized?: boolean }): Promise<{ cipher: string; cert: tls.PeerCertificate }> {
  const u = new URL(stackUrls().mysql);
  const conn = mysql.createConnection({ host, port: Number(u.port), user: u.username, password: u.password, database: u.pathname.slice(1), ssl, connectTimeout: 10_000 });
  // The driver wraps its socket in a TLSSocket it keeps to itself, and pipes it into its
  // protocol parser: the 'pipe' event hands it over.
  let secure: tls.TLSSocket | undefined;
  (conn as unknown as { _protocol: NodeJS.EventEmitter })._protocol.once('pipe', (src: tls.TLSSocket) => (secure = src));
  return new Promise((resolve, reject) => {
    conn.connect((err) => {
      if (err) {
        conn.destroy();
        reject(err);
        return;
      }
      conn.query("SHOW SESSION STATUS LIKE 'Ssl_cipher'", (qerr, rows: Array<{ Value: string }>) => {
        const cert = secure?.getPeerCertificate();
        conn.end(() => (qerr ? reject(qerr) : cert ? resolve({ cipher: rows[0]?.Value ?? '', cert }) : reject(new Error('no TLS socket'))));
      });
    });
  });
}

test('mariadb: TLS verified with the stack CA; an unknown CA fails; on 127.0.0.2 the certificate does not match the host', async () => {
  const ok = await mysqlTry('127.0.0.1', { ca, rejectUnauthorized: true });
  assert.notEqual(ok.cipher, '', 'the session is encrypted');
  assert.equal(tls.checkServerIdentity('127.0.0.1', ok.cert), undefined);
  await assert.rejects(mysqlTry('127.0.0.1', { ca: untrustedCa, rejectUnauthorized: true }), UNTRUSTED);
  // The mysql driver checks the chain only, never the host name: what verify-full adds is
  // tls.checkServerIdentity, which the certificate served on 127.0.0.2 fails.
  const other = await mysqlTry(t.wrongHost, { ca, rejectUnauthorized: true });
  assert.match(String(tls.checkServerIdentity(t.wrongHost, other.cert)?.message), WRONG_HOST);
});

async function mongoPing(url: string, options: Record<string, unknown>): Promise<void> {
  const client = new MongoClient(url, { serverSelectionTimeoutMS: 3000, connectTimeoutMS: 3000, directConnection: true, ...options });
  try {
    await client.connect();
    await client.db('admin').command({ ping: 1 });
  } finally {
    await client.close();
  }
}

test('ferretdb: its TLS listener works with the stack CA, fails with an unknown CA, and fails the wrong host', async () => {
  await mongoPing(t.mongodbTls, { tlsCAFile: t.ca });
  await assert.rejects(mongoPing(t.mongodbTls, {}), UNTRUSTED);
  await assert.rejects(mongoPing(t.mongodbTls, { tlsCAFile: t.untrustedCa }), UNTRUSTED);
  // FerretDB has one TLS listener: the wrong host is a proxy on 127.0.0.2 in front of it.
  const u = new URL(t.mongodbTls);
  const proxy = await TcpProxy.start({ host: u.hostname, port: Number(u.port) }, t.wrongHost);
  try {
    const wrong = `mongodb://${t.wrongHost}:${proxy.port}/?tls=true`;
    await assert.rejects(mongoPing(wrong, { tlsCAFile: t.ca }), WRONG_HOST);
    await mongoPing(wrong, { tlsCAFile: t.ca, tlsAllowInvalidHostnames: true });
  } finally {
    await proxy.stop();
  }
});

async function kafkaTry(brokers: string, sasl: KafkaConfig['sasl'], ssl: tls.ConnectionOptions): Promise<void> {
  const kafka = new Kafka({ clientId: 'stack-tls-smoke', brokers: [brokers], ssl, sasl, logLevel: logLevel.NOTHING, connectionTimeout: 5000, retry: { retries: 0 } });
  const admin = kafka.admin();
  try {
    await admin.connect();
    const cluster = await admin.describeCluster();
    assert.equal(cluster.brokers.length, 1);
  } finally {
    await admin.disconnect().catch(() => undefined);
  }
}

test('kafka: the SASL_SSL listener takes PLAIN, SCRAM-SHA-256 and SCRAM-SHA-512 with the stack CA, and refuses what it must', async () => {
  const { brokers, wrongHostBrokers, users } = t.kafkaSaslSsl;
  assert.deepEqual(users.map((u) => u.mechanism).sort(), ['plain', 'scram-sha-256', 'scram-sha-512']);
  for (const u of users) await kafkaTry(brokers, { mechanism: u.mechanism, username: u.username, password: u.password } as KafkaConfig['sasl'], { ca });
  const plain = users.find((u) => u.mechanism === 'plain')!;
  const scram = users.find((u) => u.mechanism === 'scram-sha-512')!;
  const sasl = { mechanism: 'plain', username: plain.username, password: plain.password } as const;
  await assert.rejects(kafkaTry(brokers, { mechanism: 'scram-sha-512', username: scram.username, password: 'wrong' }, { ca }), { name: 'KafkaJSSASLAuthenticationError' });
  await assert.rejects(kafkaTry(brokers, { ...sasl, password: 'wrong' }, { ca }), { name: 'KafkaJSSASLAuthenticationError' });
  await assert.rejects(kafkaTry(brokers, sasl, {}), UNTRUSTED);
  await assert.rejects(kafkaTry(brokers, sasl, { ca: untrustedCa }), UNTRUSTED);
  await assert.rejects(kafkaTry(wrongHostBrokers, sasl, { ca }), WRONG_HOST);
  await kafkaTry(wrongHostBrokers, sasl, { ca, checkServerIdentity: () => undefined });
  // mTLS: a client certificate signed by the stack CA is accepted.
  await kafkaTry(brokers, sasl, { ca, cert: fs.readFileSync(t.clientCert), key: fs.readFileSync(t.clientKey) });
});

test('the certificate for another host is signed by the stack CA and fails hostname verification for 127.0.0.1', () => {
  const cert = new X509Certificate(fs.readFileSync(t.otherHostCert));
  assert.equal(cert.verify(new X509Certificate(ca).publicKey), true);
  assert.equal(cert.checkIP('127.0.0.1'), undefined);
  assert.equal(cert.checkHost('other-host.sluice.test'), 'other-host.sluice.test');
});
