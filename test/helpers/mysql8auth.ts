/**
 * The stack's mysql8auth server (test/stack/mysql8auth.sh): a MySQL-protocol server whose
 * accounts use caching_sha2_password. Not part of `stack.sh up`: a test file that needs it
 * calls `useMysql8auth()`, which starts it before the file's tests when it is not running.
 * It is left running: test files run in parallel, and one file stopping it failed another
 * that was still starting against it. `stack.sh down` stops it.
 */
import { before } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import mysql2 from 'mysql2/promise';

const ROOT = path.resolve(__dirname, '..', '..', '..');
const SCRIPT = path.join(ROOT, 'test/stack/mysql8auth.sh');

export interface Mysql8auth {
  /** mysql://sluice:sluice@127.0.0.1:port/sluice */
  url: string;
  host: string;
  port: number;
  user: string;
  password: string;
  database: string;
  /** The CA (PEM) that signed the server's certificate (for 127.0.0.1 and localhost). */
  ca: Buffer;
  /** Empties the server's cache of verified accounts (as FLUSH PRIVILEGES does on MySQL): the next login is a full authentication. */
  flushCache(): Promise<void>;
}

function script(...args: string[]): string {
  // Cold: the Go build takes about a minute (module downloads included); warm: milliseconds.
  const r = spawnSync('bash', [SCRIPT, ...args], { cwd: ROOT, encoding: 'utf8', timeout: 600_000 });
  if (r.status !== 0) throw new Error(`mysql8auth.sh ${args.join(' ')} failed (${r.status ?? r.signal}): ${r.stderr}`);
  return r.stdout;
}

const status = (): { url: string; ca: string; up: boolean } => JSON.parse(script('status', '--json')) as { url: string; ca: string; up: boolean };

/** Registers the file's before/after hooks; the returned function gives the server once `before` ran. */
export function useMysql8auth(): () => Mysql8auth {
  let server: Mysql8auth | undefined;
  before(() => {
    if (!status().up) script('up');
    const s = status();
    assert.ok(s.up, 'mysql8auth did not come up');
    const u = new URL(s.url);
    const address = { host: u.hostname, port: Number(u.port), user: u.username, password: u.password, database: u.pathname.slice(1) };
    const ca = fs.readFileSync(s.ca);
    const flushCache = async (): Promise<void> => {
      const c = await mysql2.createConnection({ ...address, ssl: { ca } });
      try {
        await c.query('FLUSH PRIVILEGES');
      } finally {
        await c.end();
      }
    };
    server = { url: s.url, ...address, ca, flushCache };
  });
  return () => {
    assert.ok(server, 'mysql8auth is not set up (useMysql8auth before hook)');
    return server;
  };
}
