/**
 * What the operator declared: a connection (where data comes from or goes to) and a
 * stream (what to copy, how). Connectors are created from these; the store keeps them.
 */

export interface ConnectionSpec {
  id: string;
  name: string;
  kind: string;
  url: string;
  options: Record<string, unknown>;
}

/** When a SNAPSHOT stream runs on its own: a cron expression (5 fields, or 6 with seconds) in a timezone. */
export interface StreamSchedule {
  cron: string;
  /** IANA timezone the expression is read in; UTC when left out. */
  timezone?: string;
}

export interface StreamSpec {
  id: string;
  name: string;
  /**
   * The source connection. A `kafka` connection as source reads existing Debezium
   * topics (src/transport/kafka/topics-source.ts): `topics`, or `topicPattern` (a regular
   * expression over topic names), or neither (then `<topicPrefix>.<schema>.<table>` per table).
   */
  source: { connectionId: string; topics?: string[]; topicPattern?: string };
  sink: { connectionId: string };
  transport: { kind: 'direct' } | { kind: 'kafka'; connectionId?: string; format?: string };
  mode: 'SNAPSHOT' | 'CDC' | 'CDC_ONLY';
  /** "schema.table" names or glob patterns (`*`, `?`), resolved when a run starts. */
  tables: string[];
  /** Names or patterns of tables to leave out. */
  excludeTables?: string[];
  relationalTableFilters?: Record<string, Record<string, { whereClause?: string; rowCount?: number; includeColumns?: string[]; excludeColumns?: string[] }>>;
  /**
   * The rules themselves (a MappingSpec, src/transform/mapping/spec.ts) or `{mappingId}`
   * naming a mapping resource. A run always sees the rules: planRun resolves the id when it starts.
   */
  mapping?: Record<string, unknown>;
  /** SNAPSHOT mode only: each tick starts a run, as POST /streams/{id}/start would. */
  schedule?: StreamSchedule;
  options: {
    dropCollections?: boolean;
    errorHandling?: 'FAIL' | 'WARN' | 'SKIP';
    errorTolerance?: number;
    /** The run's retry policy (src/runtime/retry-policy.ts); defaults filled by the options parse. */
    retry?: { maxRetries?: number; maxBackoffMs?: number; timeoutMs?: number };
  } & Record<string, unknown>;
}
