/**
 * What the `postgresql` connector checks before anything runs: the connection test
 * (POST /connections/{id}/test: what logical replication needs of the server), the tables a
 * pattern can match, and the per-table checks of POST /validate.
 */
import type { Client } from 'pg';
import type { Logger } from 'pino';
import type { CheckResult, ConnectionSpec, StreamSpec, TableRef, TestReport } from '../../src/core';
import { clientConfig } from './naming';
import { connect } from './pg-errors';
import { describeTables, missingPrivileges, TypeCatalog } from './catalog';
import { tableChecks } from '../../src/source-kit/table-checks';
import { testConnection } from '../../src/source-kit/connection-test';

export async function test(connection: ConnectionSpec, logger: Logger): Promise<TestReport> {
  return testConnection({
    product: 'PostgreSQL',
    logger,
    connect: () => connect(clientConfig(connection.url, connection.options)),
    end: (client) => client.end(),
    run: checkServer,
  });
}

/** What logical replication needs of the server: version, wal_level, free slots and WAL senders, the REPLICATION privilege. */
async function checkServer(client: Client, checks: CheckResult[]): Promise<string> {
  const q = async (sql: string): Promise<Record<string, string>> => (await client.query(sql)).rows[0] as Record<string, string>;
  const version = (await q('SHOW server_version')).server_version!;
  const major = Number.parseInt(version, 10);
  checks.push({
    name: 'version',
    ok: major >= 10,
    message: `PostgreSQL ${version}`,
    ...(major >= 10 ? {} : { suggestion: 'pgoutput logical replication needs PostgreSQL 10 or later.' }),
  });
  const wal = (await q('SHOW wal_level')).wal_level!;
  checks.push({
    name: 'wal_level',
    ok: wal === 'logical',
    message: `wal_level is ${wal}`,
    ...(wal === 'logical' ? {} : { suggestion: 'ALTER SYSTEM SET wal_level = logical; then restart PostgreSQL.' }),
  });
  const slots = await q(`SELECT current_setting('max_replication_slots')::int AS max, (SELECT count(*) FROM pg_replication_slots)::int AS used`);
  const free = Number(slots.max) - Number(slots.used);
  checks.push({
    name: 'replication_slots',
    ok: free > 0,
    message: `${free} of ${slots.max} replication slots free`,
    detail: { max: Number(slots.max), used: Number(slots.used) },
    ...(free > 0 ? {} : { suggestion: 'Raise max_replication_slots or drop unused slots (pg_replication_slots).' }),
  });
  const senders = await q(`SELECT current_setting('max_wal_senders')::int AS max, (SELECT count(*) FROM pg_stat_replication)::int AS used`);
  const freeSenders = Number(senders.max) - Number(senders.used);
  checks.push({
    name: 'wal_senders',
    ok: freeSenders > 0,
    message: `${freeSenders} of ${senders.max} WAL senders free`,
    ...(freeSenders > 0 ? {} : { suggestion: 'Raise max_wal_senders.' }),
  });
  const role = await q('SELECT current_user AS name, rolreplication, rolsuper FROM pg_roles WHERE rolname = current_user');
  const ok = role.rolreplication === 't' || role.rolsuper === 't';
  checks.push({
    name: 'replication_privilege',
    ok,
    message: ok ? `${role.name} may replicate` : `${role.name} has neither REPLICATION nor superuser`,
    ...(ok ? {} : { suggestion: `ALTER ROLE ${role.name} WITH REPLICATION; and GRANT SELECT on the tables to capture.` }),
  });
  return `PostgreSQL ${version}`;
}

/** Base tables outside the system schemas, for table patterns. */
export async function listTables(connection: ConnectionSpec): Promise<{ tables: TableRef[]; defaultSchema: string }> {
  const client = await connect(clientConfig(connection.url, connection.options));
  try {
    const { rows } = await client.query(
      `SELECT table_schema AS schema, table_name AS table FROM information_schema.tables
        WHERE table_type = 'BASE TABLE' AND table_schema NOT IN ('pg_catalog', 'information_schema') AND table_schema NOT LIKE 'pg\\_%'`,
    );
    return { tables: rows as TableRef[], defaultSchema: 'public' };
  } finally {
    await client.end().catch(() => undefined);
  }
}

/** Per table: exists, keyed (primary key or replica identity), SELECT granted, filter compiles. */
export async function checkTables(connection: ConnectionSpec, stream: StreamSpec, tables: TableRef[]): Promise<CheckResult[]> {
  const client = await connect(clientConfig(connection.url, connection.options));
  const types = new TypeCatalog();
  try {
    return await tableChecks(stream, 'postgresql', tables.map((t) => ({ schema: t.schema || 'public', table: t.table })), async (ref) => {
      const [meta] = await describeTables(client, [ref], types);
      const missing = (await missingPrivileges(client, [meta!])).filter((m) => m.startsWith('SELECT'));
      const identity = meta!.keyIsWholeRow ? 'REPLICA IDENTITY FULL (the whole row is the key)' : `key (${meta!.key.join(', ')})`;
      return { meta: { columns: meta!.schema.columns, message: identity }, missing };
    });
  } finally {
    await client.end().catch(() => undefined);
  }
}
