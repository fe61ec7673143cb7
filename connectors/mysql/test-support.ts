/** Helpers for the MySQL integration tests: drive a Source directly against the stack's MariaDB. */
import type { StreamSpec } from '../../src/core';
import { stackUrl, unlessServer } from '../../test/helpers/stack';
import { logger, uniqueTable } from '../../test/helpers/source-driver';
import { clientConfig, connect, type Conn } from './naming';
import { MysqlSource } from './source';

export { context, logger, Puller, uniqueId } from '../../test/helpers/source-driver';

/** The stack's MariaDB; only SLUICE_TEST_MYSQL_URL is needed to run these tests alone. */
export const mysqlUrl = (): string | undefined => stackUrl('mysql');

export const skipReason = (): string | false => unlessServer('mysql');

export async function admin(url = mysqlUrl()!): Promise<Conn> {
  return connect(clientConfig(url));
}

export function database(): string {
  return clientConfig(mysqlUrl()!).database;
}

/** A table name for a test (MySQL identifiers: 64 characters). */
export function tableName(prefix: string): string {
  return uniqueTable(prefix, 64);
}

export function streamSpec(id: string, tables: string[], options: Record<string, unknown> = {}, extra: Partial<StreamSpec> = {}): StreamSpec {
  return { id, name: id, source: { connectionId: 'my' }, sink: { connectionId: 'mongo' }, transport: { kind: 'direct' }, mode: 'CDC', tables, options, ...extra };
}

export function makeSource(stream: StreamSpec, url = mysqlUrl()!, options: Record<string, unknown> = {}): MysqlSource {
  return new MysqlSource({ connection: { id: 'my', name: 'my', kind: 'mysql', url, options }, stream, logger });
}
