/**
 * The MongoDB sink against the test stack's real MongoDB-wire server (FerretDB v1
 * by default; any MongoDB through SLUICE_TEST_MONGODB_URL). Each test writes into a
 * database of its own.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { Writable } from 'node:stream';
import pino from 'pino';
import { Binary, Decimal128, MongoClient, type Document } from 'mongodb';
import { stackUrls } from '../../test/helpers/stack';
import { waitFor } from '../../test/helpers/wait-for';
import { Decimal, type ChangeEvent, type ConnectorContext, type Op, type Row, type StreamSpec } from '../../src/core';
import { isSluiceError } from '../../src/errors';
import { MongoSink } from './sink';
import { mongodbConnector } from './index';

const base = stackUrls().mongodb.replace(/\/+$/, '');
const run = `${process.pid.toString(36)}${Date.now().toString(36)}`;
let dbCounter = 0;
const newDb = (): string => `sit_${run}_${++dbCounter}`;
const urlFor = (db: string, server = base): string => `${server}/${db}`;

let reader: MongoClient;
let isFerret = false;
const usedDbs: string[] = [];

before(async () => {
  reader = new MongoClient(base, { useBigInt64: true, serverSelectionTimeoutMS: 10_000 });
  await reader.connect();
  const build = await reader.db('admin').command({ buildInfo: 1 });
  isFerret = typeof build.ferretdbVersion === 'string';
});

after(async () => {
  for (const db of usedDbs) await reader.db(db).dropDatabase().catch(() => undefined);
  await reader.close();
});

/** A logger whose records the test can inspect. */
function capturingLogger(): { logger: pino.Logger; lines: Array<Record<string, unknown>> } {
  const lines: Array<Record<string, unknown>> = [];
  const dest = new Writable({
    write(chunk: Buffer, _enc, cb) {
      for (const l of chunk.toString().split('\n')) if (l.trim()) lines.push(JSON.parse(l) as Record<string, unknown>);
      cb();
    },
  });
  return { logger: pino({ level: 'debug' }, dest), lines };
}

function streamSpec(options: StreamSpec['options'] = {}, mapping?: Record<string, unknown>): StreamSpec {
  return { id: 'st1', name: 'st1', source: { connectionId: 'src' }, sink: { connectionId: 'dst' }, transport: { kind: 'direct' }, mode: 'CDC', tables: [], options, ...(mapping ? { mapping } : {}) };
}

function setup(opts: { options?: Record<string, unknown>; stream?: StreamSpec; server?: string } = {}) {
  const db = newDb();
  usedDbs.push(db);
  const { logger, lines } = capturingLogger();
  const sink = new MongoSink({ connection: { id: 'dst', name: 'dst', kind: 'mongodb', url: urlFor(db, opts.server), options: opts.options ?? {} }, stream: opts.stream ?? streamSpec(), logger });
  const abort = new AbortController();
  const ctx: ConnectorContext = { streamId: 'st1', runId: 'r1', logger, signal: abort.signal };
  const coll = (name: string) => reader.db(db).collection(name);
  const docs = async (name: string): Promise<Document[]> => coll(name).find({}).sort({ _id: 1 }).toArray();
  return { db, sink, ctx, abort, lines, coll, docs };
}

function ev(op: Op, table: string, key: Row, after: Row | null, before: Row | null = null): ChangeEvent {
  return { table: { schema: 'public', table }, op, key, before, after, source: { connector: 'test', name: 't', db: 'd', schema: 'public', table, ts_ms: 0, snapshot: op === 'r' }, ts_ms: 0 };
}
const batch = (...events: ChangeEvent[]) => ({ events, position: { seq: events.length } });

test('inserts, updates and deletes by a single-column key land as documents keyed by _id', async (t) => {
  const { sink, ctx, docs } = setup();
  t.after(() => sink.close());
  await sink.write(batch(ev('r', 'users', { id: 1 }, { id: 1, name: 'ann' }), ev('c', 'users', { id: 2 }, { id: 2, name: 'bob' }), ev('c', 'users', { id: 3 }, { id: 3, name: 'cy' })), ctx);
  await sink.write(batch(ev('u', 'users', { id: 1 }, { id: 1, name: 'ann2' }), ev('d', 'users', { id: 2 }, null, { id: 2 })), ctx);
  assert.deepEqual(await docs('users'), [{ _id: 1, id: 1, name: 'ann2' }, { _id: 3, id: 3, name: 'cy' }]);
});

test('composite keys become an _id subdocument in key order; a key change moves the document', async (t) => {
  const { sink, ctx, docs } = setup();
  t.after(() => sink.close());
  const k = (a: number, b: string) => ({ a, b });
  await sink.write(batch(ev('c', 'pairs', k(1, 'x'), { a: 1, b: 'x', v: 1 }), ev('c', 'pairs', k(2, 'y'), { a: 2, b: 'y', v: 2 })), ctx);
  await sink.write(batch(ev('u', 'pairs', k(1, 'x'), { a: 1, b: 'x', v: 10 }), ev('u', 'pairs', k(3, 'z'), { a: 3, b: 'z', v: 2 }, { a: 2, b: 'y', v: 2 })), ctx);
  const got = await docs('pairs');
  assert.deepEqual(got.map((d) => d._id), [k(1, 'x'), k(3, 'z')]);
  assert.deepEqual(Object.keys(got[0]!._id as object), ['a', 'b']);
  assert.equal(got[0]!.v, 10);
  await sink.write(batch(ev('d', 'pairs', k(3, 'z'), null)), ctx);
  assert.deepEqual((await docs('pairs')).map((d) => d._id), [k(1, 'x')]);
});

test('an unchanged TOASTed column (undefined) is left as it is, never nulled', async (t) => {
  const { sink, ctx, docs } = setup();
  t.after(() => sink.close());
  await sink.write(batch(ev('c', 'posts', { id: 1 }, { id: 1, body: 'x'.repeat(5000), title: 'a' })), ctx);
  await sink.write(batch(ev('u', 'posts', { id: 1 }, { id: 1, body: undefined, title: 'b' })), ctx);
  // and coalesced onto a full image inside one batch
  await sink.write(batch(ev('c', 'posts', { id: 2 }, { id: 2, body: 'keep', title: 'a' }), ev('u', 'posts', { id: 2 }, { id: 2, body: undefined, title: 'c' })), ctx);
  const [one, two] = await docs('posts');
  assert.equal(one!.body, 'x'.repeat(5000));
  assert.equal(one!.title, 'b');
  assert.deepEqual(two, { _id: 2, id: 2, body: 'keep', title: 'c' });
});

test('replaying the same batches after a crash converges to the same documents', async (t) => {
  const { sink, ctx, docs } = setup();
  t.after(() => sink.close());
  const batches = [
    batch(ev('c', 'acc', { id: 1 }, { id: 1, bal: 10, memo: 'm' }), ev('c', 'acc', { id: 2 }, { id: 2, bal: 20, memo: 'n' }), ev('c', 'acc', { id: 3 }, { id: 3, bal: 30, memo: 'o' })),
    batch(ev('u', 'acc', { id: 1 }, { id: 1, bal: 11, memo: undefined }), ev('d', 'acc', { id: 2 }, null), ev('u', 'acc', { id: 4 }, { id: 4, bal: 30, memo: 'o' }, { id: 3 })),
    batch(ev('c', 'acc', { id: 2 }, { id: 2, bal: 22, memo: 'p' }), ev('u', 'acc', { id: 1 }, { id: 1, bal: 12, memo: undefined })),
  ];
  for (const b of batches) await sink.write(b, ctx);
  const once = await docs('acc');
  for (const b of batches) await sink.write(b, ctx);
  // and a replay from the middle
  for (const b of batches.slice(1)) await sink.write(b, ctx);
  assert.deepEqual(await docs('acc'), once);
  assert.deepEqual(once, [
    { _id: 1, id: 1, bal: 12, memo: 'm' },
    { _id: 2, id: 2, bal: 22, memo: 'p' },
    { _id: 4, id: 4, bal: 30, memo: 'o' },
  ]);
});

test('large batches over existing documents: replayed snapshot rows replace, hundreds of updates in one batch complete', { timeout: 120_000 }, async (t) => {
  const { sink, ctx, docs, lines } = setup();
  t.after(() => sink.close());
  const rows = (v: string) => Array.from({ length: 300 }, (_, i) => ev('r', 'big', { id: i }, { id: i, v }));
  await sink.write(batch(...rows('first')), ctx);
  // A replayed snapshot chunk with other content: inserted first, the existing _ids redone as replaces.
  await sink.write(batch(...rows('second')), ctx);
  assert.ok(lines.some((l) => l.msg === 'documents already present (replayed events): replacing them' && l.existing === 300));
  // 300 updates of existing documents in one batch: FerretDB v1 hangs on a single command
  // with >= 50 of them (its pool), so the sink splits commands there.
  await sink.write(batch(...Array.from({ length: 300 }, (_, i) => ev('u', 'big', { id: i }, { id: i, v: `u${i}` }))), ctx);
  const got = await docs('big');
  assert.equal(got.length, 300);
  assert.deepEqual(got.map((d) => d.v), Array.from({ length: 300 }, (_, i) => `u${i}`));
});

test('a large insert runs as concurrent parts: a part of replays and a part of new rows both end right', { timeout: 120_000 }, async (t) => {
  const { sink, ctx, docs, lines } = setup();
  t.after(() => sink.close());
  const rows = (from: number, to: number, v: string) => Array.from({ length: to - from }, (_, i) => ev('r', 'parts', { id: from + i }, { id: from + i, v }));
  await sink.write(batch(...rows(0, 600, 'first')), ctx);
  // 1,200 rows split in two inserts of 600: the first all duplicates (redone as replaces), the second all new.
  await sink.write(batch(...rows(0, 1200, 'second')), ctx);
  assert.ok(lines.some((l) => l.msg === 'documents already present (replayed events): replacing them' && l.existing === 600));
  const got = await docs('parts');
  assert.equal(got.length, 1200);
  assert.ok(got.every((d) => d.v === 'second'), 'every document has the replayed content');
});

test('every value type round-trips exactly', async (t) => {
  const { sink, ctx, coll } = setup();
  t.after(() => sink.close());
  const big = 2n ** 62n + 12345n;
  const row: Row = {
    id: 9007199254740993n,
    amount: new Decimal('12345678901234.123456'),
    price: new Decimal('1.50'),
    tiny: new Decimal('-0.000000000000000001'),
    big,
    neg: -big,
    small: 42,
    ratio: 0.1,
    flag: true,
    name: 'Zoë ✓',
    bytes: Buffer.from([0, 1, 2, 253, 254, 255]),
    at: new Date('2024-02-29T23:59:59.123Z'),
    day: new Date('2024-01-01T00:00:00Z'),
    json: { a: { b: [1, 'two', null, { c: true }] }, n: 1.25, s: 'x' },
    tags: ['a', 'b'],
    nums: [1, 2, 3],
    nothing: null,
    clock: '12:34:56.789',
  };
  await sink.write(batch(ev('c', 'types', { id: row.id }, row)), ctx);
  const doc = (await coll('types').findOne({}))!;
  assert.equal(doc._id, 9007199254740993n);
  assert.equal(doc.id, 9007199254740993n);
  for (const f of ['amount', 'price', 'tiny'] as const) {
    const text = (row[f] as Decimal).text;
    if (isFerret) assert.equal(doc[f], text, `${f} as exact text on FerretDB`);
    else {
      assert.ok(doc[f] instanceof Decimal128, `${f} is Decimal128`);
      assert.equal(doc[f].toString(), text);
    }
  }
  assert.equal(doc.big, big);
  assert.equal(doc.neg, -big);
  assert.equal(doc.small, 42);
  assert.equal(doc.ratio, 0.1);
  assert.equal(doc.flag, true);
  assert.equal(doc.name, 'Zoë ✓');
  assert.ok(doc.bytes instanceof Binary);
  assert.deepEqual(Buffer.from((doc.bytes as Binary).buffer), row.bytes);
  assert.equal((doc.at as Date).toISOString(), '2024-02-29T23:59:59.123Z');
  assert.equal((doc.day as Date).toISOString(), '2024-01-01T00:00:00.000Z');
  assert.deepEqual(doc.json, row.json);
  assert.deepEqual(doc.tags, ['a', 'b']);
  assert.deepEqual(doc.nums, [1, 2, 3]);
  assert.equal(doc.nothing, null);
  assert.ok('nothing' in doc);
  assert.equal(doc.clock, '12:34:56.789');
});

test('a collection mapping writes the table into the named collection', async (t) => {
  const { sink, ctx, docs } = setup({ stream: streamSpec({}, { tables: { 'public.orders': { collection: 'orders_v2' } } }) });
  t.after(() => sink.close());
  await sink.write(batch(ev('c', 'orders', { id: 1 }, { id: 1 })), ctx);
  assert.equal((await docs('orders_v2')).length, 1);
  assert.equal((await docs('orders')).length, 0);
});

test('dropCollections empties the target collections before a fresh snapshot; missing ones are fine', async (t) => {
  const { sink, ctx, coll, db } = setup({ stream: streamSpec({ dropCollections: true }) });
  t.after(() => sink.close());
  await coll('old').insertOne({ _id: 'stale' as never });
  await sink.prepare([{ schema: 'public', table: 'old' }, { schema: 'public', table: 'never_existed' }], ctx);
  const names = (await reader.db(db).listCollections().toArray()).map((c) => c.name);
  assert.ok(!names.includes('old'), `dropped: ${names.join(',')}`);

  const keep = setup({ stream: streamSpec({ dropCollections: false }) });
  t.after(() => keep.sink.close());
  await keep.coll('old').insertOne({ _id: 'kept' as never });
  await keep.sink.prepare([{ schema: 'public', table: 'old' }], keep.ctx);
  assert.equal((await keep.docs('old')).length, 1);
});

test('test() on the real server reports it reachable, names the server, and probes a write', async () => {
  const db = newDb();
  usedDbs.push(db);
  const { logger } = capturingLogger();
  const report = await mongodbConnector.test!({ id: 'c', name: 'c', kind: 'mongodb', url: urlFor(db), options: {} }, logger);
  assert.equal(report.reachable, true);
  assert.ok(report.checks.every((c) => c.ok), JSON.stringify(report.checks));
  assert.deepEqual(report.checks.map((c) => c.name), ['database', 'connect', 'server', 'write']);
  assert.match(report.version ?? '', isFerret ? /^FerretDB v?1\./ : /^MongoDB /);
  assert.equal(await reader.db(db).collection('_sluice_probe').countDocuments(), 0);
});

test('test() on a dead port reports unreachable without throwing; no database is a failed check', async () => {
  const { logger } = capturingLogger();
  const port = await freePort();
  const dead = await mongodbConnector.test!({ id: 'c', name: 'c', kind: 'mongodb', url: `mongodb://127.0.0.1:${port}/db`, options: {} }, logger);
  assert.equal(dead.reachable, false);
  assert.equal(dead.checks.find((c) => c.name === 'connect')?.ok, false);
  assert.ok(dead.checks.find((c) => c.name === 'connect')?.suggestion);
  const nodb = await mongodbConnector.test!({ id: 'c', name: 'c', kind: 'mongodb', url: base, options: {} }, logger);
  assert.equal(nodb.reachable, true);
  assert.equal(nodb.checks.find((c) => c.name === 'database')?.ok, false);
});

test('a record the server can never take fails the batch with a non-retriable SluiceError naming collection and key', async (t) => {
  const { sink, ctx, coll } = setup();
  t.after(() => sink.close());
  await coll('people').createIndex({ email: 1 }, { unique: true });
  await sink.write(batch(ev('c', 'people', { id: 1 }, { id: 1, email: 'a@x' })), ctx);
  await assert.rejects(sink.write(batch(ev('c', 'people', { id: 2 }, { id: 2, email: 'a@x' })), ctx), (e: unknown) => {
    assert.ok(isSluiceError(e), String(e));
    assert.equal(e.code, 'SINK_RECORD_REJECTED');
    assert.equal(e.retriable, false);
    assert.match(e.message, /people/);
    assert.deepEqual(e.detail.key, { id: 2 });
    assert.equal(e.detail.collection, 'people');
    assert.equal(e.detail.table, 'public.people');
    return true;
  });
});

test('a value that cannot be stored exactly is rejected before writing, naming the field', async (t) => {
  const { sink, ctx, docs } = setup();
  t.after(() => sink.close());
  await assert.rejects(sink.write(batch(ev('c', 'm', { id: 1 }, { id: 1, huge: 2n ** 64n })), ctx), (e: unknown) => {
    assert.ok(isSluiceError(e));
    // An integer outside int64 (a MySQL BIGINT UNSIGNED above 2^63-1) has its own record-error code.
    assert.equal(e.code, 'VALUE_OUT_OF_RANGE');
    assert.equal(e.retriable, false);
    assert.equal(e.detail.field, 'huge');
    assert.equal(e.detail.value, String(2n ** 64n));
    return true;
  });
  assert.equal((await docs('m')).length, 0);
});

test('FerretDB: NaN doubles are rejected as records (the server would drop the connection), forcing Decimal128 is a config error', async (t) => {
  if (!isFerret) return t.skip('only FerretDB v1 refuses these');
  const { sink, ctx } = setup();
  t.after(() => sink.close());
  await assert.rejects(sink.write(batch(ev('c', 'm', { id: 1 }, { id: 1, ratio: NaN })), ctx), (e: unknown) => isSluiceError(e) && e.code === 'SINK_RECORD_REJECTED' && e.detail.field === 'ratio');
  const forced = setup({ options: { decimals: 'decimal128' } });
  t.after(() => forced.sink.close());
  await assert.rejects(forced.sink.write(batch(ev('c', 'm', { id: 1 }, { id: 1 })), forced.ctx), (e: unknown) => isSluiceError(e) && e.code === 'CONFIG_INVALID' && !e.retriable);
});

test('FerretDB: a document with a nested array is a rejected record, not an outage', async (t) => {
  if (!isFerret) return t.skip('MongoDB stores nested arrays');
  const { sink, ctx } = setup();
  t.after(() => sink.close());
  await assert.rejects(sink.write(batch(ev('c', 'm', { id: 1 }, { id: 1, grid: [[1, 2], [3]] })), ctx), (e: unknown) => {
    assert.ok(isSluiceError(e));
    assert.equal(e.code, 'SINK_RECORD_REJECTED');
    assert.deepEqual(e.detail.key, { id: 1 });
    return true;
  });
});

// ---- outages, through a TCP proxy the test can take down and bring back ----

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address() as net.AddressInfo;
      s.close(() => resolve(port));
    });
  });
}

class Proxy {
  #server: net.Server | null = null;
  readonly #sockets = new Set<net.Socket>();
  constructor(
    readonly port: number,
    private readonly target: { host: string; port: number },
  ) {}
  start(): Promise<void> {
    const server = net.createServer((client) => {
      const upstream = net.connect(this.target.port, this.target.host);
      for (const s of [client, upstream]) {
        this.#sockets.add(s);
        s.on('close', () => this.#sockets.delete(s));
        s.on('error', () => s.destroy());
      }
      client.pipe(upstream).pipe(client);
      client.on('close', () => upstream.destroy());
      upstream.on('close', () => client.destroy());
    });
    this.#server = server;
    return new Promise((resolve, reject) => {
      server.once('error', reject);
      server.listen(this.port, '127.0.0.1', () => resolve());
    });
  }
  /** Refuses new connections and cuts the open ones: the server "goes down". */
  stop(): Promise<void> {
    const server = this.#server;
    this.#server = null;
    for (const s of this.#sockets) s.destroy();
    return new Promise((resolve) => (server ? server.close(() => resolve()) : resolve()));
  }
}

function target(): { host: string; port: number } {
  const u = new URL(base.replace(/^mongodb:/, 'http:'));
  return { host: u.hostname, port: Number(u.port || 27017) };
}

const fastRetry = { serverSelectionTimeoutMS: 300, retry: { initialDelayMs: 50, maxDelayMs: 400 } };
const retryWarnings = (lines: Array<Record<string, unknown>>) => lines.filter((l) => l.level === 40 && typeof l.attempt === 'number');

test('MongoDB going away mid-stream only delays the write: it is retried until it lands, with the data right', async (t) => {
  const proxy = new Proxy(await freePort(), target());
  await proxy.start();
  t.after(() => proxy.stop());
  const { sink, ctx, docs, lines } = setup({ server: `mongodb://127.0.0.1:${proxy.port}`, options: fastRetry });
  t.after(() => sink.close());
  await sink.write(batch(ev('c', 'orders', { id: 1 }, { id: 1, v: 'before' })), ctx);

  await proxy.stop();
  const pending = sink.write(batch(ev('u', 'orders', { id: 1 }, { id: 1, v: 'during' }), ev('c', 'orders', { id: 2 }, { id: 2, v: 'new' })), ctx);
  let settled = false;
  void pending.then(() => (settled = true), () => (settled = true));
  // The outage is observed (several failed attempts, logged as warnings) and the write has not given up.
  await waitFor(() => retryWarnings(lines).length >= 3, { timeoutMs: 20_000, message: 'retries while the server is away' });
  assert.equal(settled, false);
  await proxy.start();
  await pending;
  assert.deepEqual(await docs('orders'), [{ _id: 1, id: 1, v: 'during' }, { _id: 2, id: 2, v: 'new' }]);
  const w = retryWarnings(lines);
  assert.ok(w.every((l) => typeof l.attempt === 'number'), 'warnings carry the attempt count');
  assert.ok(!lines.some((l) => (l.level as number) >= 50), 'no error-level log for a transient outage');
});

test('a stopped stream stops the retries: the write rejects with the last error', async (t) => {
  const port = await freePort();
  const { sink, ctx, abort, lines } = setup({ server: `mongodb://127.0.0.1:${port}`, options: fastRetry });
  t.after(() => sink.close());
  const pending = sink.write(batch(ev('c', 'x', { id: 1 }, { id: 1 })), ctx);
  await waitFor(() => retryWarnings(lines).length >= 1, { timeoutMs: 20_000, message: 'first retry' });
  abort.abort();
  await assert.rejects(pending, (e: unknown) => {
    assert.ok(e instanceof Error);
    assert.match(e.name, /MongoServerSelectionError|MongoNetworkError/);
    return true;
  });
});
