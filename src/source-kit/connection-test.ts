/**
 * The shape of a SQL source's connection test (`POST /connections/{id}/test`, validate):
 * an unreachable server is a report, never an exception; once connected, the connector's
 * own checks run and a catalog query that fails is one more failed check.
 */
import type { CheckResult, TestReport } from '../core';
import { isSluiceError } from '../errors';

export interface ConnectionTest<C> {
  /** "PostgreSQL", "MySQL/MariaDB": named in the suggestion for an unreachable server. */
  product: string;
  logger: { debug(obj: object, msg: string): void };
  connect(): Promise<C>;
  end(conn: C): Promise<void>;
  /** Adds the connector's checks after `reachable`; returns the server's product and version. */
  run(conn: C, checks: CheckResult[]): Promise<string>;
}

export async function testConnection<C>(t: ConnectionTest<C>): Promise<TestReport> {
  let conn: C;
  try {
    conn = await t.connect();
  } catch (err) {
    t.logger.debug({ err }, `${t.product} connection test: unreachable`);
    return {
      reachable: false,
      checks: [{
        name: 'reachable',
        ok: false,
        ...(isSluiceError(err) ? { code: err.code } : {}),
        message: (err as Error).message,
        // A TLS failure says what to fix about TLS; anything else is the address or the login.
        suggestion: isSluiceError(err) && err.code.startsWith('TLS_') ? err.suggestion : `Check that ${t.product} is up and that host, port, database, user and password in the url are right.`,
      }],
    };
  }
  const checks: CheckResult[] = [{ name: 'reachable', ok: true, message: 'connected' }];
  try {
    const version = await t.run(conn, checks);
    return { reachable: true, version, checks };
  } catch (err) {
    checks.push({ name: 'query', ok: false, message: (err as Error).message, suggestion: 'The server answered but a catalog query failed; check the user\'s privileges.' });
    return { reachable: true, checks };
  } finally {
    await t.end(conn).catch(() => undefined);
  }
}

/** Runs `use` on a connection and ends it, whatever happens. */
export async function withConnection<C, T>(conn: C, end: (conn: C) => Promise<void>, use: (conn: C) => Promise<T>): Promise<T> {
  try {
    return await use(conn);
  } finally {
    await end(conn).catch(() => undefined);
  }
}
