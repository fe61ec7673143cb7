/**
 * The connector against a server whose accounts use caching_sha2_password (MySQL 8.0+'s
 * default; a default MySQL 8.4 accepts nothing else): the stack's mysql8auth
 * (test/stack/mysql8auth.sh, a MySQL-protocol server on go-mysql, no storage, no binlog).
 * The connection test, the query connection (plain TCP with the server's RSA key, and TLS
 * with the server verified against the stack's CA) and both connections of the binlog
 * reader log in; the binlog dump itself is then refused by that server.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { useMysql8auth } from '../../test/helpers/mysql8auth';
import { isSluiceError } from '../../src/errors';
import { BinlogStream } from './binlog';
import { mysqlConnector } from './index';
import { clientConfig, connect, type MysqlConfig } from './naming';
import { DEFAULT_TYPE_OPTIONS } from './types';
import { logger } from './test-support';

const server = useMysql8auth();

/** How the connection authenticated, as the server saw it ("caching_sha2_password fast", …). */
async function authPath(config: MysqlConfig): Promise<string> {
  const conn = await connect(config);
  try {
    const [row] = await conn.query<{ auth: string }>('SELECT @@sluice_auth AS auth');
    return row!.auth;
  } finally {
    await conn.end();
  }
}

const flushCache = (): Promise<void> => server().flushCache();
const verifyFull = (tls: Record<string, unknown> = {}): MysqlConfig => clientConfig(server().url, { sslmode: 'verify-full', tls: { ca: server().ca.toString(), ...tls } });

test('the connection test passes against a caching_sha2_password server', async () => {
  await flushCache();
  const report = await mysqlConnector.test!({ id: 'c', name: 'c', kind: 'mysql', url: server().url, options: {} }, logger);
  assert.equal(report.reachable, true, JSON.stringify(report.checks));
  assert.equal(report.version, 'MySQL 8.4.0-mysql8auth');
  assert.deepEqual(report.checks.filter((c) => !c.ok), []);
  assert.deepEqual(report.checks.map((c) => c.name), ['reachable', 'version', 'log_bin', 'binlog_format', 'binlog_row_image', 'server_id', 'privileges']);
});

test('query connections log in with caching_sha2_password: full authentication over TCP (RSA key) and over verified TLS, then the fast path', async () => {
  const config = clientConfig(server().url);
  await flushCache();
  assert.equal(await authPath(config), 'caching_sha2_password full-rsa');
  assert.equal(await authPath(config), 'caching_sha2_password fast');
  await flushCache();
  // sslmode verify-full with the stack's CA: the chain and the host name (127.0.0.1, an IP SAN) are verified.
  const tls = verifyFull();
  assert.equal(await authPath(tls), 'caching_sha2_password full-tls');
  assert.equal(await authPath(tls), 'caching_sha2_password fast');
  await assert.rejects(connect(verifyFull({ servername: 'elsewhere.example' })), (err: unknown) => isSluiceError(err) && err.code === 'TLS_HOSTNAME_MISMATCH');
  await assert.rejects(connect({ ...config, password: 'wrong' }), (err: unknown) => isSluiceError(err) && err.detail['mysqlCode'] === 'ER_ACCESS_DENIED_ERROR');
  await assert.rejects(connect(clientConfig(server().url, { sslmode: 'verify-ca' })), (err: unknown) => isSluiceError(err) && err.code === 'TLS_CERTIFICATE_UNTRUSTED');
});

test('the binlog reader logs in with caching_sha2_password on both connections (over TLS too); the server then refuses the dump', async () => {
  for (const ssl of [false, true]) {
    await flushCache();
    const config: MysqlConfig = ssl ? verifyFull() : clientConfig(server().url);
    const stream = new BinlogStream({
      config, tables: [], typeOptions: DEFAULT_TYPE_OPTIONS, serverId: 4712, name: 't', logger,
      heartbeatIntervalMs: 1000, maxBatch: 100, reconnectTimeoutMs: 1000,
    });
    const batches = stream.batches({ file: 'mysql-bin.000001', pos: 4, gtid: null }, AbortSignal.timeout(20_000));
    try {
      const first = await batches.next();
      assert.deepEqual(first.value, { events: [], position: { file: 'mysql-bin.000001', pos: 4, gtid: null, shapes: '{}' } });
      await assert.rejects(batches.next(), (err: unknown) => isSluiceError(err) && err.code === 'SOURCE_READ_FAILED' && /serves no binlog/.test(err.message));
    } finally {
      await stream.close();
    }
  }
});
