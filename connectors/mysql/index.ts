/**
 * The `mysql` connector (MySQL and MariaDB): a source reading a consistent
 * snapshot and then the binlog through zongji. See source.ts for positions,
 * snapshot.ts for the snapshot's consistency, binlog.ts for the change stream and
 * types.ts for the value mapping.
 */
import type { ConnectorModule } from '../../src/core';
import { sqlSourceModule } from '../../src/source-kit/sql-module';
import { MysqlSource } from './source';
import * as browse from './browse';
import * as checks from './checks';
import { mysqlOptions } from './options';

export { MysqlSource } from './source';

export const mysqlConnector: ConnectorModule = sqlSourceModule({ kind: 'mysql', options: mysqlOptions, dialect: 'mysql', createSource: (args) => new MysqlSource(args), checks, browse });

export default mysqlConnector;
