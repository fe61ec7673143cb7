import { test } from 'node:test';
import assert from 'node:assert/strict';
import { compileWhere, keysWhere, whereIdent, whereLiteral } from '../transform/where';
import { previewMapping } from './mapping-preview';
import pino from 'pino';
import { SluiceError } from '../errors';
import { createRegistry } from './registry';
import { mapOptionsFor, rejectionMessage } from '../../connectors/mongodb/targets';
import { keyForDetail } from '../../connectors/mongodb/bson';
import { FieldConversionError } from '../transform/mapping';
import { Decimal, NO_OPTIONS, type ColumnSpec, type ConnectionSpec, type ConnectorModule, type Row, type RowQuery, type StreamSpec, type TableRef } from '../core';

const NASTY = {
  // in the clause, then not
  postgresql: [["it's", "''", 'a"b', "'); DROP TABLE x; --", 'x`y'], ['%_', ' ', 'its', "'"]],
  mysql: [["it's", 'back\\slash', "\\'", "''", 'a"b'], ['x`y', '%_', ' ', 'its', 'backslash', "'"]],
} as const;

for (const dialect of ['postgresql', 'mysql'] as const) {
  test(`keysWhere (${dialect}): the clause selects exactly the rows holding one of the keys, whatever the strings hold`, () => {
    const [inside, outside] = NASTY[dialect];
    const clause = keysWhere(['code'], inside.map((s) => [s]), dialect)!;
    const w = compileWhere(clause, { dialect });
    for (const s of inside) assert.equal(w.test({ code: s }), true, `${JSON.stringify(s)} in ${clause}`);
    for (const s of outside) assert.equal(w.test({ code: s }), false, `${JSON.stringify(s)} not in ${clause}`);
    // Values travel as bind parameters, never in the SQL text.
    const sql = w.sql((i) => `$${i + 1}`);
    assert.doesNotMatch(JSON.stringify(sql), /it''s/);
  });

  test(`keysWhere (${dialect}): composite keys, numbers, bigints, decimals, and quoted column names`, () => {
    const clause = keysWhere(['order', 'line no'], [[1n, new Decimal('2.50')], [3, 4]], dialect)!;
    const w = compileWhere(clause, { dialect });
    assert.equal(w.test({ order: 1n, 'line no': new Decimal('2.5') }), true);
    assert.equal(w.test({ order: 3, 'line no': 4 }), true);
    assert.equal(w.test({ order: 1, 'line no': 4 }), false);
    assert.equal(w.test({ order: 3, 'line no': new Decimal('2.50') }), false);
  });
}

test('values the where language cannot spell give no clause (the preview then filters in memory)', () => {
  assert.equal(whereLiteral(new Date(0), 'postgresql'), undefined);
  assert.equal(whereLiteral(Buffer.from('x'), 'postgresql'), undefined);
  assert.equal(whereLiteral('a\0b', 'mysql'), undefined);
  assert.equal(whereLiteral('a\\b', 'postgresql'), undefined);
  assert.equal(whereLiteral('a\\b', 'mysql'), "'a\\\\b'");
  assert.equal(whereLiteral(Number.NaN, 'mysql'), undefined);
  assert.equal(keysWhere(['k'], [[1], [new Date(0)]], 'postgresql'), undefined);
  assert.equal(keysWhere(['k'], [], 'postgresql'), undefined);
  assert.equal(whereIdent('a"b', 'postgresql'), '"a""b"');
  assert.equal(whereIdent('a`b', 'mysql'), '`a``b`');
});

// previewMapping over an in-memory source (readRows applying `where` with the where
// compiler, key order, offset/limit, columns) and the MongoDB sink's own conversion.

const col = (name: string, type: ColumnSpec['type'] = 'int64'): ColumnSpec => ({ name, type, sourceType: type, optional: true });

function fixture(tables: Record<string, { columns: ColumnSpec[]; key: string[]; rows: Row[] }>) {
  const queries: { table: string; q: RowQuery }[] = [];
  const source: ConnectorModule = {
    kind: 'mem-src',
    options: { connection: NO_OPTIONS, stream: NO_OPTIONS },
    dialect: 'postgresql',
    roles: ['source'],
    listTables: async () => ({ tables: Object.keys(tables).map((n) => ({ schema: n.split('.')[0]!, table: n.split('.')[1]! })), defaultSchema: 'public' }),
    readRows: async (_c, ref: TableRef, q: RowQuery) => {
      const name = `${ref.schema}.${ref.table}`;
      const t = tables[name];
      if (!t) throw new SluiceError('SOURCE_TABLE_NOT_FOUND', `no ${name}`, {});
      queries.push({ table: name, q });
      const w = q.where ? compileWhere(q.where, { dialect: 'postgresql', columns: t.columns }) : undefined;
      const k = t.key[0]!;
      const rows = t.rows.filter((r) => !w || w.test(r)).sort((a, b) => (String(a[k]) < String(b[k]) ? -1 : 1));
      const cols = q.columns ?? t.columns.map((c) => c.name);
      return {
        rows: rows.slice(q.offset, q.offset + q.limit).map((r) => Object.fromEntries(cols.map((c) => [c, r[c]]))),
        schema: { columns: t.columns.filter((c) => cols.includes(c.name)), key: t.key },
      };
    },
  };
  const sink: ConnectorModule = {
    kind: 'mem-sink',
    options: { connection: NO_OPTIONS, stream: NO_OPTIONS },
    roles: ['sink'],
    previewConversion: async () => ({
      options: mapOptionsFor('decimal128'),
      rejection: (err, r) => (err instanceof FieldConversionError ? { field: err.field, message: rejectionMessage('db', r.collection, `${r.table.schema}.${r.table.table}`, keyForDetail(r.key), err.message) } : null),
    }),
  };
  const registry = createRegistry();
  registry.register(source);
  registry.register(sink);
  const conn = (kind: string): ConnectionSpec => ({ id: kind, name: kind, kind, url: 'x', options: {} });
  const run = (stream: Partial<StreamSpec>, request = {}) =>
    previewMapping({
      registry,
      stream: { id: 's', name: 's', source: { connectionId: 'a' }, sink: { connectionId: 'b' }, transport: { kind: 'direct' }, mode: 'CDC', tables: Object.keys(tables), options: {}, ...stream },
      source: conn('mem-src'),
      sink: conn('mem-sink'),
      request,
      logger: pino({ level: 'silent' }),
    });
  return { run, queries };
}

const embed = (into: string, foreignKey = ['pid']) => ({ newDocuments: false, embed: { into, kind: 'array', field: 'kids', foreignKey } });

test('previewMapping: children of exactly the sampled parents, by an IN on the foreign key; a bad child row is an error and left out', async () => {
  const parents = Array.from({ length: 6 }, (_, i) => ({ id: BigInt(i + 1), name: `p${i + 1}` }));
  const kids = [
    { id: 1n, pid: 1n, oid: '000000000000000000000001' },
    { id: 2n, pid: 1n, oid: 'xyz' },
    { id: 3n, pid: 2n, oid: '000000000000000000000003' },
    { id: 4n, pid: 5n, oid: '000000000000000000000004' },
  ];
  const f = fixture({
    'public.p': { columns: [col('id'), col('name', 'string')], key: ['id'], rows: parents },
    'public.k': { columns: [col('id'), col('pid'), col('oid', 'string')], key: ['id'], rows: kids },
  });
  const r = await f.run({ mapping: { tables: { 'public.k': { ...embed('public.p'), fields: { oid: { type: 'objectId' } } } } } }, { limit: 2 });
  assert.equal(r.collections.length, 1);
  const docs = r.collections[0]!.documents as any[];
  assert.deepEqual(docs.map((d) => d._id), [{ $numberLong: '1' }, { $numberLong: '2' }]);
  assert.deepEqual(docs[0].kids.map((k: any) => k.oid), [{ $oid: '000000000000000000000001' }], 'the bad child is left out of its parent');
  assert.deepEqual(docs[1].kids.map((k: any) => k.id), [{ $numberLong: '3' }]);
  assert.deepEqual(r.errors, [
    { table: 'public.k', collection: 'k', key: { id: '2' }, field: 'oid', message: `Cannot convert the record for collection db.k, key {"id":"2"} (table public.k): ${r.errors![0]!.message.split('): ')[1]}` },
  ]);
  assert.match(r.errors![0]!.message, /xyz/);
  const childQuery = f.queries.filter((q) => q.table === 'public.k' && q.q.limit > 0);
  assert.deepEqual(childQuery.map((q) => q.q.where), ['"pid" IN (1, 2)']);
});

test('previewMapping: a key the where language cannot spell (a date) reads the children unrestricted and matches in memory; a child rowCount is the first rows', async () => {
  const day = (n: number) => new Date(Date.UTC(2024, 0, n));
  const f = fixture({
    'public.p': { columns: [col('d', 'timestamp')], key: ['d'], rows: [1, 2, 3].map((n) => ({ d: day(n) })) },
    'public.k': { columns: [col('id'), col('pd', 'timestamp')], key: ['id'], rows: [1, 2, 3, 4, 5].map((n) => ({ id: BigInt(n), pd: day(n > 3 ? 1 : n) })) },
  });
  const mapping = { tables: { 'public.k': embed('public.p', ['pd']) } };
  const r = await f.run({ mapping }, { limit: 2 });
  const docs = r.collections[0]!.documents as any[];
  assert.deepEqual(docs.map((d) => d.kids.map((k: any) => k.id.$numberLong)), [['1', '4', '5'], ['2']]);
  assert.deepEqual(f.queries.filter((q) => q.table === 'public.k' && q.q.limit > 0).map((q) => q.q.where), [undefined]);
  // rowCount 4 on the child: the snapshot keeps ids 1..4, so id 5 is nowhere.
  const limited = await f.run({ mapping, relationalTableFilters: { public: { k: { rowCount: 4 } } } }, { limit: 2 });
  assert.deepEqual((limited.collections[0]!.documents as any[]).map((d) => d.kids.map((k: any) => k.id.$numberLong)), [['1', '4'], ['2']]);
});

test('previewMapping: a table that is only embedded cannot be named; one the stream lacks neither; a row whose key cannot be converted is an error', async () => {
  const f = fixture({
    'public.p': { columns: [col('id', 'string')], key: ['id'], rows: [{ id: 'bad' }, { id: '00000000000000000000000a' }] },
    'public.k': { columns: [col('id'), col('pid', 'string')], key: ['id'], rows: [{ id: 1n, pid: '00000000000000000000000a' }] },
  });
  const mapping = { tables: { 'public.p': { fields: { id: { type: 'objectId' } } }, 'public.k': { ...embed('public.p'), embed: { ...embed('public.p').embed, references: ['id'] } } } };
  await assert.rejects(f.run({ mapping }, { tables: ['public.k'] }), (e: unknown) => e instanceof SluiceError && e.code === 'VALIDATION_FAILED' && /embedded into public\.p/.test(e.message));
  await assert.rejects(f.run({ mapping }, { tables: ['public.zzz'] }), (e: unknown) => e instanceof SluiceError && e.code === 'VALIDATION_FAILED');
  const r = await f.run({ mapping }, { tables: ['p'] });
  assert.deepEqual((r.collections[0]!.documents as any[]).map((d) => [d._id, d.kids.length]), [[{ $oid: '00000000000000000000000a' }, 1]]);
  assert.deepEqual(r.errors?.map((e) => [e.table, e.key, e.field]), [['public.p', { id: 'bad' }, 'id']]);
});
