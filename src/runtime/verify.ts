/**
 * POST /streams/{id}/verify: compares a stream's source with its MongoDB target,
 * table by table. The source side is read here, through the source connector's
 * readRows, with the stream's own filters (whereClause pushed down, rowCount as the
 * snapshot applies it: the first rows in key order, the column include/exclude
 * filter); the sink connector's `verify` compares counts, then rows against
 * documents in chunks, then looks for documents the source does not explain.
 *
 * Runs synchronously in the request (meant for tables up to ~100k rows). A stream
 * under CDC may show differences that are only in flight; verify a stream at rest
 * (after a SNAPSHOT run, or once writes paused) for an exact answer.
 *
 * Mapping rules apply (the sink's own mapping code builds the expected documents, in
 * connectors/mongodb/verify.ts): a parent's children are read here for each chunk of
 * parents, through readRows with a whereClause on the foreign-key columns (compiled
 * like any filter: values become parameters) and the child's own filters. A table with
 * `newDocuments: false` is compared inside its parents only (mode `embedded`); one with
 * documents of its own and an embed rule is compared both ways. A `{mappingId}` must be
 * resolved (resolveMapping) before this is called.
 */
import type { Logger } from 'pino';
import { MAX_READ_ROWS, parseTableName, type ConnectionSpec, type ConnectorModule, type Row, type RowQuery, type StreamSpec, type TableRef, type TableSchema, type TableVerification, type VerifyChildTable, type VerifySourceTable } from '../core';
import { moduleWith, requestedTable, streamTableNames, type StreamReadArgs } from './stream-reads';
import { rowLimitOf } from '../transform/filters';
import { moduleDialect } from './registry';
import { streamTableRead } from '../transform/columns';
import { childrenOf, keyString, type MappingSpec } from '../transform/mapping';
import { keysWhere, type Dialect } from '../transform/where';

/** Relational Migrator's metadata.verificationStatus values. */
export const VERIFICATION_STATUSES = ['VERIFYING', 'FAILED', 'CANCELLING', 'CANCELLED', 'VERIFIED', 'ABORTED'] as const;
export type VerificationStatus = (typeof VERIFICATION_STATUSES)[number];

export interface VerifyRequest {
  /** Only these of the stream's tables ("schema.table" or a bare table); all when left out. */
  tables?: string[];
  maxDifferences?: number;
  chunkSize?: number;
}

export interface VerifyReport {
  status: 'PASSED' | 'FAILED';
  tables: TableVerification[];
}

/** The stream's mapping rules ({mappingId} must have been resolved), or undefined. */
function rulesOf(stream: Pick<StreamSpec, 'mapping'>): MappingSpec | undefined {
  const m = stream.mapping as MappingSpec | undefined;
  return m?.tables && typeof m.tables === 'object' ? m : undefined;
}

/** Why a table is not compared, or null. Only an unresolved mapping reference is left. */
export function skipReason(stream: Pick<StreamSpec, 'mapping'>, _name: string): string | null {
  const mapping = stream.mapping as { mappingId?: unknown; tables?: unknown } | undefined;
  if (typeof mapping?.mappingId === 'string' && mapping.tables === undefined) return `the mapping resource ${mapping.mappingId} was not resolved`;
  return null;
}

/**
 * A whereClause matching the child rows whose `columns` hold one of these value tuples
 * (keysWhere: strings become parameters, never SQL text), or undefined when a value has
 * no exact literal. No tuples match no row.
 */
export function matchClause(columns: readonly string[], tuples: readonly unknown[][], dialect: Dialect): string | undefined {
  return tuples.length === 0 ? '1 = 0' : keysWhere(columns, tuples, dialect);
}

/** Parents per child query, so that a clause stays small (an IN list takes more than ORed conjunctions). */
const matchBatch = (columns: number): number => (columns === 1 ? 1000 : 200);

export async function verifyStream(opts: StreamReadArgs<VerifyRequest>): Promise<VerifyReport> {
  const { stream, source, sink, logger } = opts;
  const src = moduleWith(opts.registry, source.kind, 'readRows', 'the source of a verification');
  const dst = moduleWith(opts.registry, sink.kind, 'verify', 'the target of a verification');
  const { all, defaultSchema } = await streamTableNames(src, source, stream, logger);
  const names = opts.request.tables?.length ? opts.request.tables.map((t, i) => requestedTable(t, i, all, defaultSchema)) : all;
  const maxDifferences = opts.request.maxDifferences ?? 10;
  const chunkSize = opts.request.chunkSize ?? 1000;
  const spec = rulesOf(stream);
  const dialect = moduleDialect(src);
  const ruleOf = (n: string) => spec?.tables?.[n];
  // A child asked for alone is compared inside its parent, so the parent is read too.
  const wanted = new Set(names);
  for (const n of names) {
    const into = ruleOf(n)?.embed?.into;
    if (into && all.includes(into) && !wanted.has(into)) wanted.add(into);
  }
  const order = all.filter((n) => wanted.has(n));
  const skipped = new Map<string, TableVerification>();
  const prepared = new Map<string, PreparedTable>();
  const skipRow = (name: string, why: string): TableVerification => ({ table: name, collection: '', sourceCount: 0, sinkCount: 0, missing: 0, extra: 0, different: 0, differences: [], skipped: why });
  for (const name of order) {
    const why = skipReason(stream, name);
    if (why) {
      skipped.set(name, skipRow(name, why));
      continue;
    }
    const p = await prepare(src, source, stream, name, logger);
    if (typeof p === 'string') skipped.set(name, skipRow(name, p));
    else prepared.set(name, p);
  }
  const compared: VerifySourceTable[] = [];
  for (const name of order) {
    const p = prepared.get(name);
    if (!p || ruleOf(name)?.newDocuments === false) continue;
    const children: VerifyChildTable[] = [];
    for (const [child, rule] of childrenOf(spec, name)) {
      const c = prepared.get(child);
      if (!c) continue;
      const refs = rule.references ?? p.schema.key;
      children.push({ table: c.ref, schema: c.schema, readFor: childReader(c, rule.foreignKey, refs, dialect) });
    }
    compared.push({ table: p.ref, schema: p.schema, read: p.read, ...(children.length ? { children } : {}) });
  }
  const results = compared.length ? await dst.verify!({ connection: sink, stream, tables: compared, maxDifferences, chunkSize, logger }) : [];
  const tables: TableVerification[] = [];
  for (const n of order) {
    // Its own documents first, then its copies embedded in a parent.
    const own = results.filter((r) => r.table === n).sort((x, y) => Number(x.mode === 'embedded') - Number(y.mode === 'embedded'));
    if (own.length > 0) tables.push(...own);
    else if (skipped.has(n)) tables.push(skipped.get(n)!);
    else {
      const into = ruleOf(n)?.embed?.into;
      tables.push(skipRow(n, into ? `embedded only in ${into}, which is not compared (${skipped.get(into)?.skipped ?? 'not one of the stream\'s tables'})` : 'not compared'));
    }
  }
  const failed = tables.some((t) => !t.skipped && (t.missing > 0 || t.extra > 0 || t.different > 0 || t.sourceCount !== t.sinkCount));
  return { status: failed ? 'FAILED' : 'PASSED', tables };
}

export interface PreparedTable {
  ref: TableRef;
  schema: TableSchema;
  /** Rows in key order with the table's filters (whereClause, rowCount, columns). */
  read(offset: number, limit: number): Promise<Row[]>;
  /** Rows with the table's filters and this extra clause ANDed (no rowCount: see childReader). */
  readWhere(extra: string, offset: number, limit: number): Promise<Row[]>;
  rowCount: number | undefined;
}

/** A table's filters, as the snapshot applies them; a string when it cannot be compared. */
async function prepare(src: ConnectorModule, source: ConnectionSpec, stream: StreamSpec, name: string, logger: Logger): Promise<PreparedTable | string> {
  const ref = parseTableName(name);
  const probe = await src.readRows!(source, ref, { limit: 0, offset: 0 }, logger);
  if (probe.schema.key.length === 0) return 'the table has no primary key, so its documents cannot be matched to rows';
  const { schema, columns, where } = streamTableRead(stream, ref, probe.schema);
  const rowCount = rowLimitOf(stream, ref);
  const query = (w: string | undefined, offset: number, limit: number): Promise<Row[]> => {
    const q: RowQuery = { offset, limit, ...(w !== undefined ? { where: w } : {}), ...(columns ? { columns } : {}) };
    return src.readRows!(source, ref, q, logger).then((r) => r.rows);
  };
  return {
    ref,
    schema,
    rowCount,
    read: async (offset, limit) => {
      const n = rowCount === undefined ? limit : Math.min(limit, rowCount - offset);
      return n <= 0 ? [] : query(where, offset, n);
    },
    readWhere: (extra, offset, limit) => query(where === undefined ? extra : `(${where}) AND (${extra})`, offset, limit),
  };
}

/**
 * The child rows pointing at given parents: a whereClause on the foreign-key columns
 * per batch of parents. A child with a rowCount (only its first rows in key order are
 * streamed), or whose key values have no exact literal, is read whole once, with its
 * filters, and matched here.
 */
export function childReader(c: PreparedTable, foreignKey: readonly string[], references: readonly string[], dialect: Dialect): (parents: readonly Row[]) => Promise<Row[]> {
  let whole: Map<string, Row[]> | undefined;
  const tupleOf = (r: Row, cols: readonly string[]): unknown[] => cols.map((k) => r[k]);
  const readAll = async (read: (offset: number, limit: number) => Promise<Row[]>): Promise<Row[]> => {
    const out: Row[] = [];
    for (let offset = 0; ; offset += MAX_READ_ROWS) {
      const rows = await read(offset, MAX_READ_ROWS);
      out.push(...rows);
      if (rows.length < MAX_READ_ROWS) return out;
    }
  };
  return async (parents) => {
    const tuples = parents.map((p) => tupleOf(p, references)).filter((t) => t.every((v) => v !== null && v !== undefined));
    if (tuples.length === 0) return [];
    if (c.rowCount === undefined) {
      const clauses: (string | undefined)[] = [];
      const n = matchBatch(foreignKey.length);
      for (let i = 0; i < tuples.length; i += n) clauses.push(matchClause(foreignKey, tuples.slice(i, i + n), dialect));
      if (clauses.every((x) => x !== undefined)) {
        const out: Row[] = [];
        for (const clause of clauses as string[]) out.push(...(await readAll((offset, limit) => c.readWhere(clause, offset, limit))));
        return out;
      }
    }
    if (!whole) {
      whole = new Map();
      for (const r of await readAll(c.read)) {
        const k = keyString(tupleOf(r, foreignKey));
        whole.set(k, [...(whole.get(k) ?? []), r]);
      }
    }
    const seen = new Set<string>();
    return tuples.flatMap((t) => {
      const k = keyString(t);
      if (seen.has(k)) return [];
      seen.add(k);
      return whole!.get(k) ?? [];
    });
  };
}
