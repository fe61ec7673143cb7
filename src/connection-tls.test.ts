/**
 * The shared TLS option (src/connection-tls.ts): libpq's sslmode meanings, and TLS
 * files kept to secrets.fileDir, checked when saved and read at each use by the store.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { openPreferringTls, optionFileConflict, sqlTls, sslmodeTls, tlsConflict, tlsError, tlsFailure, tlsFiles, urlTlsFiles, withTlsFiles } from './connection-tls';
import { openStore } from './store';
import { SluiceError } from './errors';

test('sslmode: disable is no TLS; require checks nothing unless a CA is given; verify-ca checks the chain, not the name; verify-full both', () => {
  assert.equal(sslmodeTls('disable', { ca: 'X' }), false);
  assert.deepEqual(sslmodeTls('require'), { rejectUnauthorized: false });
  assert.deepEqual(sslmodeTls('prefer', { ca: 'X' }), { ca: 'X', rejectUnauthorized: false });
  assert.equal((sslmodeTls('require', { ca: 'X' }) as { rejectUnauthorized: boolean }).rejectUnauthorized, true);
  const ca = sslmodeTls('verify-ca', { ca: 'X', cert: 'C', key: 'K' }) as Record<string, unknown>;
  assert.deepEqual([ca.rejectUnauthorized, ca.ca, ca.cert, ca.key, typeof ca.checkServerIdentity], [true, 'X', 'C', 'K', 'function']);
  const full = sslmodeTls('verify-full', { ca: 'X', servername: 'db.internal' }) as Record<string, unknown>;
  assert.deepEqual([full.ca, full.servername, full.rejectUnauthorized], ['X', 'db.internal', true]);
  // The name checked is the servername given, whatever name the driver dialled.
  const check = full.checkServerIdentity as (host: string, cert: unknown) => Error | undefined;
  const cert = { subject: { CN: 'db.internal' }, subjectaltname: 'DNS:db.internal' };
  assert.equal(check('10.0.0.5', cert), undefined);
  assert.match(String(check('10.0.0.5', { ...cert, subjectaltname: 'DNS:other.internal' })), /altnames/);
  assert.deepEqual(sslmodeTls('verify-full', { ca: 'X' }), { ca: 'X', rejectUnauthorized: true });
});

test('TLS files: named, refused beside their text, read into PEM fields', () => {
  const o = { other: 1, tls: { caFile: '/s/ca.pem', key: 'K', certFile: 'c.pem' } };
  assert.deepEqual(tlsFiles(o), [
    { field: 'options.tls.caFile', file: '/s/ca.pem' },
    { field: 'options.tls.certFile', file: 'c.pem' },
  ]);
  assert.equal(tlsConflict(o), null);
  assert.equal(tlsConflict({ tls: { ca: 'X', caFile: 'f' } }), 'ca/caFile');
  const read = withTlsFiles(o, (file, field) => `${field}:${file}`);
  assert.deepEqual(read, { other: 1, tls: { key: 'K', ca: 'options.tls.caFile:/s/ca.pem', cert: 'options.tls.certFile:c.pem' } });
  assert.deepEqual(withTlsFiles({ a: 1 }, () => 'x'), { a: 1 });
});

test('the store keeps TLS files inside secrets.fileDir, stores absolute paths and reads them at each use', async () => {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'sluice-tls-files-'));
  const dir = path.join(root, 'secrets');
  fs.mkdirSync(dir);
  fs.writeFileSync(path.join(dir, 'ca.pem'), '-----BEGIN CERTIFICATE-----\nAAA\n-----END CERTIFICATE-----\n');
  fs.writeFileSync(path.join(root, 'outside.pem'), 'nope');
  const store = openStore({ dataDir: path.join(root, 'data'), secretKey: '', secretFileDir: dir, secretOptions: () => ['tls.key'] });
  try {
    const c = await store.connections.create({ name: 'pg', kind: 'postgresql', url: 'postgresql://app@db.example:5432/app', options: { tls: { caFile: 'ca.pem', key: 'PRIVATE' } } });
    const stored = JSON.parse((store.db.prepare('SELECT options FROM connections WHERE id = ?').get(c.id) as { options: string }).options);
    assert.equal(stored.tls.caFile, path.join(dir, 'ca.pem'), 'kept as an absolute path');
    assert.ok(!JSON.stringify(stored).includes('PRIVATE'), 'the key is sealed');
    const resolved = (await store.connections.resolve(c.id))!.options!.tls as Record<string, string>;
    assert.deepEqual(Object.keys(resolved).sort(), ['ca', 'key']);
    assert.match(resolved.ca, /BEGIN CERTIFICATE/);
    assert.equal(resolved.key, 'PRIVATE');
    // Rotated on disk: the next use reads the new file.
    fs.writeFileSync(path.join(dir, 'ca.pem'), 'ROTATED');
    assert.equal(((await store.connections.resolve(c.id))!.options!.tls as Record<string, string>).ca, 'ROTATED');
    const refused = async (options: Record<string, unknown>): Promise<string> => {
      try {
        await store.connections.create({ name: `x${Math.random()}`, kind: 'postgresql', url: 'postgresql://db.example/app', options });
      } catch (err) {
        assert.ok(err instanceof SluiceError);
        return `${err.code} ${(err.detail as { field?: string }).field}`;
      }
      return 'accepted';
    };
    assert.equal((await refused({ tls: { caFile: path.join(root, 'outside.pem') } })), 'SECRET_FILE_NOT_ALLOWED options.tls.caFile');
    assert.equal((await refused({ tls: { certFile: 'missing.pem' } })), 'SECRET_FILE_UNREADABLE options.tls.certFile');
    assert.equal((await refused({ tls: { ca: 'X', caFile: 'ca.pem' } })), 'VALIDATION_FAILED options.tls');
  } finally {
    await store.close();
    fs.rmSync(root, { recursive: true, force: true });
  }
});

/** An error as Node raises it: a code and its message. */
const nodeError = (code: string, message: string): Error => Object.assign(new Error(message), { code });

test('tlsFailure: Node TLS errors by what the operator must fix, through the wrappers clients put around them', () => {
  const code = (err: unknown) => tlsFailure(err)?.code ?? null;
  assert.equal(code(nodeError('SELF_SIGNED_CERT_IN_CHAIN', 'self-signed certificate in certificate chain')), 'TLS_CERTIFICATE_UNTRUSTED');
  assert.equal(code(nodeError('UNABLE_TO_VERIFY_LEAF_SIGNATURE', 'unable to verify the first certificate')), 'TLS_CERTIFICATE_UNTRUSTED');
  assert.equal(code(nodeError('UNABLE_TO_GET_ISSUER_CERT_LOCALLY', 'unable to get local issuer certificate')), 'TLS_CERTIFICATE_UNTRUSTED');
  assert.equal(code(nodeError('ERR_TLS_CERT_ALTNAME_INVALID', "Hostname/IP does not match certificate's altnames: IP: 127.0.0.2 is not in the cert's list: 127.0.0.1")), 'TLS_HOSTNAME_MISMATCH');
  assert.equal(code(nodeError('CERT_HAS_EXPIRED', 'certificate has expired')), 'TLS_CERTIFICATE_EXPIRED');
  assert.equal(code(nodeError('ERR_SSL_WRONG_VERSION_NUMBER', 'wrong version number')), 'TLS_HANDSHAKE_FAILED');
  assert.equal(code(nodeError('EPROTO', 'write EPROTO ... alert certificate required')), 'TLS_HANDSHAKE_FAILED');
  // kafkajs: KafkaJSConnectionError keeps Node's code; the retrier wraps it in originalError / cause.
  const kafkajs = Object.assign(new Error('Connection error: self-signed certificate in certificate chain'), { name: 'KafkaJSConnectionError', code: 'SELF_SIGNED_CERT_IN_CHAIN' });
  assert.equal(code(Object.assign(new Error('retries exceeded'), { name: 'KafkaJSNumberOfRetriesExceeded', originalError: kafkajs })), 'TLS_CERTIFICATE_UNTRUSTED');
  assert.equal(code(new Error('outer', { cause: new AggregateError([new Error('x'), nodeError('ERR_TLS_CERT_ALTNAME_INVALID', 'no')]) })), 'TLS_HOSTNAME_MISMATCH');
  // A client that keeps only the message (the MongoDB driver's server selection error).
  assert.equal(code(new Error('Server selection timed out after 3000 ms: self-signed certificate in certificate chain')), 'TLS_CERTIFICATE_UNTRUSTED');
  // A certificate problem wins over a handshake code seen on the way.
  assert.equal(code(Object.assign(nodeError('EPROTO', 'x'), { cause: nodeError('CERT_HAS_EXPIRED', 'y') })), 'TLS_CERTIFICATE_EXPIRED');
  // Not TLS.
  assert.equal(code(nodeError('ECONNREFUSED', 'connect ECONNREFUSED 127.0.0.1:9092')), null);
  assert.equal(code(Object.assign(new Error('SASL PLAIN authentication failed'), { name: 'KafkaJSSASLAuthenticationError' })), null);
  assert.equal(code('a string'), null);
  const f = tlsFailure(nodeError('SELF_SIGNED_CERT_IN_CHAIN', 'x'))!;
  assert.equal(f.reason, 'SELF_SIGNED_CERT_IN_CHAIN');
  assert.match(f.message, /not signed by a trusted CA \(SELF_SIGNED_CERT_IN_CHAIN\)/);
});

test('urlTlsFiles: the MongoDB URL parameters that name files on the daemon host', () => {
  const params = [
    { name: 'tls', value: 'true' },
    { name: 'tlsCAFile', value: '/run/secrets/ca.pem' },
    { name: 'tlscertificatekeyfile', value: '/run/secrets/client.pem' },
  ];
  assert.deepEqual(urlTlsFiles('mongodb', params), [
    { field: 'url.tlsCAFile', file: '/run/secrets/ca.pem' },
    { field: 'url.tlscertificatekeyfile', file: '/run/secrets/client.pem' },
  ]);
  assert.deepEqual(urlTlsFiles('postgresql', params), []);
});

test("the store holds a MongoDB URL's tlsCAFile and tlsCertificateKeyFile to secrets.fileDir, as absolute paths, on create and update", async () => {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'sluice-url-files-'));
  const dir = path.join(root, 'secrets');
  fs.mkdirSync(dir);
  fs.writeFileSync(path.join(dir, 'ca.pem'), 'CA');
  fs.writeFileSync(path.join(root, 'outside.pem'), 'nope');
  const store = openStore({ dataDir: path.join(root, 'data'), secretKey: '', secretFileDir: dir });
  const url = (param: string) => `mongodb://db.example:27017/app?tls=true&${param}`;
  const outcome = async (fn: () => Promise<unknown>): Promise<string> => {
    try {
      await fn();
      return 'accepted';
    } catch (err) {
      assert.ok(err instanceof SluiceError);
      return `${err.code} ${(err.detail as { field?: string }).field}`;
    }
  };
  try {
    const ok = await store.connections.create({ name: 'm', kind: 'mongodb', url: url(`tlsCAFile=${encodeURIComponent(path.join(dir, 'ca.pem'))}`) });
    assert.equal(await outcome(() => store.connections.create({ name: 'm2', kind: 'mongodb', url: url(`tlsCAFile=${encodeURIComponent(path.join(root, 'outside.pem'))}`) })), 'SECRET_FILE_NOT_ALLOWED url.tlsCAFile');
    assert.equal(await outcome(() => store.connections.create({ name: 'm3', kind: 'mongodb', url: url('tlsCertificateKeyFile=ca.pem') })), 'VALIDATION_FAILED url.tlsCertificateKeyFile');
    assert.equal(await outcome(() => store.connections.update(ok.id, { url: url(`tlsCAFile=${encodeURIComponent('/etc/passwd')}`) })), 'SECRET_FILE_NOT_ALLOWED url.tlsCAFile');
    // Other kinds' URLs name no files the daemon reads.
    assert.equal(await outcome(() => store.connections.create({ name: 'p', kind: 'postgresql', url: 'postgresql://db.example/app?tlsCAFile=/etc/passwd' })), 'accepted');
  } finally {
    await store.close();
    fs.rmSync(root, { recursive: true, force: true });
  }
});

test("a kafka connection's SASL password from a file: checked when saved, read at each use, exclusive with the password", async () => {
  const o = { sasl: { mechanism: 'plain', username: 'u', passwordFile: 'pw' }, tls: { caFile: 'ca.pem' } };
  assert.deepEqual(tlsFiles(o), [
    { field: 'options.tls.caFile', file: 'ca.pem' },
    { field: 'options.sasl.passwordFile', file: 'pw' },
  ]);
  assert.deepEqual(withTlsFiles(o, (file, field) => `${field}:${file}`), { sasl: { mechanism: 'plain', username: 'u', password: 'options.sasl.passwordFile:pw' }, tls: { ca: 'options.tls.caFile:ca.pem' } });
  assert.equal(optionFileConflict(o), null);
  assert.deepEqual(optionFileConflict({ sasl: { password: 'x', passwordFile: 'pw' } }), { field: 'options.sasl', pair: 'password/passwordFile' });
  assert.equal(tlsConflict({ sasl: { password: 'x', passwordFile: 'pw' } }), null, 'tlsConflict is about tls only');
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'sluice-sasl-file-'));
  const dir = path.join(root, 'secrets');
  fs.mkdirSync(dir);
  fs.writeFileSync(path.join(dir, 'kafka-pw'), 'S3cret-from-file\n');
  const store = openStore({ dataDir: path.join(root, 'data'), secretKey: '', secretFileDir: dir, secretOptions: () => ['sasl.password'] });
  try {
    const c = await store.connections.create({ name: 'k', kind: 'kafka', url: 'broker:9092', options: { sasl: { mechanism: 'scram-sha-512', username: 'u', passwordFile: 'kafka-pw' } } });
    const sasl = (await store.connections.resolve(c.id))!.options!.sasl as Record<string, string>;
    assert.equal(sasl.password, 'S3cret-from-file');
    assert.equal(sasl.passwordFile, undefined);
    await assert.rejects(() => store.connections.create({ name: 'k2', kind: 'kafka', url: 'broker:9092', options: { sasl: { mechanism: 'plain', username: 'u', password: 'p', passwordFile: 'kafka-pw' } } }), (e: unknown) => e instanceof SluiceError && e.code === 'VALIDATION_FAILED' && e.detail.field === 'options.sasl');
    await assert.rejects(() => store.connections.create({ name: 'k3', kind: 'kafka', url: 'broker:9092', options: { sasl: { mechanism: 'plain', username: 'u', passwordFile: '/etc/passwd' } } }), (e: unknown) => e instanceof SluiceError && e.code === 'SECRET_FILE_NOT_ALLOWED');
  } finally {
    await store.close();
    fs.rmSync(root, { recursive: true, force: true });
  }
});

test('sqlTls: the sslmode option wins over the URL; the URL keeps working; allow is prefer, an unknown word require', () => {
  assert.deepEqual(sqlTls({}, null), { mode: 'disable', ssl: false });
  assert.equal(sqlTls({}, 'verify-full').mode, 'verify-full');
  assert.equal(sqlTls({ sslmode: 'disable' }, 'require').mode, 'disable');
  assert.equal(sqlTls({ sslmode: 'verify-full', tls: { ca: 'X' } }, 'disable').mode, 'verify-full');
  assert.equal(sqlTls({}, 'allow').mode, 'prefer');
  assert.equal(sqlTls({}, 'yes-please').mode, 'require');
  // libpq: require with a CA verifies the chain (verify-ca).
  const req = sqlTls({ tls: { ca: 'X' } }, 'require').ssl as Record<string, unknown>;
  assert.deepEqual([req.ca, req.rejectUnauthorized, typeof req.checkServerIdentity], ['X', true, 'function']);
});

test('tlsFailure: an untrusted chain, a host-name mismatch, no TLS on the server and other handshake failures are told apart, through causes', () => {
  const coded = (code: string, message = code): Error => Object.assign(new Error(message), { code });
  assert.equal(tlsFailure(coded('SELF_SIGNED_CERT_IN_CHAIN'))?.code, 'TLS_CERTIFICATE_UNTRUSTED');
  assert.equal(tlsFailure(coded('UNABLE_TO_GET_ISSUER_CERT_LOCALLY'))?.code, 'TLS_CERTIFICATE_UNTRUSTED');
  // The mysql driver replaces the code; the cause keeps it.
  assert.equal(tlsFailure(Object.assign(new Error('x', { cause: coded('DEPTH_ZERO_SELF_SIGNED_CERT') }), { code: 'HANDSHAKE_SSL_ERROR' }))?.code, 'TLS_CERTIFICATE_UNTRUSTED');
  assert.equal(tlsFailure(coded('ERR_TLS_CERT_ALTNAME_INVALID', "Hostname/IP does not match certificate's altnames"))?.code, 'TLS_HOSTNAME_MISMATCH');
  assert.equal(tlsFailure(new Error('The server does not support SSL connections'))?.code, 'TLS_NOT_OFFERED');
  assert.equal(tlsFailure(coded('HANDSHAKE_NO_SSL_SUPPORT'))?.code, 'TLS_NOT_OFFERED');
  assert.equal(tlsFailure(coded('CERT_HAS_EXPIRED'))?.code, 'TLS_CERTIFICATE_EXPIRED');
  assert.equal(tlsFailure(coded('ERR_SSL_WRONG_VERSION_NUMBER'))?.code, 'TLS_HANDSHAKE_FAILED');
  assert.equal(tlsFailure(coded('ECONNREFUSED')), null);
  assert.equal(tlsFailure(new Error('password authentication failed')), null);
  const e = tlsError(coded('SELF_SIGNED_CERT_IN_CHAIN', 'self-signed certificate in certificate chain'), 'connecting to PostgreSQL', { host: 'db' });
  assert.ok(e instanceof SluiceError);
  assert.deepEqual([e.code, e.detail.host, e.detail.reason], ['TLS_CERTIFICATE_UNTRUSTED', 'db', 'SELF_SIGNED_CERT_IN_CHAIN']);
  assert.match(e.suggestion, /options\.tls/);
});

test('prefer: a server without TLS is opened in plain text and remembered, also by sessions opened at the same time; require is not', async () => {
  const noTls = async (c: { ssl?: unknown }): Promise<string> => {
    await new Promise((r) => setTimeout(r, 5));
    if (c.ssl) throw new Error('The server does not support SSL connections');
    return 'plain';
  };
  const config: { sslmode: 'prefer' | 'require'; ssl?: unknown } = { sslmode: 'prefer', ssl: { rejectUnauthorized: false } };
  assert.deepEqual(await Promise.all([openPreferringTls(config, noTls), openPreferringTls(config, noTls)]), ['plain', 'plain']);
  assert.equal(config.ssl, false, 'later sessions (a replication or binlog connection) connect in plain text');
  await assert.rejects(openPreferringTls({ sslmode: 'require', ssl: {} }, noTls), /does not support SSL/);
  // Any other failure is not retried.
  let calls = 0;
  await assert.rejects(openPreferringTls({ sslmode: 'prefer', ssl: {} }, async () => { calls++; throw new Error('password authentication failed'); }), /password/);
  assert.equal(calls, 1);
});
