/**
 * What the `mysql` connector checks before anything runs: the connection test
 * (POST /connections/{id}/test: what binlog CDC needs of the server), the tables a
 * pattern can match, and the per-table checks of POST /validate.
 */
import type { Logger } from 'pino';
import type { CheckResult, ConnectionSpec, StreamSpec, TableRef, TestReport } from '../../src/core';
import { describeTables, missingPrivileges, serverInfo } from './catalog';
import { DEFAULT_TYPE_OPTIONS } from './types';
import { tableChecks } from '../../src/source-kit/table-checks';
import { testConnection } from '../../src/source-kit/connection-test';
import { clientConfig, connect, type Conn } from './naming';
import { mysqlStreamOptions } from './options';

export async function test(connection: ConnectionSpec, logger: Logger): Promise<TestReport> {
  let database = '';
  return testConnection({
    product: 'MySQL/MariaDB',
    logger,
    connect: async () => {
      const config = clientConfig(connection.url, connection.options);
      database = config.database;
      return connect(config);
    },
    end: (conn) => conn.end(),
    run: (conn, checks) => checkServer(conn, database, checks),
  });
}

/** What binlog CDC needs of the server: the binary log on, in ROW format with FULL images, a server_id, the privileges. */
async function checkServer(conn: Conn, database: string, checks: CheckResult[]): Promise<string> {
  const s = await serverInfo(conn);
  const product = `${s.mariadb ? 'MariaDB' : 'MySQL'} ${s.version}`;
  checks.push({ name: 'version', ok: true, message: product });
  const logBin = s.logBin.toUpperCase() === 'ON' || s.logBin === '1';
  checks.push({
    name: 'log_bin',
    ok: logBin,
    message: `log_bin is ${s.logBin}`,
    ...(logBin ? {} : { suggestion: 'Enable the binary log: set log_bin (e.g. log_bin = mysql-bin) in my.cnf and restart the server.' }),
  });
  checks.push({
    name: 'binlog_format',
    ok: s.binlogFormat.toUpperCase() === 'ROW',
    message: `binlog_format is ${s.binlogFormat}`,
    ...(s.binlogFormat.toUpperCase() === 'ROW' ? {} : { suggestion: 'Set binlog_format = ROW in my.cnf (or SET GLOBAL binlog_format = ROW) and restart the server.' }),
  });
  checks.push({
    name: 'binlog_row_image',
    ok: s.binlogRowImage.toUpperCase() === 'FULL',
    message: `binlog_row_image is ${s.binlogRowImage}`,
    ...(s.binlogRowImage.toUpperCase() === 'FULL' ? {} : { suggestion: 'Set binlog_row_image = FULL in my.cnf (or SET GLOBAL binlog_row_image = FULL): updates must carry whole rows.' }),
  });
  checks.push({
    name: 'server_id',
    ok: s.serverId > 0,
    message: `server_id is ${s.serverId}`,
    ...(s.serverId > 0 ? {} : { suggestion: 'Set a non-zero server_id in my.cnf and restart the server; a server with server_id 0 refuses replicas.' }),
  });
  const missing = await missingPrivileges(conn, database);
  checks.push({
    name: 'privileges',
    ok: missing.length === 0,
    message: missing.length === 0 ? 'REPLICATION SLAVE, REPLICATION CLIENT and SELECT granted' : `missing ${missing.join(', ')}`,
    detail: { missing },
    ...(missing.length === 0
      ? {}
      : { suggestion: `GRANT REPLICATION SLAVE, REPLICATION CLIENT ON *.* TO <user>; GRANT SELECT ON ${database}.* TO <user>;` }),
  });
  return product;
}

/** The base tables of the connection's database, for table patterns. */
export async function listTables(connection: ConnectionSpec): Promise<{ tables: TableRef[]; defaultSchema: string }> {
  const config = clientConfig(connection.url, connection.options);
  const conn = await connect(config);
  try {
    const rows = await conn.query<{ s: string; t: string }>(
      `SELECT TABLE_SCHEMA AS s, TABLE_NAME AS t FROM information_schema.TABLES WHERE TABLE_TYPE = 'BASE TABLE' AND TABLE_SCHEMA = ?`,
      [config.database],
    );
    return { tables: rows.map((r) => ({ schema: r.s, table: r.t })), defaultSchema: config.database };
  } finally {
    await conn.end().catch(() => undefined);
  }
}

/** Per table: exists, keyed (primary key or a NOT NULL unique key), filter compiles. */
export async function checkTables(connection: ConnectionSpec, stream: StreamSpec, tables: TableRef[]): Promise<CheckResult[]> {
  const config = clientConfig(connection.url, connection.options);
  const conn = await connect(config);
  try {
    return await tableChecks(stream, 'mysql', tables.map((t) => ({ schema: t.schema || config.database, table: t.table })), async (ref) => {
      const [meta] = await describeTables(conn, [ref], { ...DEFAULT_TYPE_OPTIONS, bigintUnsigned: mysqlStreamOptions(stream).bigintUnsignedHandling });
      return { meta: { columns: meta!.schema.columns, message: `key (${meta!.key.join(', ')})` }, missing: [] };
    });
  } finally {
    await conn.end().catch(() => undefined);
  }
}
