/**
 * Smoke test of test/stack/mysql8auth.sh: a MySQL-protocol server whose accounts use
 * caching_sha2_password, the default of MySQL 8.0+ (and what a default MySQL 8.4 requires).
 * It proves which clients can log in to such a server:
 * - mysql2, through the fast path and both full authentications (TLS, and plain TCP with the
 *   server's RSA public key), verifying the server certificate against the stack's CA;
 * - @vlasky/zongji 0.9 (on mysql2): both of its connections log in and run their start-up
 *   queries (the server serves no binlog, so the dump that follows is refused);
 * - the `mysql` driver that zongji 0.5.1 runs on cannot (UNSUPPORTED_AUTH_METHOD).
 * The server is started here when it is not running, and stopped again afterwards.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import mysql from 'mysql';
import mysql2 from 'mysql2/promise';
import { useMysql8auth } from '../helpers/mysql8auth';

const server = useMysql8auth();
const flushCache = (): Promise<void> => server().flushCache();
const base = (): mysql2.ConnectionOptions => {
  const s = server();
  return { host: s.host, port: s.port, user: s.user, password: s.password, database: s.database, connectTimeout: 10_000 };
};
const tls = (): mysql2.ConnectionOptions => ({ ...base(), ssl: { ca: server().ca } });

/** How the connection authenticated, as the server saw it ("caching_sha2_password fast", …). */
async function authPath(options: mysql2.ConnectionOptions): Promise<string> {
  const c = await mysql2.createConnection(options);
  try {
    const [rows] = await c.query<mysql2.RowDataPacket[]>('SELECT @@sluice_auth AS auth');
    return String(rows[0]!['auth']);
  } finally {
    await c.end();
  }
}

test('mysql2: full authentication over plain TCP with the RSA public key, then the fast path', async () => {
  await flushCache();
  assert.equal(await authPath(base()), 'caching_sha2_password full-rsa');
  assert.equal(await authPath(base()), 'caching_sha2_password fast');
});

test('mysql2: full authentication over TLS (server certificate verified against the CA), then the fast path', async () => {
  await flushCache();
  assert.equal(await authPath(tls()), 'caching_sha2_password full-tls');
  assert.equal(await authPath(tls()), 'caching_sha2_password fast');
  const c = await mysql2.createConnection(tls());
  try {
    const [rows] = await c.query<mysql2.RowDataPacket[]>('SELECT VERSION() AS version');
    assert.match(String(rows[0]!['version']), /^8\.4\./);
  } finally {
    await c.end();
  }
});

test('mysql2: a wrong password is refused, on the full and on the fast path', async () => {
  await flushCache();
  await assert.rejects(mysql2.createConnection({ ...base(), password: 'wrong' }), (err: { errno?: number }) => err.errno === 1045);
  assert.equal(await authPath(base()), 'caching_sha2_password full-rsa');
  await assert.rejects(mysql2.createConnection({ ...base(), password: 'wrong' }), (err: { errno?: number }) => err.errno === 1045);
});

test('the mysql driver (under zongji 0.5.1) cannot authenticate with caching_sha2_password', async () => {
  for (const ssl of [undefined, { ca: server().ca }]) {
    const c = mysql.createConnection({ ...base(), ...(ssl ? { ssl } : {}) } as mysql.ConnectionConfig);
    c.on('error', () => undefined);
    const err = await new Promise<mysql.MysqlError | null>((resolve) => c.connect((e) => resolve(e)));
    c.destroy();
    assert.ok(err, `the mysql driver logged in${ssl ? ' over TLS' : ''}`);
    assert.equal(err.code, 'UNSUPPORTED_AUTH_METHOD');
    assert.match(err.message, /caching_sha2_password/);
  }
});

test('@vlasky/zongji: both connections authenticate and run their start-up queries', async () => {
  const { default: ZongJi } = await import('@vlasky/zongji');
  await flushCache();
  const { host, port, user, password } = server();
  const zj = new ZongJi({ host, port, user, password, connectTimeout: 10_000 });
  let timer: NodeJS.Timeout | undefined;
  try {
    const outcome = await new Promise<{ ready: boolean; error: Error | null }>((resolve) => {
      let ready = false;
      timer = setTimeout(() => resolve({ ready, error: new Error('no error from the binlog dump within 20 s') }), 20_000);
      zj.on('ready', () => (ready = true));
      zj.on('error', (error) => resolve({ ready, error }));
      zj.start({ serverId: 4711, filename: 'mysql-bin.000001', position: 4 });
    });
    // 'ready' comes after SELECT VERSION() and the checksum query on the control connection
    // and a query on the binlog connection; the binlog dump itself is refused by this server.
    assert.ok(outcome.ready, `zongji never got ready: ${outcome.error?.message}`);
    assert.equal(zj.serverVersion, '8.4.0-mysql8auth');
    assert.match(String(outcome.error?.message), /serves no binlog/);
    // Its control connection (a mysql2 Connection) logged in with the full authentication.
    const ctrl = zj.ctrlConnection as unknown as { query(sql: string, cb: (err: Error | null, rows: Array<Record<string, unknown>>) => void): void };
    const auth = await new Promise<string>((resolve, reject) => ctrl.query('SELECT @@sluice_auth AS auth', (err, rows) => (err ? reject(err) : resolve(String(rows[0]!['auth'])))));
    assert.equal(auth, 'caching_sha2_password full-rsa');
  } finally {
    clearTimeout(timer);
    zj.stop();
  }
});
