/**
 * Browsing a MySQL/MariaDB source for the control API: a table's columns, primary
 * key and foreign keys (describeTable), and a page of its rows (readRows) for
 * previews and verification. Never on the data path. Rows go through the
 * snapshot's decoder (rows.ts / types.ts), so a preview row equals the snapshot's.
 * A table without a key is described (primaryKey: []), not refused.
 */
import type { Logger } from 'pino';
import type { ConnectionSpec, Row, RowQuery, TableInfo, TableRef, TableSchema } from '../../src/core';
import { SluiceError, isSluiceError } from '../../src/errors';
import { compileWhere } from '../../src/transform/where';
import { checkRowQuery, refusedClause } from '../../src/source-kit/read-rows';
import { buildSchema, readColumns, type TableMeta } from './catalog';
import { clientConfig, connect, ident, qualified, toSourceError, type Conn } from './naming';
import { decodeRow } from './rows';
import { DEFAULT_TYPE_OPTIONS, type ColumnMeta, type TypeOptions } from './types';
import { mysqlConnectionOptions } from './options';

function typeOptions(connection: ConnectionSpec): TypeOptions {
  return { ...DEFAULT_TYPE_OPTIONS, tinyInt1AsBoolean: mysqlConnectionOptions(connection).tinyInt1AsBoolean };
}

async function describe(conn: Conn, ref: TableRef): Promise<{ info: TableInfo; columns: ColumnMeta[] } | null> {
  const exists = await conn.query<{ n: number }>(
    `SELECT COUNT(*) AS n FROM information_schema.TABLES WHERE TABLE_SCHEMA = ? AND TABLE_NAME = ? AND TABLE_TYPE = 'BASE TABLE'`,
    [ref.schema, ref.table],
  );
  if (Number(exists[0]?.n ?? 0) === 0) return null;
  const columns = await readColumns(conn, ref);
  const pk = (
    await conn.query<{ COLUMN_NAME: string }>(
      `SELECT COLUMN_NAME FROM information_schema.STATISTICS WHERE TABLE_SCHEMA = ? AND TABLE_NAME = ? AND INDEX_NAME = 'PRIMARY' ORDER BY SEQ_IN_INDEX`,
      [ref.schema, ref.table],
    )
  ).map((r) => r.COLUMN_NAME);
  const fkRows = await conn.query<{ CONSTRAINT_NAME: string; COLUMN_NAME: string; REFERENCED_TABLE_SCHEMA: string; REFERENCED_TABLE_NAME: string; REFERENCED_COLUMN_NAME: string }>(
    `SELECT CONSTRAINT_NAME, COLUMN_NAME, REFERENCED_TABLE_SCHEMA, REFERENCED_TABLE_NAME, REFERENCED_COLUMN_NAME
       FROM information_schema.KEY_COLUMN_USAGE
      WHERE TABLE_SCHEMA = ? AND TABLE_NAME = ? AND REFERENCED_TABLE_NAME IS NOT NULL
      ORDER BY CONSTRAINT_NAME, ORDINAL_POSITION`,
    [ref.schema, ref.table],
  );
  const fks = new Map<string, TableInfo['foreignKeys'][number]>();
  for (const r of fkRows) {
    let fk = fks.get(r.CONSTRAINT_NAME);
    if (!fk) {
      fk = { name: r.CONSTRAINT_NAME, columns: [], references: { schema: r.REFERENCED_TABLE_SCHEMA, table: r.REFERENCED_TABLE_NAME, columns: [] } };
      fks.set(r.CONSTRAINT_NAME, fk);
    }
    fk.columns.push(r.COLUMN_NAME);
    fk.references.columns.push(r.REFERENCED_COLUMN_NAME);
  }
  return {
    columns,
    info: {
      schema: ref.schema,
      table: ref.table,
      columns: columns.map((c) => ({ name: c.name, type: c.columnType, nullable: c.nullable, primaryKey: pk.includes(c.name) })),
      primaryKey: pk,
      foreignKeys: [...fks.values()],
    },
  };
}

async function withConn<T>(connection: ConnectionSpec, what: (db: string) => string, fn: (c: Conn, database: string) => Promise<T>): Promise<T> {
  const config = clientConfig(connection.url, connection.options);
  const conn = await connect(config);
  try {
    return await fn(conn, config.database);
  } catch (err) {
    throw toSourceError(err, what(config.database));
  } finally {
    await conn.end().catch(() => undefined);
  }
}

export async function describeTable(connection: ConnectionSpec, table: TableRef, _logger: Logger): Promise<TableInfo | null> {
  return withConn(connection, (db) => `describing ${table.schema || db}.${table.table}`, async (conn, db) => (await describe(conn, { schema: table.schema || db, table: table.table }))?.info ?? null);
}

/** SQLSTATE classes a bad clause causes at run time (data exceptions, syntax, unknown names). */
const CLAUSE_SQLSTATE = /^(22|42)/;

export async function readRows(connection: ConnectionSpec, table: TableRef, query: RowQuery, _logger: Logger): Promise<{ rows: Row[]; schema: TableSchema }> {
  return withConn(connection, (db) => `reading ${table.schema || db}.${table.table}`, async (conn, db) => {
    const ref = { schema: table.schema || db, table: table.table };
    const name = `${ref.schema}.${ref.table}`;
    const d = await describe(conn, ref);
    if (!d) throw new SluiceError('SOURCE_TABLE_NOT_FOUND', `table ${name} does not exist (or the user cannot see it)`, { table: name });
    const full = buildSchema(ref, d.columns, d.info.primaryKey, typeOptions(connection));
    const plan = checkRowQuery(full, query, name);
    const where = query.where === undefined ? undefined : compileWhere(query.where, { dialect: 'mysql', table: ref.table, columns: full.columns });
    const picked = d.columns.map((c, i) => ({ c, spec: full.columns[i]! })).filter((x) => plan.columns.includes(x.c.name));
    const meta: TableMeta = { ref, columns: picked.map((x) => x.c), key: full.key, schema: { columns: picked.map((x) => x.spec), key: full.key } };
    const values: unknown[] = [];
    let cond = '';
    if (where) {
      const sql = where.sql(() => '?');
      cond = `WHERE ${sql.text}`;
      values.push(...sql.params);
    }
    const order = plan.sort.length ? `ORDER BY ${plan.sort.map((s) => `${ident(s.column)}${s.desc ? ' DESC' : ''}`).join(', ')}` : '';
    const sql = `SELECT ${meta.columns.map((c) => ident(c.name)).join(', ')} FROM ${qualified(ref.schema, ref.table)} ${cond} ${order} LIMIT ${plan.limit} OFFSET ${plan.offset}`;
    let raw: Array<Record<string, unknown>>;
    try {
      raw = await conn.query(sql, values);
    } catch (err) {
      const sqlState = (err as { sqlState?: unknown }).sqlState;
      const code = (err as { code?: unknown }).code;
      const privileges = typeof code === 'string' && /ACCESS_DENIED/.test(code);
      if (where && typeof sqlState === 'string' && CLAUSE_SQLSTATE.test(sqlState) && !privileges && !isSluiceError(err)) {
        throw refusedClause(query, name, 'the server', err, { sqlState });
      }
      throw err;
    }
    return { rows: raw.map((r) => decodeRow(meta, (n) => r[n])), schema: meta.schema };
  });
}
