/**
 * The MongoDB connector (sink only). The connection URL names the target database:
 * mongodb://host:port/<database>.
 *
 * Servers: MongoDB, and FerretDB v1 (the test stack's MongoDB-wire server), which
 * differs in ways that matter to a CDC sink. Measured on v1.24.2 (SQLite backend):
 *  - no Decimal128: the server panics on one and drops the connection, which the
 *    driver reports as a network error (it would be retried for ever). With
 *    `decimals: 'auto'` the sink stores a decimal's exact text as a string there and
 *    Decimal128 on MongoDB; forcing 'decimal128' on FerretDB v1 is CONFIG_INVALID;
 *  - NaN/±Infinity doubles also drop the connection, so they are refused before
 *    sending (SINK_RECORD_REJECTED);
 *  - int64 (Long, exact past 2^53), Binary (subtypes kept), Date, nested documents,
 *    a composite or int64 `_id`, strings with NUL, and an empty $set all work;
 *  - nested arrays and field names with "." or a leading "$" get a clean BadValue
 *    (code 2): SINK_RECORD_REJECTED;
 *  - it is not a replica set (no setName in hello), so the default write concern is
 *    {w:1}; it accepts and ignores w:'majority', w:2 and j;
 *  - a duplicate key on a unique index says "E11000 …" without the index name.
 */
import type { ConnectorModule } from '../../src/core';
import { testConnection } from './check';
import { mongodbOptions } from './options';
import { createMongoSink } from './sink';
import { previewConversion } from './preview';
import { verify } from './verify';

export const mongodbConnector: ConnectorModule = {
  kind: 'mongodb',
  options: mongodbOptions,
  roles: ['sink'],
  createSink: createMongoSink,
  verify,
  previewConversion,
  test: testConnection,
};

export default mongodbConnector;
export { MongoSink } from './sink';
export { collectionFor } from './targets';
