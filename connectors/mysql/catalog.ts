/**
 * What the connector reads from information_schema: tables' columns and keys,
 * the user's privileges, and the server's binlog settings.
 */
import type { TableRef, TableSchema } from '../../src/core';
import { SluiceError } from '../../src/errors';
import type { Conn } from './naming';
import { columnSpec, type ColumnMeta, type TypeOptions } from './types';

export interface TableMeta {
  ref: TableRef;
  columns: ColumnMeta[];
  key: string[];
  schema: TableSchema;
}

interface ColumnRow {
  COLUMN_NAME: string;
  DATA_TYPE: string;
  COLUMN_TYPE: string;
  IS_NULLABLE: string;
  NUMERIC_PRECISION: string | null;
  NUMERIC_SCALE: string | null;
  CHARACTER_SET_NAME: string | null;
}

/** Columns of one table in ordinal order (the order of binlog row images). */
export async function readColumns(conn: Conn, ref: TableRef): Promise<ColumnMeta[]> {
  const rows = await conn.query<ColumnRow>(
    `SELECT COLUMN_NAME, DATA_TYPE, COLUMN_TYPE, IS_NULLABLE, NUMERIC_PRECISION, NUMERIC_SCALE, CHARACTER_SET_NAME
       FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = ? AND TABLE_NAME = ? ORDER BY ORDINAL_POSITION`,
    [ref.schema, ref.table],
  );
  const json = await jsonColumns(conn, ref);
  return rows.map((r) => ({
    name: r.COLUMN_NAME,
    dataType: r.DATA_TYPE.toLowerCase(),
    columnType: r.COLUMN_TYPE,
    nullable: r.IS_NULLABLE === 'YES',
    charset: r.CHARACTER_SET_NAME,
    isJson: r.DATA_TYPE.toLowerCase() === 'json' || json.has(r.COLUMN_NAME),
    ...(r.NUMERIC_PRECISION !== null && /decimal|numeric/i.test(r.DATA_TYPE)
      ? { precision: Number(r.NUMERIC_PRECISION), scale: Number(r.NUMERIC_SCALE ?? 0) }
      : {}),
  }));
}

/** MariaDB's JSON is LONGTEXT with CHECK (json_valid(`col`)); MySQL has no TABLE_NAME there (and a real JSON type). */
async function jsonColumns(conn: Conn, ref: TableRef): Promise<Set<string>> {
  try {
    const rows = await conn.query<{ CHECK_CLAUSE: string }>(
      'SELECT CHECK_CLAUSE FROM information_schema.CHECK_CONSTRAINTS WHERE CONSTRAINT_SCHEMA = ? AND TABLE_NAME = ?',
      [ref.schema, ref.table],
    );
    const out = new Set<string>();
    for (const r of rows) {
      const m = /^json_valid\(`((?:[^`]|``)+)`\)$/i.exec(r.CHECK_CLAUSE.trim());
      if (m) out.add(m[1]!.replace(/``/g, '`'));
    }
    return out;
  } catch {
    return new Set();
  }
}

/** The primary key, else the first unique index whose columns are all NOT NULL. */
async function readKey(conn: Conn, ref: TableRef, columns: ColumnMeta[]): Promise<string[]> {
  const rows = await conn.query<{ INDEX_NAME: string; COLUMN_NAME: string }>(
    `SELECT INDEX_NAME, COLUMN_NAME FROM information_schema.STATISTICS
      WHERE TABLE_SCHEMA = ? AND TABLE_NAME = ? AND NON_UNIQUE = 0 ORDER BY INDEX_NAME = 'PRIMARY' DESC, INDEX_NAME, SEQ_IN_INDEX`,
    [ref.schema, ref.table],
  );
  const byIndex = new Map<string, string[]>();
  for (const r of rows) byIndex.set(r.INDEX_NAME, [...(byIndex.get(r.INDEX_NAME) ?? []), r.COLUMN_NAME]);
  for (const cols of byIndex.values()) {
    if (cols.every((c) => columns.find((x) => x.name === c)?.nullable === false)) return cols;
  }
  return [];
}

export async function describeTables(conn: Conn, refs: TableRef[], typeOptions: TypeOptions): Promise<TableMeta[]> {
  const out: TableMeta[] = [];
  for (const ref of refs) {
    const columns = await readColumns(conn, ref);
    if (columns.length === 0) {
      throw new SluiceError('SOURCE_TABLE_NOT_FOUND', `table ${ref.schema}.${ref.table} does not exist (or the user cannot see it)`, {
        table: `${ref.schema}.${ref.table}`,
      });
    }
    const key = await readKey(conn, ref, columns);
    if (key.length === 0) {
      throw new SluiceError('SOURCE_TABLE_NO_KEY', `table ${ref.schema}.${ref.table} has no primary key or NOT NULL unique key`, {
        table: `${ref.schema}.${ref.table}`,
      }, { suggestion: `ALTER TABLE ${ref.schema}.${ref.table} ADD PRIMARY KEY (…); MongoDB documents are keyed by it.` });
    }
    out.push({ ref, columns, key, schema: buildSchema(ref, columns, key, typeOptions) });
  }
  return out;
}

export function buildSchema(ref: TableRef, columns: ColumnMeta[], key: string[], o: TypeOptions): TableSchema {
  return {
    columns: columns.map((c) => {
      try {
        return columnSpec(c, o);
      } catch (err) {
        throw new SluiceError('SOURCE_TYPE_UNSUPPORTED', `column ${ref.schema}.${ref.table}.${c.name}: ${(err as Error).message}`, {
          table: `${ref.schema}.${ref.table}`,
          column: c.name,
        });
      }
    }),
    key,
  };
}

export interface ServerInfo {
  version: string;
  mariadb: boolean;
  logBin: string;
  binlogFormat: string;
  binlogRowImage: string;
  serverId: number;
  gtidMode: string | null;
  gtidBinlogPos: string | null;
}

export async function serverInfo(conn: Conn): Promise<ServerInfo> {
  const vars = new Map<string, string>();
  const rows = await conn.query<{ Variable_name: string; Value: string }>(
    `SHOW GLOBAL VARIABLES WHERE Variable_name IN ('version','version_comment','log_bin','binlog_format','binlog_row_image','server_id','gtid_mode','gtid_binlog_pos')`,
  );
  for (const r of rows) vars.set(r.Variable_name, r.Value);
  const version = vars.get('version') ?? '';
  return {
    version,
    mariadb: /mariadb/i.test(version) || /mariadb/i.test(vars.get('version_comment') ?? ''),
    logBin: vars.get('log_bin') ?? 'OFF',
    binlogFormat: vars.get('binlog_format') ?? '',
    binlogRowImage: vars.get('binlog_row_image') ?? 'FULL',
    serverId: Number(vars.get('server_id') ?? 0),
    gtidMode: vars.get('gtid_mode') ?? null,
    gtidBinlogPos: vars.get('gtid_binlog_pos') ?? null,
  };
}

/**
 * The global privileges the connector needs that the current user lacks:
 * REPLICATION SLAVE (read the binlog), REPLICATION CLIENT (SHOW MASTER STATUS /
 * BINARY LOGS; MariaDB 10.5+ calls it BINLOG MONITOR) and SELECT on the database.
 */
export async function missingPrivileges(conn: Conn, database: string): Promise<string[]> {
  const [{ u }] = await conn.query<{ u: string }>('SELECT CURRENT_USER() AS u');
  const at = u!.lastIndexOf('@');
  const grantee = `'${u!.slice(0, at)}'@'${u!.slice(at + 1)}'`;
  const global = new Set(
    (await conn.query<{ PRIVILEGE_TYPE: string }>('SELECT PRIVILEGE_TYPE FROM information_schema.USER_PRIVILEGES WHERE GRANTEE = ?', [grantee])).map((r) =>
      r.PRIVILEGE_TYPE.toUpperCase(),
    ),
  );
  const schema = new Set(
    (
      await conn.query<{ PRIVILEGE_TYPE: string }>(
        'SELECT PRIVILEGE_TYPE FROM information_schema.SCHEMA_PRIVILEGES WHERE GRANTEE = ? AND ? LIKE TABLE_SCHEMA',
        [grantee, database],
      )
    ).map((r) => r.PRIVILEGE_TYPE.toUpperCase()),
  );
  const missing: string[] = [];
  if (!global.has('REPLICATION SLAVE')) missing.push('REPLICATION SLAVE');
  if (!global.has('REPLICATION CLIENT') && !global.has('BINLOG MONITOR')) missing.push('REPLICATION CLIENT');
  if (!global.has('SELECT') && !schema.has('SELECT')) missing.push(`SELECT on ${database}`);
  return missing;
}
