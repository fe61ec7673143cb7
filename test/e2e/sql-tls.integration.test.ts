/**
 * TLS to the SQL sources (issue 21), against the stack's PostgreSQL and MariaDB, which
 * serve a certificate for 127.0.0.1/localhost signed by the stack CA and also listen on
 * 127.0.0.2, which the certificate does not name (test/stack/tls.sh). Through the
 * daemon's API: the connection test tells verify-full with the stack CA from an unknown
 * CA and from a certificate for another host, each by its own code; verify-ca and
 * require pass there. A stream with verify-full (the CA as a file inside secrets.fileDir)
 * and a client certificate (mutual TLS) snapshots and streams changes, and every one of
 * its sessions is encrypted and presents the certificate, the replication (PostgreSQL:
 * pg_stat_ssl of the walsender) and binlog (MariaDB: a user the server admits only with a
 * certificate, REQUIRE X509) connections included. A server that offers no TLS fails
 * require with TLS_NOT_OFFERED and is streamed from in plain text under prefer.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { stackUrls, tlsStack, unlessServer } from '../helpers/stack';
import { startDaemon, tmpDataDir, type RunningDaemon } from '../helpers/daemon';
import { cdcRunning, E2E_ADMIN_KEY, pgClient, start, uid, waitConverged, withStream } from '../helpers/pipeline';
import { myClient } from '../helpers/mysql-pipeline';
import { waitFor } from '../helpers/wait-for';
import type { SourceKind } from '../helpers/orders';

const skip = unlessServer('postgres') || unlessServer('mysql') || unlessServer('mongodb') || (process.env.SLUICE_TEST_TLS_CA ? false : 'SLUICE_TEST_TLS_CA is not set (start the test stack)');

/**
 * MariaDB users the server admits only over TLS (REQUIRE SSL), or only with a client
 * certificate the stack CA signed (REQUIRE X509): a binlog connection that is not
 * encrypted, or presents no certificate, is refused, so a stream that works proves it.
 */
const TLS_USER = 'sluice_tls';
const X509_USER = 'sluice_x509';
const TLS_PASSWORD = 'sluice-tls-pw';

async function tlsOnlyUsers(): Promise<void> {
  const c = await myClient();
  try {
    for (const [user, require] of [[TLS_USER, 'SSL'], [X509_USER, 'X509']] as const) {
      for (const host of ['%', 'localhost']) {
        await c.query(`CREATE USER IF NOT EXISTS '${user}'@'${host}' IDENTIFIED BY '${TLS_PASSWORD}'`);
        await c.query(`ALTER USER '${user}'@'${host}' REQUIRE ${require}`);
        await c.query(`GRANT ALL PRIVILEGES ON *.* TO '${user}'@'${host}'`);
      }
    }
  } finally {
    await c.end();
  }
}

/** The stack's URL of a kind, for another host and (MariaDB) a TLS-only user. */
function sourceUrl(kind: SourceKind, host = '127.0.0.1', user = TLS_USER): string {
  const u = new URL(kind === 'mysql' ? stackUrls().mysql : stackUrls().postgres);
  u.hostname = host;
  if (kind === 'mysql') {
    u.username = user;
    u.password = TLS_PASSWORD;
  }
  return u.toString();
}

interface Report {
  reachable: boolean;
  checks: Array<{ name: string; ok: boolean; code?: string; message: string; suggestion?: string }>;
}

async function connectionTest(d: RunningDaemon, kind: SourceKind, url: string, options: Record<string, unknown>): Promise<Report> {
  const made = await d.api('/api/v1/connections', { method: 'POST', body: { name: `tls-${uid()}`, kind, url, options } });
  assert.equal(made.status, 201, JSON.stringify(made.body));
  const r = await d.api(`/api/v1/connections/${made.body.id}/test`, { method: 'POST', body: {} });
  assert.equal(r.status, 200, JSON.stringify(r.body));
  return r.body as Report;
}

/**
 * A server that offers no TLS: a proxy to the stack's server that answers PostgreSQL's
 * SSLRequest with "N", or clears CLIENT_SSL in MariaDB's greeting, and passes all else.
 */
async function noTlsProxy(kind: SourceKind): Promise<{ url: string; close(): Promise<void> }> {
  const target = new URL(kind === 'mysql' ? stackUrls().mysql : stackUrls().postgres);
  const sockets = new Set<net.Socket>();
  const server = net.createServer((client) => {
    const upstream = net.connect(Number(target.port), target.hostname);
    for (const s of [client, upstream]) {
      sockets.add(s);
      s.on('error', () => undefined);
      s.on('close', () => (client.destroy(), upstream.destroy()));
    }
    if (kind === 'postgresql') {
      client.once('data', (first: Buffer) => {
        const sslRequest = first.length >= 8 && first.readUInt32BE(0) === 8 && first.readUInt32BE(4) === 80877103;
        if (sslRequest) client.write('N');
        else upstream.write(first);
        if (sslRequest && first.length > 8) upstream.write(first.subarray(8));
        client.pipe(upstream);
        upstream.pipe(client);
      });
    } else {
      upstream.once('data', (greeting: Buffer) => {
        // header(4) protocol(1) version\0 thread id(4) scramble(8) filler(1), then the capability flags' low 2 bytes.
        const caps = greeting.indexOf(0, 5) + 1 + 4 + 8 + 1;
        greeting.writeUInt16LE(greeting.readUInt16LE(caps) & ~0x0800, caps);
        client.write(greeting);
        client.pipe(upstream);
        upstream.pipe(client);
      });
    }
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const url = new URL(target.toString());
  url.port = String((server.address() as net.AddressInfo).port);
  return {
    url: url.toString(),
    close: () => {
      for (const s of sockets) s.destroy();
      return new Promise((resolve) => server.close(() => resolve()));
    },
  };
}

const reachable = (r: Report): Report['checks'][number] => r.checks.find((c) => c.name === 'reachable')!;

for (const kind of ['postgresql', 'mysql'] as const) {
  test(`${kind}: the connection test passes verify-full with the stack CA, and tells an unknown CA and another host's certificate apart`, { skip, timeout: 120_000 }, async () => {
    const t = tlsStack();
    const ca = fs.readFileSync(t.ca, 'utf8');
    if (kind === 'mysql') await tlsOnlyUsers();
    const d = await startDaemon(tmpDataDir(), {}, { adminKey: E2E_ADMIN_KEY });
    try {
      const ok = async (url: string, options: Record<string, unknown>, what: string): Promise<void> => {
        const r = await connectionTest(d, kind, url, options);
        assert.equal(r.reachable, true, `${what}: ${JSON.stringify(r.checks)}`);
      };
      const fails = async (url: string, options: Record<string, unknown>, code: string, suggestion: RegExp): Promise<void> => {
        const r = await connectionTest(d, kind, url, options);
        assert.equal(r.reachable, false, `${code}: ${JSON.stringify(r.checks)}`);
        const c = reachable(r);
        assert.equal(c.code, code, JSON.stringify(c));
        assert.match(c.suggestion ?? '', suggestion);
      };
      await ok(sourceUrl(kind), { sslmode: 'verify-full', tls: { ca } }, 'verify-full with the stack CA');
      // The system roots do not know the stack CA; nor does a CA that signed nothing here.
      await fails(sourceUrl(kind), { sslmode: 'verify-full' }, 'TLS_CERTIFICATE_UNTRUSTED', /options\.tls/);
      await fails(sourceUrl(kind), { sslmode: 'verify-full', tls: { ca: fs.readFileSync(t.untrustedCa, 'utf8') } }, 'TLS_CERTIFICATE_UNTRUSTED', /CA/);
      // 127.0.0.2: the same server, a certificate that does not name it.
      const other = sourceUrl(kind, t.wrongHost);
      await fails(other, { sslmode: 'verify-full', tls: { ca } }, 'TLS_HOSTNAME_MISMATCH', /servername|verify-ca/);
      await ok(other, { sslmode: 'verify-ca', tls: { ca } }, 'verify-ca checks the chain only');
      await ok(other, { sslmode: 'require' }, 'require verifies nothing');
      await ok(other, { sslmode: 'verify-full', tls: { ca, servername: 'localhost' } }, 'verify-full against the servername given');
      // The URL's own setting still works, and the option wins over it.
      const urlMode = new URL(other);
      urlMode.searchParams.set('sslmode', 'verify-full');
      await ok(urlMode.toString(), { sslmode: 'require' }, 'the sslmode option wins over the URL');
      await fails(urlMode.toString(), { tls: { ca } }, 'TLS_HOSTNAME_MISMATCH', /servername/);
      if (kind === 'mysql') {
        // The TLS-only user is refused in plain text: what the stream test below relies on.
        const plain = await connectionTest(d, kind, sourceUrl(kind), { sslmode: 'disable' });
        assert.equal(plain.reachable, false);
        assert.match(reachable(plain).message, /Access denied/);
      }
    } finally {
      await d.stop('SIGTERM');
    }
  });

  test(`${kind}: a stream with verify-full and a client certificate snapshots and streams changes, every session (${kind === 'mysql' ? 'binlog' : 'replication'} included) over TLS`, { skip, timeout: 300_000 }, async () => {
    const t = tlsStack();
    if (kind === 'mysql') await tlsOnlyUsers();
    const applicationName = `sluice-tls-${uid()}`;
    const sourceOptions = {
      sslmode: 'verify-full',
      // Files inside secrets.fileDir, read by the store at each use; a client certificate (mutual TLS).
      tls: { caFile: path.basename(t.ca), certFile: path.basename(t.clientCert), keyFile: path.basename(t.clientKey) },
      ...(kind === 'postgresql' ? { applicationName } : {}),
    };
    await withStream(
      { source: kind, rows: 300, mode: 'CDC', sourceUrl: sourceUrl(kind, '127.0.0.1', X509_USER), sourceOptions, env: { SLUICE_SECRETS_FILE_DIR: path.dirname(t.ca) } },
      async ({ d, streamId, table, collection, src, db }) => {
        await start(d, streamId);
        await cdcRunning(d, streamId);
        if (kind === 'mysql') {
          // The binlog dump runs as the certificate-only user (so it is encrypted and presented the client certificate, or it would have been refused).
          const c = await myClient();
          try {
            await waitFor(async () => (await c.query(`SELECT 1 FROM information_schema.PROCESSLIST WHERE USER = ? AND COMMAND LIKE 'Binlog Dump%'`, [X509_USER])).length > 0, {
              timeoutMs: 10_000,
              intervalMs: 100,
              message: `a binlog dump of ${X509_USER}`,
            });
          } finally {
            await c.end();
          }
        }
        await src.exec(`UPDATE ${table} SET note = 'changed over TLS' WHERE id <= 10`);
        await src.exec(`DELETE FROM ${table} WHERE id > 290`);
        await src.exec(`INSERT INTO ${table} (id, n, note, amount, at) VALUES (1001, 1, 'new', 1.50, ${kind === 'mysql' ? 'UTC_TIMESTAMP(3)' : 'now()'})`);
        await waitConverged(src, table, db, collection, 120_000);
        assert.equal((await db.collection(collection).findOne({ _id: 5 as never }))?.note, 'changed over TLS');
        if (kind === 'postgresql') {
          const pg = await pgClient();
          try {
            const { rows } = await pg.query<{ backend_type: string; ssl: boolean | null; client_dn: string | null }>(
              `SELECT a.backend_type, s.ssl, s.client_dn FROM pg_stat_activity a LEFT JOIN pg_stat_ssl s ON s.pid = a.pid WHERE a.application_name = $1`,
              [applicationName],
            );
            assert.ok(rows.some((r) => r.backend_type === 'walsender'), `the replication connection is among the stream's sessions: ${JSON.stringify(rows)}`);
            assert.deepEqual(rows.filter((r) => r.ssl !== true || r.client_dn !== '/CN=sluice-test-client'), [], 'every session of the stream is encrypted and presented the client certificate');
          } finally {
            await pg.end();
          }
        }
      },
    );
  });
}

for (const kind of ['postgresql', 'mysql'] as const) {
  test(`${kind}: a server without TLS fails require with TLS_NOT_OFFERED; prefer streams from it in plain text, the ${kind === 'mysql' ? 'binlog' : 'replication'} connection included`, { skip, timeout: 300_000 }, async () => {
    const proxy = await noTlsProxy(kind);
    try {
      const d = await startDaemon(tmpDataDir(), {}, { adminKey: E2E_ADMIN_KEY });
      try {
        const r = await connectionTest(d, kind, proxy.url, { sslmode: 'require' });
        assert.equal(r.reachable, false, JSON.stringify(r.checks));
        assert.equal(reachable(r).code, 'TLS_NOT_OFFERED');
        assert.match(reachable(r).suggestion ?? '', /prefer/);
        assert.equal((await connectionTest(d, kind, proxy.url, { sslmode: 'prefer' })).reachable, true);
      } finally {
        await d.stop('SIGTERM');
      }
      await withStream({ source: kind, rows: 50, sourceUrl: proxy.url, sourceOptions: { sslmode: 'prefer' } }, async ({ d, streamId, table, collection, src, db }) => {
        await start(d, streamId);
        await cdcRunning(d, streamId);
        await src.exec(`UPDATE ${table} SET note = 'changed in plain text' WHERE id <= 5`);
        await waitConverged(src, table, db, collection, 60_000);
      });
    } finally {
      await proxy.close();
    }
  });
}
