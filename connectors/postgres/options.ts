/**
 * What the `postgresql` connector reads from its connection's `options` and from a
 * stream's `options`, declared once (README "Options" is generated from here). The
 * source reads them through `postgresConnectionOptions` / `postgresStreamOptions`:
 * parsed, defaults applied, never restated in code.
 */
import { advancedOption, optionsObject, type ConnectionSpec, type PluginOptions, type StreamSpec } from '../../src/core';
import { readOptions } from '../../src/options';
import { SQL_SOURCE_CONNECTION_OPTIONS, SQL_SOURCE_STREAM_OPTIONS, type SqlSourceConnectionOptions, type SqlSourceStreamOptions } from '../../src/source-kit/stream-options';

export interface PostgresConnectionOptions extends SqlSourceConnectionOptions {
  applicationName: string;
  connectTimeoutMs: number;
}

export interface PostgresStreamOptions extends SqlSourceStreamOptions {
  /** Unset: derived from the stream id (naming.ts). */
  slotName?: string;
  publicationName?: string;
}

/** PostgreSQL identifiers sluice creates: lower case, digits and _, at most 63 bytes. */
const IDENTIFIER = { type: 'string', pattern: '^[a-z_][a-z0-9_]{0,62}$', maxLength: 63 } as const;

export const postgresOptions: PluginOptions = {
  connection: optionsObject({
    applicationName: { type: 'string', minLength: 1, maxLength: 63, default: 'sluice', description: 'application_name the connector reports to PostgreSQL (pg_stat_activity).', example: 'sluice-orders' },
    connectTimeoutMs: { type: 'integer', minimum: 1, maximum: 600000, default: 10000, description: 'How long opening a connection may take, up to the end of the handshake, in milliseconds.' },
    ...SQL_SOURCE_CONNECTION_OPTIONS,
  }),
  stream: optionsObject({
    ...SQL_SOURCE_STREAM_OPTIONS,
    slotName: advancedOption({
      ...IDENTIFIER,
      description:
        'Logical replication slot of the stream; each stream needs its own. Default: sluice_<stream id without dashes, lower case>. Set it before the first start: a stream whose slot name changes finds no slot under the new name and fails with SOURCE_POSITION_LOST (start it with {\"resnapshot\": true} to take a fresh snapshot), and leaves the old slot to be dropped by hand.',
      example: 'sluice_orders',
    }),
    publicationName: advancedOption({
      ...IDENTIFIER,
      description: 'Publication the stream reads and re-creates from its table list at each start. Default: the same name as the slot.',
      example: 'sluice_orders',
    }),
  }),
};

export function postgresConnectionOptions(connection: Pick<ConnectionSpec, 'options'>): PostgresConnectionOptions {
  return readOptions<PostgresConnectionOptions>(postgresOptions.connection, connection.options);
}

export function postgresStreamOptions(stream: Pick<StreamSpec, 'options'>): PostgresStreamOptions {
  return readOptions<PostgresStreamOptions>(postgresOptions.stream, stream.options);
}
