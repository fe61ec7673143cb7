/**
 * The shared TLS option (src/connection-tls.ts): libpq's sslmode meanings, and TLS
 * files kept to secrets.fileDir, checked when saved and read at each use by the store.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { openPreferringTls, sqlTls, sslmodeTls, tlsConflict, tlsError, tlsFailure, tlsFiles, withTlsFiles } from './connection-tls';
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

test('the store keeps TLS files inside secrets.fileDir, stores absolute paths and reads them at each use', () => {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'sluice-tls-files-'));
  const dir = path.join(root, 'secrets');
  fs.mkdirSync(dir);
  fs.writeFileSync(path.join(dir, 'ca.pem'), '-----BEGIN CERTIFICATE-----\nAAA\n-----END CERTIFICATE-----\n');
  fs.writeFileSync(path.join(root, 'outside.pem'), 'nope');
  const store = openStore({ dataDir: path.join(root, 'data'), secretKey: '', secretFileDir: dir, secretOptions: () => ['tls.key'] });
  try {
    const c = store.connections.create({ name: 'pg', kind: 'postgresql', url: 'postgresql://app@db.example:5432/app', options: { tls: { caFile: 'ca.pem', key: 'PRIVATE' } } });
    const stored = JSON.parse((store.db.prepare('SELECT options FROM connections WHERE id = ?').get(c.id) as { options: string }).options);
    assert.equal(stored.tls.caFile, path.join(dir, 'ca.pem'), 'kept as an absolute path');
    assert.ok(!JSON.stringify(stored).includes('PRIVATE'), 'the key is sealed');
    const resolved = store.connections.resolve(c.id)!.options!.tls as Record<string, string>;
    assert.deepEqual(Object.keys(resolved).sort(), ['ca', 'key']);
    assert.match(resolved.ca, /BEGIN CERTIFICATE/);
    assert.equal(resolved.key, 'PRIVATE');
    // Rotated on disk: the next use reads the new file.
    fs.writeFileSync(path.join(dir, 'ca.pem'), 'ROTATED');
    assert.equal((store.connections.resolve(c.id)!.options!.tls as Record<string, string>).ca, 'ROTATED');
    const refused = (options: Record<string, unknown>): string => {
      try {
        store.connections.create({ name: `x${Math.random()}`, kind: 'postgresql', url: 'postgresql://db.example/app', options });
      } catch (err) {
        assert.ok(err instanceof SluiceError);
        return `${err.code} ${(err.detail as { field?: string }).field}`;
      }
      return 'accepted';
    };
    assert.equal(refused({ tls: { caFile: path.join(root, 'outside.pem') } }), 'SECRET_FILE_NOT_ALLOWED options.tls.caFile');
    assert.equal(refused({ tls: { certFile: 'missing.pem' } }), 'SECRET_FILE_UNREADABLE options.tls.certFile');
    assert.equal(refused({ tls: { ca: 'X', caFile: 'ca.pem' } }), 'VALIDATION_FAILED options.tls');
  } finally {
    store.close();
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
  assert.equal(tlsFailure(coded('SELF_SIGNED_CERT_IN_CHAIN'))?.code, 'TLS_CERT_UNTRUSTED');
  assert.equal(tlsFailure(coded('UNABLE_TO_GET_ISSUER_CERT_LOCALLY'))?.code, 'TLS_CERT_UNTRUSTED');
  // The mysql driver replaces the code; the cause keeps it.
  assert.equal(tlsFailure(Object.assign(new Error('x', { cause: coded('DEPTH_ZERO_SELF_SIGNED_CERT') }), { code: 'HANDSHAKE_SSL_ERROR' }))?.code, 'TLS_CERT_UNTRUSTED');
  assert.equal(tlsFailure(coded('ERR_TLS_CERT_ALTNAME_INVALID', "Hostname/IP does not match certificate's altnames"))?.code, 'TLS_HOSTNAME_MISMATCH');
  assert.equal(tlsFailure(new Error('The server does not support SSL connections'))?.code, 'TLS_NOT_OFFERED');
  assert.equal(tlsFailure(coded('HANDSHAKE_NO_SSL_SUPPORT'))?.code, 'TLS_NOT_OFFERED');
  assert.equal(tlsFailure(coded('CERT_HAS_EXPIRED'))?.code, 'TLS_HANDSHAKE_FAILED');
  assert.equal(tlsFailure(coded('ECONNREFUSED')), null);
  assert.equal(tlsFailure(new Error('password authentication failed')), null);
  const e = tlsError(coded('SELF_SIGNED_CERT_IN_CHAIN', 'self-signed certificate in certificate chain'), 'connecting to PostgreSQL', { host: 'db' });
  assert.ok(e instanceof SluiceError);
  assert.deepEqual([e.code, e.detail.host, e.detail.reason], ['TLS_CERT_UNTRUSTED', 'db', 'SELF_SIGNED_CERT_IN_CHAIN']);
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
