/**
 * The options both SQL sources take, declared once so that their names, bounds and
 * defaults cannot drift apart; each connector spreads them into its own declaration
 * (connectors/<kind>/options.ts).
 */
import { advancedOption, type OptionSchema } from '../core';
import { SSLMODE_OPTION, tlsOption, type SslMode, type TlsOptions } from '../connection-tls';

/** What both SQL sources read of SQL_SOURCE_CONNECTION_OPTIONS. */
export interface SqlSourceConnectionOptions {
  allowSystemSchemas?: string[];
  sslmode?: SslMode;
  tls?: TlsOptions;
}

export interface SqlSourceStreamOptions {
  snapshotChunkSize: number;
  snapshotParallelism: number;
  heartbeatIntervalMs: number;
  maxBatchSize: number;
}

/** Connection options of both SQL sources (read by src/runtime/system-schemas.ts). */
export const SQL_SOURCE_CONNECTION_OPTIONS: Record<keyof SqlSourceConnectionOptions, OptionSchema> = {
  // Every session of the connection uses them: queries, snapshot readers and the
  // replication (PostgreSQL) or binlog (MySQL/MariaDB) connection alike.
  sslmode: SSLMODE_OPTION,
  tls: tlsOption('the database (every session: queries, snapshot, replication or binlog)'),
  allowSystemSchemas: advancedOption({
    type: 'array',
    items: { type: 'string', minLength: 1, maxLength: 64 },
    description:
      'System schemas this connection may browse and stream all the same; they are refused otherwise (PostgreSQL pg_catalog, information_schema, pg_*; MySQL/MariaDB mysql, information_schema, performance_schema, sys; README "Security"). Names compare case-insensitively.',
    example: ['performance_schema'],
  }),
};

export const SQL_SOURCE_STREAM_OPTIONS: Record<keyof SqlSourceStreamOptions, OptionSchema> = {
  snapshotChunkSize: {
    type: 'integer',
    minimum: 1,
    maximum: 1000000,
    default: 5000,
    description: 'Rows per snapshot chunk (a page in key order); progress is saved after each, so a restarted snapshot resumes at the last finished chunk.',
  },
  snapshotParallelism: { type: 'integer', minimum: 1, maximum: 64, default: 2, description: 'Tables snapshotted at once, each on its own connection.' },
  heartbeatIntervalMs: {
    type: 'integer',
    minimum: 50,
    maximum: 3600000,
    default: 10000,
    description: 'How often an idle stream confirms its source position (so a PostgreSQL slot advances even when every event is filtered out), in milliseconds. A cutover of an idle stream waits up to this long.',
  },
  maxBatchSize: advancedOption({
    type: 'integer',
    minimum: 1,
    maximum: 100000,
    default: 1000,
    description: 'Most change events in one batch handed to the transport (a large transaction is cut into several). Smaller batches: lower latency and memory per batch, more round trips.',
  }),
};
