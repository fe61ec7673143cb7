/**
 * A SQL source connector as it registers: both SQL sources are the same kind of module
 * (role source; a connection test, table listing and per-table checks; browsing), and
 * differ only in their parts. Each connector's index.ts hands its parts here.
 */
import type { ConnectorModule, CreateArgs, PluginOptions, Source, SqlDialect } from '../core';

export interface SqlSourceParts {
  kind: string;
  options: PluginOptions;
  dialect: SqlDialect;
  createSource: (args: CreateArgs) => Source;
  /** The connection test, the tables a pattern can match, the checks of POST /validate. */
  checks: Required<Pick<ConnectorModule, 'test' | 'listTables' | 'checkTables'>>;
  /** GET /connections/{id}/tables/{table}/columns and /rows. */
  browse: Required<Pick<ConnectorModule, 'describeTable' | 'readRows'>>;
}

export function sqlSourceModule(p: SqlSourceParts): ConnectorModule {
  const { checks, browse } = p;
  return {
    kind: p.kind,
    options: p.options,
    dialect: p.dialect,
    roles: ['source'],
    createSource: p.createSource,
    test: checks.test,
    listTables: checks.listTables,
    checkTables: checks.checkTables,
    describeTable: browse.describeTable,
    readRows: browse.readRows,
  };
}
