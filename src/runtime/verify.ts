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
 * Tables whose mapping rules change documents (embedding, field rules, another
 * `_id`) are reported `skipped` with the reason until those rules are compared too.
 */
import type { Logger } from 'pino';
import { SluiceError } from '../errors';
import type { ConnectionSpec, ConnectorModule, RowQuery, StreamSpec, TableRef, TableVerification, VerifySourceTable } from './connector';
import type { ConnectorRegistry } from './registry';
import { filterOf, rowLimitOf } from '../transform/filters';
import { keptColumns } from '../transform/columns';
import { resolveTables } from '../transform/tables';

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

function moduleFor(registry: ConnectorRegistry, kind: string, need: 'readRows' | 'verify'): ConnectorModule {
  const mod = registry.list().find((m) => m.kind === kind);
  if (!mod?.[need]) {
    const supported = registry.list().filter((m) => m[need]).map((m) => m.kind);
    throw new SluiceError('CONNECTOR_ROLE_UNSUPPORTED', `A ${kind} connection cannot be ${need === 'verify' ? 'the target' : 'the source'} of a verification.`, { kind, supported });
  }
  return mod;
}

/** Why a table is not compared (mapping rules this comparison does not apply yet), or null. */
export function skipReason(stream: Pick<StreamSpec, 'mapping'>, name: string): string | null {
  const mapping = stream.mapping as { mappingId?: unknown; tables?: Record<string, Record<string, unknown> | undefined> } | undefined;
  if (!mapping) return null;
  if (typeof mapping.mappingId === 'string') return `the stream uses the mapping resource ${mapping.mappingId}, whose rules verification does not apply yet`;
  const tables = mapping.tables ?? {};
  const own = tables[name];
  const embed = own?.embed as { into?: unknown } | undefined;
  if (own?.newDocuments === false) return `the mapping embeds this table into ${String(embed?.into ?? 'its parent')} only; embedded rows are not compared yet`;
  const children = Object.entries(tables).filter(([, m]) => (m?.embed as { into?: unknown } | undefined)?.into === name).map(([t]) => t);
  if (children.length > 0) return `the mapping embeds ${children.join(', ')} into this table's documents; embedded documents are not compared yet`;
  if (embed) return `the mapping also embeds this table into ${String(embed.into)}; embedded rows are not compared yet`;
  const rules = ['fields', 'id', 'nulls'].filter((k) => own?.[k] !== undefined);
  if (rules.length > 0) return `the mapping's ${rules.join(', ')} rules for this table are not compared yet`;
  return null;
}

export async function verifyStream(opts: {
  registry: ConnectorRegistry;
  stream: StreamSpec;
  source: ConnectionSpec;
  sink: ConnectionSpec;
  request: VerifyRequest;
  logger: Logger;
}): Promise<VerifyReport> {
  const { stream, source, sink, logger } = opts;
  const src = moduleFor(opts.registry, source.kind, 'readRows');
  const dst = moduleFor(opts.registry, sink.kind, 'verify');
  const listed = src.listTables ? await src.listTables(source, logger) : { tables: [], defaultSchema: '' };
  const all = resolveTables(stream.tables, stream.excludeTables, listed.tables, listed.defaultSchema);
  let names = all;
  if (opts.request.tables?.length) {
    names = opts.request.tables.map((t, i) => {
      const full = t.includes('.') ? t : `${listed.defaultSchema}.${t}`;
      if (!all.includes(full)) {
        throw new SluiceError('VALIDATION_FAILED', `body field "tables.${i}": ${t} is not one of the stream's tables (${all.join(', ')})`, { field: `tables.${i}`, table: t, tables: all });
      }
      return full;
    });
  }
  const maxDifferences = opts.request.maxDifferences ?? 10;
  const chunkSize = opts.request.chunkSize ?? 1000;
  const skipped = new Map<string, TableVerification>();
  const compared: VerifySourceTable[] = [];
  for (const name of names) {
    const dot = name.indexOf('.');
    const ref: TableRef = { schema: name.slice(0, dot), table: name.slice(dot + 1) };
    const skip = (why: string): void => {
      skipped.set(name, { table: name, collection: '', sourceCount: 0, sinkCount: 0, missing: 0, extra: 0, different: 0, differences: [], skipped: why });
    };
    const why = skipReason(stream, name);
    if (why) {
      skip(why);
      continue;
    }
    const probe = await src.readRows!(source, ref, { limit: 0, offset: 0 }, logger);
    if (probe.schema.key.length === 0) {
      skip('the table has no primary key, so its documents cannot be matched to rows');
      continue;
    }
    const kept = keptColumns(stream, ref, probe.schema);
    const columns = kept ? probe.schema.columns.filter((c) => kept.has(c.name)).map((c) => c.name) : undefined;
    const schema = { columns: probe.schema.columns.filter((c) => !columns || columns.includes(c.name)), key: probe.schema.key };
    const where = filterOf(stream, ref)?.whereClause;
    const rowCount = rowLimitOf(stream, ref);
    compared.push({
      table: ref,
      schema,
      read: async (offset, limit) => {
        const n = rowCount === undefined ? limit : Math.min(limit, rowCount - offset);
        if (n <= 0) return [];
        const q: RowQuery = { offset, limit: n, ...(where !== undefined ? { where } : {}), ...(columns ? { columns } : {}) };
        return (await src.readRows!(source, ref, q, logger)).rows;
      },
    });
  }
  const results = compared.length ? await dst.verify!({ connection: sink, stream, tables: compared, maxDifferences, chunkSize, logger }) : [];
  const byName = new Map(results.map((r) => [r.table, r]));
  const tables = names.map((n) => byName.get(n) ?? skipped.get(n)!).filter(Boolean);
  const failed = tables.some((t) => !t.skipped && (t.missing > 0 || t.extra > 0 || t.different > 0 || t.sourceCount !== t.sinkCount));
  return { status: failed ? 'FAILED' : 'PASSED', tables };
}
