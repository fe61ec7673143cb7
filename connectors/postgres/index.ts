/**
 * The `postgresql` connector: a source reading a consistent snapshot and then the
 * WAL through pgoutput. See source.ts for positions, snapshot.ts for why a
 * resumed snapshot converges, replication.ts for acks and back-pressure, and
 * types.ts for the value mapping.
 */
import type { ConnectorModule } from '../../src/core';
import { sqlSourceModule } from '../../src/source-kit/sql-module';
import { PostgresSource } from './source';
import * as browse from './browse';
import * as checks from './checks';
import { postgresOptions } from './options';

export { slotName, publicationName } from './naming';
export { PostgresSource } from './source';

export const postgresConnector: ConnectorModule = sqlSourceModule({ kind: 'postgresql', options: postgresOptions, dialect: 'postgresql', createSource: (args) => new PostgresSource(args), checks, browse });

export default postgresConnector;
