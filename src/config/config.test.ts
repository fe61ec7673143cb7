import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { execFileSync } from 'node:child_process';
import { isLoopbackHost, loadConfig, kafkaBrokers, readApiTls, sensitiveKeys } from './index';
import { configSchema } from './schema';
import { SluiceError } from '../errors';

const tmp = (name: string, content: string): string => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sluice-config-'));
  const file = path.join(dir, name);
  fs.writeFileSync(file, content);
  return file;
};

function rejects(fn: () => unknown, key: string): SluiceError {
  try {
    fn();
  } catch (err) {
    assert.ok(err instanceof SluiceError, `expected a SluiceError, got ${String(err)}`);
    assert.equal(err.code, 'CONFIG_INVALID');
    assert.equal(err.detail.key, key);
    assert.match(err.message, new RegExp(key.replace('.', '\\.')));
    return err;
  }
  assert.fail(`expected ${key} to be rejected`);
}

test('defaults run the daemon alone: loopback API on 8278, ./data, direct transport', () => {
  const { config } = loadConfig({ env: {} });
  assert.equal(config.api.host, '127.0.0.1');
  assert.equal(config.api.port, 8278);
  assert.equal(config.dataDir, './data');
  assert.deepEqual(kafkaBrokers(config), []);
  assert.equal(config.log.level, 'info');
});

test('the environment variables of DESIGN.md set their keys', () => {
  const { config } = loadConfig({
    env: {
      SLUICE_DATA_DIR: '/var/lib/sluice',
      SLUICE_API_HOST: '0.0.0.0',
      SLUICE_API_INSECURE: 'true',
      SLUICE_API_PORT: '9000',
      SLUICE_ADMIN_KEY: 'k',
      SLUICE_LOG_LEVEL: 'debug',
      SLUICE_KAFKA_BROKERS: 'a:9092, b:9093',
    },
  });
  assert.equal(config.dataDir, '/var/lib/sluice');
  assert.equal(config.api.host, '0.0.0.0');
  assert.equal(config.api.port, 9000);
  assert.equal(config.auth.adminKey, 'k');
  assert.equal(config.log.level, 'debug');
  assert.deepEqual(kafkaBrokers(config), ['a:9092', 'b:9093']);
});

test('SLUICE_CONFIG names the file, YAML and JSON alike, and env overrides the file', () => {
  const yaml = tmp('c.yaml', 'api:\n  port: 9100\nlog:\n  level: warn\n');
  const { config, file } = loadConfig({ env: { SLUICE_CONFIG: yaml, SLUICE_LOG_LEVEL: 'error' } });
  assert.equal(file, yaml);
  assert.equal(config.api.port, 9100);
  assert.equal(config.log.level, 'error');
  const json = tmp('c.json', JSON.stringify({ dataDir: '/x' }));
  assert.equal(loadConfig({ file: json, env: {} }).config.dataDir, '/x');
});

test('the example config in config/ is valid', () => {
  const example = path.resolve(__dirname, '../../../config/sluice.example.yaml');
  assert.ok(fs.existsSync(example), example);
  assert.equal(loadConfig({ file: example, env: {} }).config.api.port, 8278);
});

test('an unknown key is rejected, naming it', () => {
  rejects(() => loadConfig({ file: tmp('c.json', '{"api":{"prot":8000}}'), env: {} }), 'api.prot');
});

test('a bad port, from a file or the environment, is rejected naming api.port', () => {
  rejects(() => loadConfig({ file: tmp('c.yaml', 'api:\n  port: 70000\n'), env: {} }), 'api.port');
  const err = rejects(() => loadConfig({ env: { SLUICE_API_PORT: 'eighty' } }), 'api.port');
  assert.match(err.message, /SLUICE_API_PORT/);
});

test('bad values of other types name their key', () => {
  rejects(() => loadConfig({ env: { SLUICE_LOG_LEVEL: 'loud' } }), 'log.level');
  rejects(() => loadConfig({ env: { SLUICE_KAFKA_BROKERS: 'no-port' } }), 'kafka.brokers');
  rejects(() => loadConfig({ env: { SLUICE_SECRET_KEY: 'short' } }), 'store.secretKey');
});

test('a missing or unparsable file is a CONFIG_INVALID error, not a crash', () => {
  assert.throws(() => loadConfig({ file: '/nonexistent/sluice.yaml', env: {} }), (e: unknown) => e instanceof SluiceError && e.code === 'CONFIG_INVALID');
  assert.throws(() => loadConfig({ file: tmp('c.json', '{oops'), env: {} }), (e: unknown) => e instanceof SluiceError && e.code === 'CONFIG_INVALID');
});

test('config print masks secrets', () => {
  const secret = Buffer.alloc(32, 7).toString('base64');
  const text = loadConfig({ env: { SLUICE_ADMIN_KEY: 'super-secret-admin', SLUICE_SECRET_KEY: secret } }).masked();
  assert.doesNotMatch(text, /super-secret-admin/);
  assert.ok(!text.includes(secret));
  assert.match(text, /"adminKey": "\[Sensitive\]"/);
});

test('every secret key can come from a file (<key>File, SLUICE_…_FILE): read, one trailing newline dropped, never both', () => {
  const schema = configSchema as unknown as Record<string, Record<string, { env?: string }>>;
  const keys = sensitiveKeys();
  assert.deepEqual(keys.sort(), ['auth.adminKey', 'store.secretKey']);
  for (const k of keys) {
    const [group, name] = k.split('.') as [string, string];
    assert.equal(schema[group]?.[`${name}File`]?.env, `${schema[group]?.[name]?.env}_FILE`, `${k} has a ${name}File sibling read from ${schema[group]?.[name]?.env}_FILE`);
  }
  const secret = Buffer.alloc(32, 9).toString('base64');
  const adminFile = tmp('admin', 'admin-from-file\n');
  const secretFile = tmp('secret', `${secret}\n`);
  const { config, masked } = loadConfig({ env: { SLUICE_ADMIN_KEY_FILE: adminFile, SLUICE_SECRET_KEY_FILE: secretFile } });
  assert.equal(config.auth.adminKey, 'admin-from-file');
  assert.equal(config.store.secretKey, secret);
  assert.ok(!masked().includes('admin-from-file') && !masked().includes(secret), 'config print masks what came from files too');
  // Both ways at once, a file that is missing or empty, a file with a bad value: each names its key.
  const both = rejects(() => loadConfig({ env: { SLUICE_ADMIN_KEY: 'x', SLUICE_ADMIN_KEY_FILE: adminFile } }), 'auth.adminKeyFile');
  assert.match(both.message, /not both/);
  const missing = rejects(() => loadConfig({ env: { SLUICE_SECRET_KEY_FILE: '/nonexistent/secret' } }), 'store.secretKeyFile');
  assert.match(missing.message, /ENOENT/);
  rejects(() => loadConfig({ env: { SLUICE_ADMIN_KEY_FILE: tmp('empty', '\n') } }), 'auth.adminKeyFile');
  const bad = rejects(() => loadConfig({ env: { SLUICE_SECRET_KEY_FILE: tmp('bad', 'short\n') } }), 'store.secretKey');
  assert.match(bad.message, /SLUICE_SECRET_KEY_FILE/, 'the message names the file variable, not SLUICE_SECRET_KEY');
  assert.ok(!bad.message.includes('short'), 'nor the value');
});

test('loopback is 127.0.0.0/8, ::1 and localhost; anything else is not', () => {
  for (const h of ['127.0.0.1', '127.1.2.3', 'localhost', '::1', '[::1]', '0:0:0:0:0:0:0:1', '::ffff:127.0.0.1']) assert.equal(isLoopbackHost(h), true, h);
  for (const h of ['0.0.0.0', '::', '10.0.0.1', '192.168.1.5', 'example.com', 'localhost.example.com', '::2']) assert.equal(isLoopbackHost(h), false, h);
});

test('plain HTTP on a non-loopback address is refused at load, naming api.host and the ways out; api.insecure allows it', () => {
  const err = rejects(() => loadConfig({ env: { SLUICE_API_HOST: '0.0.0.0' } }), 'api.host');
  assert.match(err.message, /SLUICE_API_TLS_CERT/);
  assert.match(err.message, /SLUICE_API_INSECURE=true/);
  assert.match(err.message, /SLUICE_API_HOST/);
  rejects(() => loadConfig({ file: tmp('c.yaml', 'api:\n  host: 10.1.2.3\n'), env: {} }), 'api.host');
  assert.equal(loadConfig({ env: { SLUICE_API_HOST: '0.0.0.0', SLUICE_API_INSECURE: 'true' } }).config.api.insecure, true);
  assert.equal(loadConfig({ env: { SLUICE_API_HOST: '::1' } }).config.api.host, '::1');
});

/** A self-signed certificate and key (openssl, as the test stack makes its CA). */
function selfSigned(cn: string): { cert: string; key: string } {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sluice-tls-'));
  const cert = path.join(dir, 'cert.pem');
  const key = path.join(dir, 'key.pem');
  execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-days', '1', '-subj', `/CN=${cn}`, '-keyout', key, '-out', cert], { stdio: 'ignore' });
  return { cert, key };
}

test('api.tls: both files or neither, readable, and a key that belongs to the certificate; with them a non-loopback bind is allowed', () => {
  const a = selfSigned('a');
  const b = selfSigned('b');
  const ok = loadConfig({ env: { SLUICE_API_HOST: '0.0.0.0', SLUICE_API_TLS_CERT: a.cert, SLUICE_API_TLS_KEY: a.key } }).config;
  assert.ok(readApiTls(ok)?.cert.toString().includes('BEGIN CERTIFICATE'));
  assert.equal(readApiTls(loadConfig({ env: {} }).config), undefined);
  rejects(() => loadConfig({ env: { SLUICE_API_TLS_CERT: a.cert } }), 'api.tls.key');
  rejects(() => loadConfig({ env: { SLUICE_API_TLS_KEY: a.key } }), 'api.tls.cert');
  const missing = rejects(() => loadConfig({ env: { SLUICE_API_TLS_CERT: '/nonexistent/cert.pem', SLUICE_API_TLS_KEY: a.key } }), 'api.tls.cert');
  assert.match(missing.message, /SLUICE_API_TLS_CERT/);
  const mismatch = rejects(() => loadConfig({ env: { SLUICE_API_TLS_CERT: a.cert, SLUICE_API_TLS_KEY: b.key } }), 'api.tls.key');
  assert.match(mismatch.message, /cannot be used together/);
  rejects(() => loadConfig({ env: { SLUICE_API_TLS_CERT: a.key, SLUICE_API_TLS_KEY: a.key } }), 'api.tls.key');
});

test('secrets.fileDir must be a directory', () => {
  rejects(() => loadConfig({ env: { SLUICE_SECRETS_FILE_DIR: '/nonexistent/secrets' } }), 'secrets.fileDir');
  assert.equal(loadConfig({ env: { SLUICE_SECRETS_FILE_DIR: os.tmpdir() } }).config.secrets.fileDir, os.tmpdir());
});
