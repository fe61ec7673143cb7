/**
 * A MongoDB server that accepts connections but never answers (a hung server, a
 * silent partition) must not stall a stream for ever: each attempt has a time limit
 * (`writeTimeoutMs`), a timed-out attempt is retried like any transient failure,
 * counted and logged, and once the server answers again the write lands with
 * nothing lost. FerretDB sits behind a TCP proxy of the test's own, so the shared
 * server itself is never touched.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import pino from 'pino';
import { MongoClient, type Document } from 'mongodb';
import { stackUrls } from '../../test/helpers/stack';
import { TcpProxy } from '../../test/helpers/tcp-proxy';
import { waitFor } from '../../test/helpers/wait-for';
import { RUN_EVENTS, type ChangeEvent, type ConnectorContext, type Op, type Row, type StreamSpec } from '../../src/core';
import { MongoSink } from './sink';

const base = stackUrls().mongodb.replace(/\/+$/, '');
const db = `hung_${process.pid.toString(36)}${Date.now().toString(36)}`;
let reader: MongoClient;

before(async () => {
  reader = new MongoClient(base, { serverSelectionTimeoutMS: 10_000 });
  await reader.connect();
});
after(async () => {
  await reader.db(db).dropDatabase().catch(() => undefined);
  await reader.close();
});

function ev(op: Op, key: Row, after: Row | null): ChangeEvent {
  return { table: { schema: 'public', table: 'orders' }, op, key, before: null, after, source: { connector: 'test', name: 't', db: 'd', schema: 'public', table: 'orders', ts_ms: 0, snapshot: false }, ts_ms: 0 };
}

test('a hung MongoDB write times out, is retried and counted, and lands once the server answers again, nothing lost', { timeout: 120_000 }, async (t) => {
  const u = new URL(base.replace(/^mongodb:/, 'http:'));
  const proxy = await TcpProxy.start({ host: u.hostname, port: Number(u.port || 27017) });
  t.after(() => proxy.stop());
  const lines: Array<Record<string, unknown>> = [];
  const logger = pino(
    { level: 'debug' },
    new Writable({
      write(chunk: Buffer, _enc, cb) {
        for (const l of chunk.toString().split('\n')) if (l.trim()) lines.push(JSON.parse(l) as Record<string, unknown>);
        cb();
      },
    }),
  );
  const stream: StreamSpec = { id: 'hung', name: 'hung', source: { connectionId: 'src' }, sink: { connectionId: 'dst' }, transport: { kind: 'direct' }, mode: 'CDC', tables: [], options: {} };
  const options = { writeTimeoutMs: 1500, serverSelectionTimeoutMS: 500, retry: { initialDelayMs: 50, maxDelayMs: 300 } };
  const sink = new MongoSink({ connection: { id: 'dst', name: 'dst', kind: 'mongodb', url: `mongodb://127.0.0.1:${proxy.port}/${db}`, options }, stream, logger });
  t.after(() => sink.close());
  const counted: Record<string, number> = {};
  const ctx: ConnectorContext = {
    streamId: 'hung',
    runId: 'r1',
    logger,
    signal: new AbortController().signal,
    count: (event, n = 1) => void (counted[event] = (counted[event] ?? 0) + n),
  };

  const expected = new Map<number, Document>();
  const rows = (from: number, to: number, v: string): ChangeEvent[] =>
    Array.from({ length: to - from + 1 }, (_, i) => {
      const id = from + i;
      expected.set(id, { _id: id, id, v });
      return ev('c', { id }, { id, v });
    });
  await sink.write({ events: rows(1, 20, 'before'), position: { seq: 1 } }, ctx);

  proxy.blackHole();
  // Updates to existing documents (the ordered bulk path) and new ones (the insert path).
  const events = [...rows(1, 10, 'during').map((e) => ({ ...e, op: 'u' as Op })), ...rows(21, 30, 'new')];
  const pending = sink.write({ events, position: { seq: 2 } }, ctx);
  let settled: unknown = null;
  void pending.then(() => (settled = 'resolved'), (e: unknown) => (settled = e));

  const timeouts = () => lines.filter((l) => l.level === 40 && l.collection === `${db}.orders` && typeof l.attempt === 'number');
  await waitFor(() => timeouts().length >= 2, { timeoutMs: 30_000, message: 'timed-out attempts retried, with a warning naming the collection' });
  assert.equal(settled, null, 'the write neither gave up nor claimed success while the server was silent');
  assert.ok((counted[RUN_EVENTS.MONGODB_ERROR] ?? 0) >= 2, `timeouts counted as MongoDB errors: ${JSON.stringify(counted)}`);

  proxy.restore();
  await pending;
  const docs = await reader.db(db).collection('orders').find({}).sort({ _id: 1 }).toArray();
  assert.deepEqual(docs, [...expected.values()].sort((a, b) => (a._id as number) - (b._id as number)));
  assert.ok(!lines.some((l) => (l.level as number) >= 50), 'no error-level log for a transient hang');
});
