/**
 * What verification (verify.ts) and the mapping preview (mapping-preview.ts) share:
 * both read a stream's source through its connector's readRows, without running the
 * stream, and hand the rows to the sink connector's own code.
 */
import type { Logger } from 'pino';
import type { ConnectionSpec, ConnectorModule, StreamSpec } from '../core';
import { SluiceError } from '../errors';
import type { ConnectorRegistry } from './registry';
import { resolveTables } from '../transform/tables';
import { assertTablesAllowed } from './system-schemas';

export interface StreamReadArgs<Request> {
  registry: ConnectorRegistry;
  /** The stream with its mapping resolved (a `{mappingId}` replaced by the resource's rules). */
  stream: StreamSpec;
  source: ConnectionSpec;
  sink: ConnectionSpec;
  request: Request;
  logger: Logger;
}

/**
 * The connector of `kind` when it has the function `need`; else CONNECTOR_ROLE_UNSUPPORTED
 * saying "A <kind> connection cannot be <role>." with the kinds that could.
 */
export function moduleWith<K extends keyof ConnectorModule>(registry: ConnectorRegistry, kind: string, need: K, role: string): ConnectorModule & Required<Pick<ConnectorModule, K>> {
  const mod = registry.find(kind);
  if (!mod?.[need]) {
    const supported = registry.kinds((m) => m[need] !== undefined);
    throw new SluiceError('CONNECTOR_ROLE_UNSUPPORTED', `A ${kind} connection cannot be ${role}.`, { kind, supported });
  }
  return mod as ConnectorModule & Required<Pick<ConnectorModule, K>>;
}

/**
 * The stream's tables as "schema.table" (its patterns resolved against the source's
 * tables), and the schema a bare name means. A table in a system schema the connection
 * does not allow is SOURCE_SCHEMA_FORBIDDEN (system-schemas.ts).
 */
export async function streamTableNames(src: ConnectorModule, source: ConnectionSpec, stream: StreamSpec, logger: Logger): Promise<{ all: string[]; defaultSchema: string }> {
  const listed = src.listTables ? await src.listTables(source, logger) : { tables: [], defaultSchema: '' };
  const all = resolveTables(stream.tables, stream.excludeTables, listed.tables, listed.defaultSchema);
  assertTablesAllowed(source, all);
  return { all, defaultSchema: listed.defaultSchema };
}

/** The request's `tables[i]` as "schema.table"; VALIDATION_FAILED naming the field when it is not one of the stream's tables. */
export function requestedTable(t: string, i: number, all: readonly string[], defaultSchema: string): string {
  const full = t.includes('.') ? t : `${defaultSchema}.${t}`;
  if (!all.includes(full)) {
    throw new SluiceError('VALIDATION_FAILED', `body field "tables.${i}": ${t} is not one of the stream's tables (${all.join(', ')})`, { field: `tables.${i}`, table: t, tables: all });
  }
  return full;
}
