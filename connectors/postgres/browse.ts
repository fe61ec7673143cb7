/**
 * Browsing a PostgreSQL source for the control API: a table's columns, key and
 * foreign keys (describeTable), and a page of its rows (readRows) for previews and
 * verification. Never on the data path. Rows are decoded by the snapshot's own
 * decoder (rows.ts / types.ts), so a preview row is exactly what the snapshot sends.
 *
 * Unlike the snapshot's catalog read, a table without a usable key is described
 * (primaryKey: []) rather than refused: browsing it is fine, streaming it is not.
 */
import type { Client } from 'pg';
import type { Logger } from 'pino';
import type { ConnectionSpec, Row, RowQuery, TableInfo, TableRef, TableSchema } from '../../src/core';
import { SluiceError, isSluiceError } from '../../src/errors';
import { compileWhere } from '../../src/transform/where';
import { checkRowQuery, refusedClause } from '../../src/source-kit/read-rows';
import { buildSchema, TypeCatalog, type ColumnMeta } from './catalog';
import { clientConfig, ident, qualified } from './naming';
import { connect, toSourceError } from './pg-errors';
import { decodeRow } from './rows';

export const DEFAULT_SCHEMA = 'public';

interface Described {
  info: TableInfo;
  columns: ColumnMeta[];
}

async function describe(client: Client, ref: TableRef): Promise<Described | null> {
  const { rows } = await client.query(
    `SELECT n.nspname, c.relname,
            (SELECT json_agg(a.attname ORDER BY k.ord) FROM pg_index i
               CROSS JOIN LATERAL unnest(i.indkey) WITH ORDINALITY k(attnum, ord)
               JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.attnum
              WHERE i.indrelid = c.oid AND i.indisprimary) AS pk,
            (SELECT json_agg(json_build_object('name', a.attname, 'typeOid', a.atttypid::int, 'typmod', a.atttypmod,
                                               'sourceType', format_type(a.atttypid, a.atttypmod), 'notNull', a.attnotnull)
                             ORDER BY a.attnum)
               FROM pg_attribute a WHERE a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped) AS columns,
            (SELECT json_agg(json_build_object(
                      'name', f.conname,
                      'columns', (SELECT json_agg(a.attname ORDER BY k.ord) FROM unnest(f.conkey) WITH ORDINALITY k(attnum, ord)
                                    JOIN pg_attribute a ON a.attrelid = f.conrelid AND a.attnum = k.attnum),
                      'schema', rn.nspname, 'table', rc.relname,
                      'refColumns', (SELECT json_agg(a.attname ORDER BY k.ord) FROM unnest(f.confkey) WITH ORDINALITY k(attnum, ord)
                                       JOIN pg_attribute a ON a.attrelid = f.confrelid AND a.attnum = k.attnum))
                    ORDER BY f.conname)
               FROM pg_constraint f JOIN pg_class rc ON rc.oid = f.confrelid JOIN pg_namespace rn ON rn.oid = rc.relnamespace
              WHERE f.conrelid = c.oid AND f.contype = 'f') AS fks
       FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
      WHERE c.relkind IN ('r', 'p') AND n.nspname = $1 AND c.relname = $2`,
    [ref.schema, ref.table],
  );
  const r = rows[0] as Record<string, string | null> | undefined;
  if (!r) return null;
  const columns = JSON.parse(r.columns ?? '[]') as ColumnMeta[];
  const pk = r.pk ? (JSON.parse(r.pk) as string[]) : [];
  const fks = r.fks ? (JSON.parse(r.fks) as Array<{ name: string; columns: string[]; schema: string; table: string; refColumns: string[] }>) : [];
  return {
    columns,
    info: {
      schema: ref.schema,
      table: ref.table,
      columns: columns.map((c) => ({ name: c.name, type: c.sourceType, nullable: !c.notNull, primaryKey: pk.includes(c.name) })),
      primaryKey: pk,
      foreignKeys: fks.map((f) => ({ name: f.name, columns: f.columns, references: { schema: f.schema, table: f.table, columns: f.refColumns } })),
    },
  };
}

const resolve = (ref: TableRef): TableRef => ({ schema: ref.schema || DEFAULT_SCHEMA, table: ref.table });

async function withClient<T>(connection: ConnectionSpec, what: string, fn: (c: Client) => Promise<T>): Promise<T> {
  const client = await connect(clientConfig(connection.url, connection.options));
  try {
    return await fn(client);
  } catch (err) {
    throw toSourceError(err, what);
  } finally {
    await client.end().catch(() => undefined);
  }
}

export async function describeTable(connection: ConnectionSpec, table: TableRef, _logger: Logger): Promise<TableInfo | null> {
  const ref = resolve(table);
  return withClient(connection, `describing ${ref.schema}.${ref.table}`, async (c) => (await describe(c, ref))?.info ?? null);
}

/** SQLSTATE classes a bad clause causes at run time (data exceptions, undefined things, type mismatches). */
const CLAUSE_SQLSTATE = /^(22|42(?!501))/;

export async function readRows(connection: ConnectionSpec, table: TableRef, query: RowQuery, _logger: Logger): Promise<{ rows: Row[]; schema: TableSchema }> {
  const ref = resolve(table);
  const name = `${ref.schema}.${ref.table}`;
  return withClient(connection, `reading ${name}`, async (client) => {
    const d = await describe(client, ref);
    if (!d) throw new SluiceError('SOURCE_TABLE_NOT_FOUND', `table ${name} not found in the source`, { table: name });
    const types = new TypeCatalog();
    await types.ensure(client, d.columns.map((c) => c.typeOid));
    const full = buildSchema(d.columns, d.info.primaryKey, types.lookup);
    const plan = checkRowQuery(full, query, name);
    const where = query.where === undefined ? undefined : compileWhere(query.where, { dialect: 'postgresql', table: ref.table, columns: full.columns });
    const cols = d.columns.filter((c) => plan.columns.includes(c.name));
    const values: unknown[] = [];
    let cond = '';
    if (where) {
      const sql = where.sql((i) => `$${i + 1}`);
      cond = `WHERE ${sql.text}`;
      values.push(...sql.params);
    }
    const order = plan.sort.length ? plan.sort.map((s) => `${ident(s.column)}${s.desc ? ' DESC' : ''}`).join(', ') : 'ctid';
    const text = `SELECT ${cols.map((c) => ident(c.name)).join(', ')} FROM ${qualified(ref.schema, ref.table)} ${cond} ORDER BY ${order} LIMIT ${plan.limit} OFFSET ${plan.offset}`;
    let raw: unknown[][];
    try {
      raw = (await client.query({ text, values, rowMode: 'array' })).rows as unknown[][];
    } catch (err) {
      const sqlstate = (err as { code?: unknown }).code;
      if (where && typeof sqlstate === 'string' && CLAUSE_SQLSTATE.test(sqlstate) && !isSluiceError(err)) {
        throw refusedClause(query, name, 'PostgreSQL', err, { sqlstate });
      }
      throw err;
    }
    const rows = raw.map((r) => decodeRow(cols, (_n, i) => r[i] as string | null, types.lookup, name));
    return { rows, schema: { columns: full.columns.filter((c) => plan.columns.includes(c.name)), key: full.key } };
  });
}
