/**
 * What the `mysql` connector (MySQL and MariaDB) reads from its connection's
 * `options` and from a stream's `options`, declared once (README "Options" is
 * generated from here). The source reads them through `mysqlConnectionOptions` /
 * `mysqlStreamOptions`: parsed, defaults applied, never restated in code.
 */
import { advancedOption, optionsObject, type ConnectionSpec, type PluginOptions, type StreamSpec } from '../../src/core';
import { readOptions } from '../../src/options';
import { SQL_SOURCE_CONNECTION_OPTIONS, SQL_SOURCE_STREAM_OPTIONS, type SqlSourceConnectionOptions, type SqlSourceStreamOptions } from '../../src/source-kit/stream-options';

export interface MysqlConnectionOptions extends SqlSourceConnectionOptions {
  connectTimeoutMs: number;
  /** Unset: derived from the stream id (binlog.ts serverIdFor). */
  serverId?: number;
  tinyInt1AsBoolean: boolean;
}

export interface MysqlStreamOptions extends SqlSourceStreamOptions {
  reconnectTimeoutMs: number;
}

export const mysqlOptions: PluginOptions = {
  connection: optionsObject({
    connectTimeoutMs: { type: 'integer', minimum: 1, maximum: 600000, default: 10000, description: 'How long opening a connection may take, up to the end of the handshake, in milliseconds.' },
    ...SQL_SOURCE_CONNECTION_OPTIONS,
    serverId: advancedOption({
      type: 'integer',
      minimum: 1,
      maximum: 4294967295,
      description:
        "server_id the binlog reader announces as a replica; it must be unique among the server's replicas. Default: derived from the stream id (100000 and up), so that streams never share one. Set it only when those ids clash with real replicas; then give each stream on this connection its own connection.",
      example: 4242,
    }),
    tinyInt1AsBoolean: { type: 'boolean', default: true, description: 'Read TINYINT(1) (BOOL) columns as booleans; false reads them as small integers.' },
  }),
  stream: optionsObject({
    ...SQL_SOURCE_STREAM_OPTIONS,
    reconnectTimeoutMs: advancedOption({
      type: 'integer',
      minimum: 1000,
      maximum: 86400000,
      default: 300000,
      description: 'How long the binlog reader keeps reconnecting after the server went away (a restart, a network cut) before the stream fails, in milliseconds. It resumes at the last commit it read.',
    }),
  }),
};

export function mysqlConnectionOptions(connection: Pick<ConnectionSpec, 'options'>): MysqlConnectionOptions {
  return readOptions<MysqlConnectionOptions>(mysqlOptions.connection, connection.options);
}

export function mysqlStreamOptions(stream: Pick<StreamSpec, 'options'>): MysqlStreamOptions {
  return readOptions<MysqlStreamOptions>(mysqlOptions.stream, stream.options);
}
