/**
 * What the connector reads from the system catalogs: the stream's tables, their
 * columns, types and keys, turned into the TableSchema every event carries.
 *
 * Keys, in order of preference (documented for operators in README.md):
 * - REPLICA IDENTITY DEFAULT with a primary key → the primary key;
 * - REPLICA IDENTITY USING INDEX → that unique index's columns (NOT NULL by rule);
 * - REPLICA IDENTITY FULL → the primary key, else the first unique index on NOT NULL
 *   columns, else every column (the whole row is the key: an UPDATE becomes a
 *   delete of the old image and a create of the new, identical rows collapse into
 *   one document, and the snapshot pages by ctid);
 * - anything else (no primary key with DEFAULT, or NOTHING) is refused with
 *   SOURCE_TABLE_NO_KEY: PostgreSQL itself rejects UPDATE and DELETE on such a table
 *   once it is in a publication, and we could not key the events.
 * A key is always covered by the replica identity, so pgoutput's old-key tuple (or
 * old row) is enough to see a key change.
 */
import type { Client } from 'pg';
import { SluiceError } from '../../src/errors';
import type { TableRef, ColumnSpec, TableSchema } from '../../src/core';
import { BUILTIN_TYPES, numericPrecision, textType, type PgType, type TypeLookup } from './types';
import { qualified } from './naming';

export interface ColumnMeta {
  name: string;
  typeOid: number;
  typmod: number;
  sourceType: string;
  notNull: boolean;
}

export interface TableMeta {
  ref: TableRef;
  oid: number;
  columns: ColumnMeta[];
  key: string[];
  /** True when the key is every column (REPLICA IDENTITY FULL, no unique key): the snapshot pages by ctid. */
  keyIsWholeRow: boolean;
  schema: TableSchema;
}

const tableName = (t: TableRef): string => `${t.schema}.${t.table}`;

/** Resolves pg_type rows for non-builtin OIDs (enums, domains, their arrays), cached per source. */
export class TypeCatalog {
  readonly #types = new Map<number, PgType>(BUILTIN_TYPES);

  readonly lookup: TypeLookup = (oid) => this.#types.get(oid) ?? textType(oid);

  async ensure(client: Client, oids: Iterable<number>): Promise<void> {
    let missing = [...new Set(oids)].filter((o) => !this.#types.has(o));
    while (missing.length > 0) {
      const { rows } = await client.query(
        `SELECT t.oid::int AS oid, t.typname, t.typtype, t.typelem::int AS elem, t.typbasetype::int AS base,
                t.typcategory, t.typdelim,
                (SELECT json_agg(e.enumlabel ORDER BY e.enumsortorder) FROM pg_enum e WHERE e.enumtypid = t.oid) AS labels
           FROM pg_type t WHERE t.oid = ANY($1::oid[])`,
        [`{${missing.join(',')}}`],
      );
      const next: number[] = [];
      for (const r of rows as Array<Record<string, string | null>>) {
        const oid = Number(r.oid);
        if (r.typtype === 'e') this.#types.set(oid, { oid, name: r.typname!, logical: 'enum', enumValues: JSON.parse(r.labels ?? '[]') });
        else if (r.typcategory === 'A' && Number(r.elem) > 0) {
          this.#types.set(oid, { oid, name: r.typname!, logical: 'array', elementOid: Number(r.elem), delimiter: r.typdelim ?? ',' });
          next.push(Number(r.elem));
        } else if (r.typtype === 'd' && Number(r.base) > 0) {
          // A domain reads like its base type; resolve the base, then alias it.
          await this.ensure(client, [Number(r.base)]);
          this.#types.set(oid, { ...this.lookup(Number(r.base)), oid, name: r.typname! });
        } else this.#types.set(oid, textType(oid, r.typname!));
      }
      for (const o of missing) if (!this.#types.has(o)) this.#types.set(o, textType(o));
      missing = next.filter((o) => !this.#types.has(o));
    }
  }
}

/** One ColumnSpec per column, from the catalog's view of it. */
export function buildSchema(columns: ColumnMeta[], key: string[], types: TypeLookup): TableSchema {
  const specs = columns.map((c): ColumnSpec => {
    const t = types(c.typeOid);
    const spec: ColumnSpec = { name: c.name, type: t.logical, sourceType: c.sourceType, optional: !c.notNull };
    if (t.logical === 'array') {
      const elem = types(t.elementOid ?? 25);
      spec.elementType = elem.logical;
      if (elem.enumValues) spec.enumValues = elem.enumValues;
    }
    if (t.enumValues) spec.enumValues = t.enumValues;
    if (t.logical === 'decimal') Object.assign(spec, numericPrecision(c.typmod));
    return spec;
  });
  return { columns: specs, key };
}

/** Resolves the stream's tables; unknown tables → SOURCE_TABLE_NOT_FOUND, unkeyable → SOURCE_TABLE_NO_KEY. */
export async function describeTables(client: Client, refs: TableRef[], types: TypeCatalog): Promise<TableMeta[]> {
  const norm = refs.map((r) => ({ schema: r.schema || 'public', table: r.table }));
  const { rows } = await client.query(
    `SELECT n.nspname, c.relname, c.oid::int AS oid, c.relreplident,
            (SELECT json_agg(a.attname ORDER BY k.ord) FROM pg_index i
               CROSS JOIN LATERAL unnest(i.indkey) WITH ORDINALITY k(attnum, ord)
               JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.attnum
              WHERE i.indrelid = c.oid AND i.indisprimary) AS pk,
            (SELECT json_agg(a.attname ORDER BY k.ord) FROM pg_index i
               CROSS JOIN LATERAL unnest(i.indkey) WITH ORDINALITY k(attnum, ord)
               JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.attnum
              WHERE i.indrelid = c.oid AND i.indisreplident) AS ident,
            (SELECT json_agg(a.attname ORDER BY k.ord) FROM pg_index i
               CROSS JOIN LATERAL unnest(i.indkey) WITH ORDINALITY k(attnum, ord)
               JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.attnum
              WHERE i.indexrelid = (SELECT i2.indexrelid FROM pg_index i2
                                     WHERE i2.indrelid = c.oid AND i2.indisunique AND i2.indpred IS NULL
                                       AND i2.indexprs IS NULL AND i2.indisvalid
                                       AND NOT EXISTS (SELECT 1 FROM unnest(i2.indkey) u(attnum)
                                                       JOIN pg_attribute a2 ON a2.attrelid = c.oid AND a2.attnum = u.attnum
                                                       WHERE NOT a2.attnotnull)
                                     ORDER BY i2.indexrelid LIMIT 1)) AS uniq,
            (SELECT json_agg(json_build_object('name', a.attname, 'typeOid', a.atttypid::int, 'typmod', a.atttypmod,
                                               'sourceType', format_type(a.atttypid, a.atttypmod), 'notNull', a.attnotnull)
                             ORDER BY a.attnum)
               FROM pg_attribute a WHERE a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped) AS columns
       FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
      WHERE c.relkind IN ('r', 'p') AND (n.nspname, c.relname) IN (SELECT * FROM unnest($1::text[], $2::text[]))`,
    [norm.map((r) => r.schema), norm.map((r) => r.table)],
  );
  const found = new Map((rows as Array<Record<string, string | null>>).map((r) => [`${r.nspname}.${r.relname}`, r]));
  const missing = norm.filter((r) => !found.has(tableName(r))).map(tableName);
  if (missing.length > 0) {
    throw new SluiceError('SOURCE_TABLE_NOT_FOUND', `table${missing.length > 1 ? 's' : ''} not found in the source: ${missing.join(', ')}`, {
      table: missing[0],
      missing,
    });
  }
  const metas: TableMeta[] = [];
  for (const ref of norm) {
    const r = found.get(tableName(ref))!;
    const columns = JSON.parse(r.columns ?? '[]') as ColumnMeta[];
    const pk = r.pk ? (JSON.parse(r.pk) as string[]) : null;
    const identity = r.ident ? (JSON.parse(r.ident) as string[]) : null;
    const uniq = r.uniq ? (JSON.parse(r.uniq) as string[]) : null;
    let key: string[] | null = null;
    let whole = false;
    if (r.relreplident === 'd') key = pk;
    else if (r.relreplident === 'i') key = identity;
    else if (r.relreplident === 'f') {
      key = pk ?? uniq ?? columns.map((c) => c.name);
      whole = !pk && !uniq;
    }
    if (!key) {
      const name = qualified(ref.schema, ref.table);
      const fix = uniq
        ? `ALTER TABLE ${name} REPLICA IDENTITY USING INDEX <the unique index on (${uniq.join(', ')})>, add a primary key, or ALTER TABLE ${name} REPLICA IDENTITY FULL`
        : `ALTER TABLE ${name} ADD PRIMARY KEY (…), or ALTER TABLE ${name} REPLICA IDENTITY FULL`;
      throw new SluiceError(
        'SOURCE_TABLE_NO_KEY',
        `table ${tableName(ref)} has no primary key${r.relreplident === 'n' ? ' usable with REPLICA IDENTITY NOTHING' : ''}; changes to it cannot be keyed (and PostgreSQL refuses UPDATE/DELETE on it once published)`,
        { table: tableName(ref), replicaIdentity: r.relreplident },
        { suggestion: `Run: ${fix}.` },
      );
    }
    await types.ensure(client, columns.map((c) => c.typeOid));
    metas.push({ ref, oid: Number(r.oid), columns, key, keyIsWholeRow: whole, schema: buildSchema(columns, key, types.lookup) });
  }
  return metas;
}

export interface SlotInfo {
  exists: boolean;
  plugin?: string;
  confirmedFlushLsn?: string;
  activePid?: number | null;
  /** reserved / extended / unreserved / lost (PostgreSQL 13+; null before): lost means invalidated, unusable. */
  walStatus?: string | null;
}

export async function slotInfo(client: Client, slot: string): Promise<SlotInfo> {
  const { rows } = await client.query(
    // wal_status (PostgreSQL 13+) read through to_jsonb, so that older servers answer null.
    "SELECT plugin, confirmed_flush_lsn::text AS lsn, active_pid, to_jsonb(s) ->> 'wal_status' AS wal_status FROM pg_replication_slots s WHERE slot_name = $1 AND database = current_database()",
    [slot],
  );
  const r = rows[0] as Record<string, string | null> | undefined;
  if (!r) return { exists: false };
  return { exists: true, plugin: r.plugin ?? undefined, confirmedFlushLsn: r.lsn ?? undefined, activePid: r.active_pid === null ? null : Number(r.active_pid), walStatus: r.wal_status ?? null };
}

/** Creates the publication for exactly the stream's tables, or re-points an existing one. */
export async function ensurePublication(client: Client, publication: string, tables: TableMeta[]): Promise<void> {
  const list = tables.map((t) => qualified(t.ref.schema, t.ref.table)).join(', ');
  const { rows } = await client.query(
    `SELECT p.pubname, (SELECT json_agg(schemaname || '.' || tablename) FROM pg_publication_tables pt WHERE pt.pubname = p.pubname) AS tables
       FROM pg_publication p WHERE p.pubname = $1`,
    [publication],
  );
  const row = rows[0] as { tables: string | null } | undefined;
  if (!row) {
    await client.query(`CREATE PUBLICATION "${publication}" FOR TABLE ${list}`);
    return;
  }
  const have = new Set<string>(row.tables ? JSON.parse(row.tables) : []);
  const want = tables.map((t) => tableName(t.ref));
  if (have.size !== want.length || want.some((w) => !have.has(w))) {
    await client.query(`ALTER PUBLICATION "${publication}" SET TABLE ${list}`);
  }
}

/** Lists what the connection user lacks: REPLICATION (or superuser) and SELECT on each table. */
export async function missingPrivileges(client: Client, tables: TableMeta[]): Promise<string[]> {
  const { rows } = await client.query('SELECT rolreplication, rolsuper FROM pg_roles WHERE rolname = current_user');
  const role = rows[0] as { rolreplication: string; rolsuper: string } | undefined;
  const missing: string[] = [];
  if (!role || (role.rolreplication !== 't' && role.rolsuper !== 't')) missing.push('REPLICATION (ALTER ROLE … WITH REPLICATION)');
  if (tables.length > 0) {
    const { rows: privs } = await client.query(
      `SELECT t.oid::int AS oid, has_table_privilege(t.oid, 'SELECT') AS sel FROM unnest($1::oid[]) t(oid)`,
      [`{${tables.map((t) => t.oid).join(',')}}`],
    );
    for (const p of privs as Array<{ oid: string; sel: string }>) {
      if (p.sel !== 't') {
        const t = tables.find((x) => x.oid === Number(p.oid))!;
        missing.push(`SELECT ON ${qualified(t.ref.schema, t.ref.table)}`);
      }
    }
  }
  return missing;
}
