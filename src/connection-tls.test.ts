/**
 * The shared TLS option (src/connection-tls.ts): libpq's sslmode meanings, and TLS
 * files kept to secrets.fileDir, checked when saved and read at each use by the store.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { sslmodeTls, tlsConflict, tlsFiles, withTlsFiles } from './connection-tls';
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
  assert.deepEqual(full, { ca: 'X', servername: 'db.internal', rejectUnauthorized: true });
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
