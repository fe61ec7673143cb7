/** Unit tests of the parts that need no server: URL, options, error classes, mapping, backoff. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import pino from 'pino';
import { MongoBulkWriteError, MongoNetworkError, MongoServerError, MongoServerSelectionError } from 'mongodb';
import { SluiceError } from '../../src/errors';
import type { StreamSpec } from '../../src/core';
import { databaseFromUrl, describeUrl, effectiveDecimalMode, effectiveWriteConcern, parseOptions, type ServerInfo } from './client';
import { AttemptTimeoutError, classify } from './failures';
import { MongoSink } from './sink';
import { writeBackoff } from './connection';
import { collectionFor } from './targets';
import { mongodbConnector } from './index';

test('the URL path names the database', () => {
  assert.equal(databaseFromUrl('mongodb://127.0.0.1:57017/app'), 'app');
  assert.equal(databaseFromUrl('mongodb://u:p%2Fw@h1:1,h2:2/app?replicaSet=rs0'), 'app');
  assert.equal(databaseFromUrl('mongodb+srv://cluster.example.com/my-db?retryWrites=true'), 'my-db');
});

test('no database in the URL is SINK_DATABASE_MISSING with the fix in the message, without the password', () => {
  for (const url of ['mongodb://127.0.0.1:57017', 'mongodb://127.0.0.1:57017/', 'mongodb://u:secret@h:1/?w=1', 'postgres://x/y', 'mongodb://h/a.b']) {
    assert.throws(
      () => databaseFromUrl(url),
      (e: unknown) => e instanceof SluiceError && e.code === 'SINK_DATABASE_MISSING' && !e.message.includes('secret') && /mongodb:\/\//.test(e.message),
      url,
    );
  }
  assert.equal(describeUrl('mongodb://u:secret@h:1/db'), 'mongodb://h:1');
});

test('options: defaults and explicit values', () => {
  const d = parseOptions({});
  assert.deepEqual(d, { decimals: 'auto', serverSelectionTimeoutMS: 5000, writeTimeoutMs: 60000, retry: { initialDelayMs: 100, maxDelayMs: 5000 } });
  const o = parseOptions({ writeConcern: { w: 2, j: true }, decimals: 'string', writeTimeoutMs: 1500, retry: { initialDelayMs: 10, maxDelayMs: 50 } });
  assert.equal(o.writeTimeoutMs, 1500);
  assert.deepEqual(o.writeConcern, { w: 2, j: true });
  assert.equal(o.decimals, 'string');
  assert.throws(() => parseOptions({ writeConcern: { w: 0 } }), (e: unknown) => e instanceof SluiceError && e.code === 'CONFIG_INVALID');
});

test('write concern: majority on a replica set, 1 elsewhere, the configured one always wins', () => {
  const info = (replicaSet: string | null, product: 'MongoDB' | 'FerretDB' = 'MongoDB'): ServerInfo => ({
    product,
    version: '7.0',
    wireVersion: '7.0',
    replicaSet,
    decimal128: product === 'MongoDB',
    nonFiniteDoubles: product === 'MongoDB',
    maxDocumentBytes: 16 * 1024 * 1024,
    maxOpsPerCommand: product === 'FerretDB' ? 8 : null,
  });
  assert.deepEqual(effectiveWriteConcern(parseOptions({}), info('rs0')), { w: 'majority' });
  assert.deepEqual(effectiveWriteConcern(parseOptions({}), info(null)), { w: 1 });
  assert.deepEqual(effectiveWriteConcern(parseOptions({ writeConcern: { w: 1 } }), info('rs0')), { w: 1 });
  assert.equal(effectiveDecimalMode(parseOptions({}), info(null, 'FerretDB')), 'string');
  assert.equal(effectiveDecimalMode(parseOptions({}), info(null)), 'decimal128');
  assert.throws(() => effectiveDecimalMode(parseOptions({ decimals: 'decimal128' }), info(null, 'FerretDB')), (e: unknown) => e instanceof SluiceError && e.code === 'CONFIG_INVALID');
  assert.equal(effectiveDecimalMode(parseOptions({ decimals: 'string' }), info(null)), 'string');
});

test('transient errors are told apart from permanent ones', () => {
  assert.equal(classify(new AttemptTimeoutError('write to orders', 1500)).kind, 'transient', 'a write the server never answered is retried');
  assert.equal(classify(new MongoNetworkError('connection reset')).kind, 'transient');
  assert.equal(classify(new MongoServerSelectionError('connect ECONNREFUSED', { type: 'Unknown', servers: new Map() } as never)).kind, 'transient');
  assert.equal(classify(new MongoServerError({ code: 10107, errmsg: 'not primary' })).kind, 'transient');
  const labelled = new MongoServerError({ code: 999, errmsg: 'x', errorLabels: ['RetryableWriteError'] });
  assert.equal(classify(labelled).kind, 'transient');
  assert.equal(classify(new MongoServerError({ code: 121, errmsg: 'Document failed validation' })).kind, 'rejected');
  assert.equal(classify(new MongoServerError({ code: 13, errmsg: 'unauthorized' })).kind, 'failed');
  assert.equal(classify(new TypeError('bug')).kind, 'failed');
  // FerretDB while its PostgreSQL backend restarts: an InternalError carrying the backend's connection error.
  const ferret = 'failed to connect to `user=sluice database=ferretdb`:\n\t127.0.0.1:5432 (127.0.0.1): dial error: dial tcp 127.0.0.1:5432: connect: connection refused';
  assert.equal(classify(new MongoServerError({ code: 1, errmsg: ferret })).kind, 'transient');
  const bulkFerret = new MongoBulkWriteError({ message: ferret, code: 1, writeErrors: [{ index: 0, code: 1, errmsg: ferret }] } as never, {} as never);
  assert.equal(classify(bulkFerret).kind, 'transient');
  assert.equal(classify(new MongoServerError({ code: 1, errmsg: 'FATAL: terminating connection due to administrator command (SQLSTATE 57P01)' })).kind, 'transient');
  assert.equal(classify(new MongoServerError({ code: 1, errmsg: 'some other internal error' })).kind, 'failed');
});

test('bulk write errors: duplicate key on a secondary unique index is a rejected record at its index; on _id it is a race to retry', () => {
  const bulk = (code: number, errmsg: string, keyPattern: object): MongoBulkWriteError =>
    new MongoBulkWriteError({ message: errmsg, code, writeErrors: [{ index: 3, code, errmsg, keyPattern }] } as never, {} as never);
  const dup = classify(bulk(11000, 'E11000 duplicate key error collection: d.c index: email_1 dup key', { email: 1 }));
  assert.equal(dup.kind, 'rejected');
  assert.equal(dup.opIndex, 3);
  assert.equal(classify(bulk(11000, 'E11000 duplicate key error collection: d.c index: _id_ dup key', { _id: 1 })).kind, 'transient');
});

test('a dropped connection during bulkWrite arrives wrapped in a MongoBulkWriteError and is still transient', () => {
  const net = new MongoNetworkError('connection 1 to 127.0.0.1:1 closed');
  const wrapped = new MongoBulkWriteError(net as never, {} as never);
  assert.equal(classify(wrapped).kind, 'transient');
  const sel = new MongoServerSelectionError('connection closed', { type: 'Single', servers: new Map() } as never);
  const wrappedSel = new MongoBulkWriteError(sel as never, {} as never);
  assert.equal(classify(wrappedSel).kind, 'transient');
});

test('collection: the table name, or the mapping override', () => {
  const stream = { mapping: { tables: { 'public.orders': { collection: 'orders_v2' } } } } as unknown as StreamSpec;
  assert.equal(collectionFor(stream, { schema: 'public', table: 'orders' }), 'orders_v2');
  assert.equal(collectionFor(stream, { schema: 'public', table: 'items' }), 'items');
  assert.equal(collectionFor({} as StreamSpec, { schema: 's', table: 't' }), 't');
});

test('write retries back off from the initial delay to the cap, jittered', () => {
  const b = writeBackoff({ initialDelayMs: 100, maxDelayMs: 5000 });
  const bases = [100, 200, 400, 800, 1600, 3200, 5000, 5000];
  for (const base of bases) {
    const d = b.next();
    assert.ok(d <= base && d >= base / 2, `${d} in [${base / 2}, ${base}]`);
  }
});

const stream: StreamSpec = { id: 's1', name: 's1', source: { connectionId: 'a' }, sink: { connectionId: 'b' }, transport: { kind: 'direct' }, mode: 'CDC', tables: [], options: {} };
const logger = pino({ level: 'silent' });

test('an empty batch resolves at once, without connecting', async () => {
  // Port 1 is closed: connecting would fail or hang; an empty batch must not try.
  const sink = new MongoSink({ connection: { id: 'b', name: 'b', kind: 'mongodb', url: 'mongodb://127.0.0.1:1/db', options: {} }, stream, logger });
  const ctx = { streamId: 's1', runId: 'r', logger, signal: new AbortController().signal };
  await sink.write({ events: [], position: null }, ctx);
  await sink.close();
});

test('creating a sink without a database fails with SINK_DATABASE_MISSING', () => {
  assert.throws(
    () => mongodbConnector.createSink!({ connection: { id: 'b', name: 'b', kind: 'mongodb', url: 'mongodb://127.0.0.1:1', options: {} }, stream, logger }),
    (e: unknown) => e instanceof SluiceError && e.code === 'SINK_DATABASE_MISSING',
  );
});

test('the module declares a sink of kind mongodb with an options schema', () => {
  assert.equal(mongodbConnector.kind, 'mongodb');
  assert.deepEqual(mongodbConnector.roles, ['sink']);
  assert.equal(mongodbConnector.options.connection.type, 'object');
  assert.ok('writeTimeoutMs' in mongodbConnector.options.connection.properties);
  assert.ok('dropCollections' in mongodbConnector.options.stream.properties);
});
