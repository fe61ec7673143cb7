/**
 * POST /streams/{id}/mapping/preview: the documents N sample rows of the source would
 * become, built with the sink's own functions (previewDocuments, the sink's value
 * conversion for the connected server), nothing written anywhere.
 *
 * - Each table with documents of its own (newDocuments not false): its first `limit`
 *   rows in key order, with the stream's whereClause, rowCount and column filter, as
 *   the snapshot reads them.
 * - Each table embedded into it: the children of exactly those parents, read with a
 *   `where` on the foreign-key columns (`fk IN (…)`, or `(a = … AND b = …) OR …` for a
 *   composite key) written in the where compiler's own language, so the values still
 *   reach the database as bind parameters; the child's own whereClause is ANDed to it.
 *   A key the language cannot spell (dates, bytes, a PostgreSQL string with a backslash) reads the child's rows unrestricted
 *   (up to MAX_CHILD_ROWS) and keeps those whose foreign key matches; so does a child
 *   table with a rowCount (the snapshot keeps its first rowCount rows in key order).
 * - The values are converted by the sink connector's own conversion for its server
 *   (ConnectorModule.previewConversion): decimals and non-finite doubles depend on it
 *   (FerretDB v1 has no Decimal128), so the MongoDB connector asks the server what it is,
 *   as its sink does on connect (buildInfo/hello, read-only); a sink that is down is
 *   SINK_UNREACHABLE.
 * - A row that cannot be converted (a type override its value does not fit) is an
 *   entry of `errors` naming table, key and field with the sink's message; the other
 *   rows' documents still come back. A bad child row is left out of its parent.
 * - Documents are canonical Extended JSON (`{"$oid": …}`, `{"$numberLong": …}`,
 *   `{"$numberDecimal": …}`, `{"$date": {"$numberLong": …}}`, `{"$binary": …}` for UUIDs),
 *   so every BSON type stays distinguishable. Under the objectId `_id` strategy the server
 *   generates `_id`: a preview document has the key field only.
 */
import type { Logger } from 'pino';
import { BSON } from 'mongodb';
import { SluiceError } from '../errors';
import { jsonRow, MAX_READ_ROWS, parseTableName, type ConnectionSpec, type ConnectorModule, type Row, type RowQuery, type StreamSpec, type TableRef, type TableSchema } from '../core';
import { moduleWith, requestedTable, streamTableNames, type StreamReadArgs } from './stream-reads';
import { rowLimitOf, type Dialect } from '../transform/filters';
import { moduleDialect } from './registry';
import { streamTableRead, type StreamTableRead } from '../transform/columns';
import {
  childrenOf,
  collectionOf,
  documentKey,
  keyString,
  mapRow,
  parentKeyOf,
  previewDocuments,
  tableMapping,
  validateStreamMapping,
  validateTableColumns,
  type EmbedRule,
  type MappingSpec,
} from '../transform/mapping';
import { keysWhere } from '../transform/where';

export const PREVIEW_DEFAULT_LIMIT = 10;
export const PREVIEW_MAX_LIMIT = 100;
/** The most rows of one child table a preview reads for its parents. */
export const MAX_CHILD_ROWS = 10_000;

export interface PreviewRequest {
  limit?: number;
  /** Only these tables' documents ("schema.table" or a bare table); all the stream's tables with documents of their own when left out. */
  tables?: string[];
}

export interface PreviewError {
  table: string;
  collection: string;
  key: Record<string, unknown>;
  field: string;
  /** The sink's message for this record. */
  message: string;
}

export interface PreviewResult {
  collections: { table: string; collection: string; documents: Record<string, unknown>[] }[];
  errors?: PreviewError[];
}

interface ReadTable extends StreamTableRead {
  ref: TableRef;
}

/** The table's schema as the stream reads it (column filter applied) and its filter. */
async function tableRead(src: ConnectorModule, source: ConnectionSpec, stream: StreamSpec, ref: TableRef, logger: Logger): Promise<ReadTable> {
  const probe = await src.readRows!(source, ref, { limit: 0, offset: 0 }, logger);
  return { ref, ...streamTableRead(stream, ref, probe.schema) };
}

const query = (t: ReadTable, q: { limit: number; offset: number; where?: string }): RowQuery => {
  const where = t.where !== undefined && q.where !== undefined ? `(${t.where}) AND (${q.where})` : (q.where ?? t.where);
  return { limit: q.limit, offset: q.offset, ...(where !== undefined ? { where } : {}), ...(t.columns ? { columns: t.columns } : {}) };
};

export async function previewMapping(opts: StreamReadArgs<PreviewRequest>): Promise<PreviewResult> {
  const { stream, source, sink, logger } = opts;
  const dst = moduleWith(opts.registry, sink.kind, 'previewConversion', 'the target of a mapping preview');
  const spec: MappingSpec = stream.mapping ? validateStreamMapping(stream) : {};
  const src = moduleWith(opts.registry, source.kind, 'readRows', 'the source of a mapping preview');
  const dialect = moduleDialect(src);
  const { all, defaultSchema } = await streamTableNames(src, source, stream, logger);
  const own = all.filter((n) => tableMapping(spec, n)?.newDocuments !== false);
  let names = own;
  if (opts.request.tables?.length) {
    names = opts.request.tables.map((t, i) => {
      const full = requestedTable(t, i, all, defaultSchema);
      if (!own.includes(full)) {
        const into = tableMapping(spec, full)?.embed?.into;
        throw new SluiceError('VALIDATION_FAILED', `body field "tables.${i}": ${full} has no documents of its own (it is embedded into ${into}); preview ${into} instead`, { field: `tables.${i}`, table: full, into });
      }
      return full;
    });
    names = [...new Set(names)];
  }
  const limit = Math.max(1, Math.min(PREVIEW_MAX_LIMIT, Math.floor(opts.request.limit ?? PREVIEW_DEFAULT_LIMIT)));
  const conversion = await dst.previewConversion(sink, logger);
  const mapOpts = conversion.options;

  const collections: PreviewResult['collections'] = [];
  const errors: PreviewError[] = [];
  const fail = (table: string, collection: string, key: Row, err: unknown): void => {
    const r = conversion.rejection(err, { table: parseTableName(table), collection, key });
    if (!r) throw err;
    errors.push({ table, collection, key: jsonRow(key), field: r.field, message: r.message });
  };
  const keyRow = (row: Row, key: readonly string[]): Row => Object.fromEntries(key.map((c) => [c, row[c]]));

  for (const name of names) {
    const ref = parseTableName(name);
    const tm = tableMapping(spec, name);
    const collection = collectionOf(spec, ref);
    const parent = await tableRead(src, source, stream, ref, logger);
    validateTableColumns(spec, name, parent.schema);
    const rowCount = rowLimitOf(stream, ref);
    const n = rowCount === undefined ? limit : Math.min(limit, rowCount);
    const rows = n > 0 ? (await src.readRows!(source, ref, query(parent, { limit: n, offset: 0 }), logger)).rows : [];

    // Each parent's document key (as its children point at it); a parent whose key cannot be converted is an error.
    const parents: { row: Row; key: string }[] = [];
    for (const row of rows) {
      try {
        parents.push({ row, key: keyString(documentKey(row, parent.schema.key, tm, mapOpts)) });
      } catch (err) {
        fail(name, collection, keyRow(row, parent.schema.key), err);
      }
    }

    // The children of exactly these parents, grouped by the parent key they point at.
    const children: { child: string; schema: TableSchema; groups: Map<string, Row[]> }[] = [];
    for (const [child, rule] of childrenOf(spec, name)) {
      if (!all.includes(child)) continue;
      const c = await tableRead(src, source, stream, parseTableName(child), logger);
      validateTableColumns(spec, child, c.schema);
      const groups = new Map<string, Row[]>();
      children.push({ child, schema: c.schema, groups });
      if (parents.length === 0) continue;
      const wanted = new Set(parents.map((p) => p.key));
      const ctm = tableMapping(spec, child);
      for (const row of await childRows(src, source, c, rule, parent.schema, parents.map((p) => p.row), dialect, rowLimitOf(stream, parseTableName(child)), logger)) {
        let pk: string;
        try {
          const k = parentKeyOf(row, rule, tm, mapOpts);
          if (k === null) continue;
          pk = keyString(k);
          if (!wanted.has(pk)) continue;
          // The child's own conversion, so a bad child row is named (and left out) rather than failing its parent.
          documentKey(row, c.schema.key, ctm, mapOpts);
          mapRow(row, ctm, mapOpts);
        } catch (err) {
          fail(child, collectionOf(spec, parseTableName(child)), keyRow(row, c.schema.key), err);
          continue;
        }
        const list = groups.get(pk) ?? [];
        list.push(row);
        groups.set(pk, list);
      }
    }

    const documents: Record<string, unknown>[] = [];
    for (const p of parents) {
      try {
        const out = previewDocuments(spec, [{ table: ref, schema: parent.schema, rows: [p.row] }, ...children.map((c) => ({ table: parseTableName(c.child), schema: c.schema, rows: c.groups.get(p.key) ?? [] }))], mapOpts);
        const doc = out[0]?.documents[0];
        if (doc) documents.push(BSON.EJSON.serialize(doc, { relaxed: false }) as Record<string, unknown>);
      } catch (err) {
        fail(name, collection, keyRow(p.row, parent.schema.key), err);
      }
    }
    collections.push({ table: name, collection, documents });
  }
  return { collections, ...(errors.length ? { errors } : {}) };
}

/** The child rows that may belong to these parents: by their foreign keys where the where language can spell them. */
async function childRows(
  src: ConnectorModule,
  source: ConnectionSpec,
  c: ReadTable,
  rule: EmbedRule,
  parentSchema: TableSchema,
  parents: Row[],
  dialect: Dialect,
  rowCount: number | undefined,
  logger: Logger,
): Promise<Row[]> {
  const refs = rule.references ?? parentSchema.key;
  const seen = new Set<string>();
  const keys: unknown[][] = [];
  for (const p of parents) {
    const k = rule.foreignKey.map((_, i) => p[refs[i]!]);
    if (k.some((v) => v === null || v === undefined)) continue;
    const s = JSON.stringify(k, (_k, v: unknown) => (typeof v === 'bigint' ? `${v}n` : v));
    if (seen.has(s)) continue;
    seen.add(s);
    keys.push(k);
  }
  if (keys.length === 0) return [];
  // A child rowCount keeps the first rows of the whole table (as the snapshot takes them): read those, match in memory.
  const where = rowCount === undefined ? keysWhere(rule.foreignKey, keys, dialect) : undefined;
  const max = Math.min(MAX_CHILD_ROWS, rowCount ?? MAX_CHILD_ROWS);
  const out: Row[] = [];
  for (let offset = 0; offset < max; offset += MAX_READ_ROWS) {
    const page = (await src.readRows!(source, c.ref, query(c, { limit: Math.min(MAX_READ_ROWS, max - offset), offset, ...(where !== undefined ? { where } : {}) }), logger)).rows;
    out.push(...page);
    if (page.length < MAX_READ_ROWS) break;
  }
  return out;
}
