import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { loadConfig, kafkaBrokers } from './index';
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
