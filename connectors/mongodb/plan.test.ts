import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { ChangeEvent, Op, Row } from '../../src/core';
import { bulkOperations, planBatch, PlanError, splitInserts } from './plan';

const OPTS = { decimals: 'decimal128' as const };
const byTable = (t: { table: string }): string => t.table;

function ev(op: Op, table: string, key: Row, after: Row | null, before: Row | null = null): ChangeEvent {
  return {
    table: { schema: 'public', table },
    op,
    key,
    before,
    after,
    source: { connector: 'test', name: 't', db: 'd', schema: 'public', table, ts_ms: 0, snapshot: false },
    ts_ms: 0,
  };
}

test('one plan per collection, writes keyed by _id', () => {
  const plans = planBatch([ev('c', 'a', { id: 1 }, { id: 1, x: 1 }), ev('c', 'b', { id: 1 }, { id: 1, y: 2 }), ev('d', 'a', { id: 2 }, null)], byTable, OPTS);
  assert.deepEqual(plans.map((p) => p.collection), ['a', 'b']);
  assert.deepEqual(plans[0]!.writes.map((w) => [w.kind, w.id]), [['replace', 1], ['delete', 2]]);
});

test('the last full image wins for one _id', () => {
  const [p] = planBatch([ev('c', 'a', { id: 1 }, { id: 1, v: 'a' }), ev('u', 'a', { id: 1 }, { id: 1, v: 'b' }), ev('u', 'a', { id: 1 }, { id: 1, v: 'c' })], byTable, OPTS);
  assert.equal(p!.writes.length, 1);
  assert.deepEqual(p!.writes[0]!.fields, { id: 1, v: 'c' });
  assert.equal(p!.writes[0]!.eventIndex, 2);
});

test('a partial image (unchanged TOAST) merges onto a preceding full image', () => {
  const [p] = planBatch([ev('c', 'a', { id: 1 }, { id: 1, body: 'big', v: 1 }), ev('u', 'a', { id: 1 }, { id: 1, body: undefined, v: 2 })], byTable, OPTS);
  assert.deepEqual(p!.writes.map((w) => [w.kind, w.fields]), [['replace', { id: 1, body: 'big', v: 2 }]]);
});

test('partials alone stay a $set of the defined fields, merged', () => {
  const [p] = planBatch([ev('u', 'a', { id: 1 }, { id: 1, body: undefined, v: 2 }), ev('u', 'a', { id: 1 }, { id: 1, body: undefined, w: 3 })], byTable, OPTS);
  assert.deepEqual(p!.writes.map((w) => [w.kind, w.fields]), [['set', { id: 1, v: 2, w: 3 }]]);
  const { ops } = bulkOperations(p!.writes);
  assert.deepEqual(ops, [{ updateOne: { filter: { _id: 1 }, update: { $set: { id: 1, v: 2, w: 3 } }, upsert: true } }]);
});

test('a delete then a partial becomes a replace with just those fields (what the upsert would create)', () => {
  const [p] = planBatch([ev('d', 'a', { id: 1 }, null), ev('u', 'a', { id: 1 }, { id: 1, body: undefined, v: 2 })], byTable, OPTS);
  assert.deepEqual(p!.writes.map((w) => [w.kind, w.fields]), [['replace', { id: 1, v: 2 }]]);
});

test('a write then a delete is a delete', () => {
  const [p] = planBatch([ev('c', 'a', { id: 1 }, { id: 1 }), ev('d', 'a', { id: 1 }, null)], byTable, OPTS);
  assert.deepEqual(p!.writes.map((w) => w.kind), ['delete']);
});

test('a key change deletes the document under the old _id', () => {
  const [p] = planBatch([ev('u', 'a', { id: 2 }, { id: 2, v: 1 }, { id: 1 })], byTable, OPTS);
  assert.deepEqual(p!.writes.map((w) => [w.kind, w.id]), [['delete', 1], ['replace', 2]]);
  const [q] = planBatch([ev('u', 'a', { id: 1 }, { id: 1, v: 1 }, { id: 1, v: 0 })], byTable, OPTS);
  assert.deepEqual(q!.writes.map((w) => w.kind), ['replace']);
});

test('composite keys follow the schema key order', () => {
  const e = ev('c', 'a', { b: 'x', a: 1 }, { a: 1, b: 'x', v: 0 });
  e.schema = { columns: [], key: ['a', 'b'] };
  const [p] = planBatch([e], byTable, OPTS);
  assert.deepEqual(Object.keys(p!.writes[0]!.id as object), ['a', 'b']);
});

test('a replacement carries _id first and ignores a column called _id', () => {
  const [p] = planBatch([ev('c', 'a', { id: 1 }, { _id: 'other', id: 1, v: 2 })], byTable, OPTS);
  const { ops } = bulkOperations(p!.writes);
  assert.deepEqual(ops, [{ replaceOne: { filter: { _id: 1 }, replacement: { _id: 1, id: 1, v: 2 }, upsert: true } }]);
});

test('a partial with nothing defined writes nothing, and the op/write pairing stays aligned', () => {
  const [p] = planBatch([ev('u', 'a', { id: 1 }, { id: undefined, body: undefined } as Row), ev('d', 'a', { id: 2 }, null)], byTable, OPTS).map((x) => x);
  // key {id:1} still names the document even though after.id was not sent
  const { ops, writes } = bulkOperations(p!.writes);
  assert.equal(ops.length, 1);
  assert.equal(writes[0]!.kind, 'delete');
});

test('an unconvertible value fails the plan naming the event', () => {
  assert.throws(
    () => planBatch([ev('c', 'a', { id: 1 }, { id: 1 }), ev('c', 'a', { id: 2 }, { id: 2, big: 2n ** 64n })], byTable, OPTS),
    (e: unknown) => e instanceof PlanError && e.eventIndex === 1 && e.conversion.field === 'big',
  );
  assert.throws(() => planBatch([ev('u', 'a', { id: 1 }, { id: 1, 'a.b': 1, t: undefined })], byTable, OPTS), PlanError);
});

test('a document over the server size limit is refused before sending, naming the event', () => {
  assert.throws(
    () => planBatch([ev('c', 'a', { id: 1 }, { id: 1, blob: 'x'.repeat(2000) })], byTable, { ...OPTS, maxDocumentBytes: 1000 }),
    (e: unknown) => e instanceof PlanError && e.eventIndex === 0 && /over the server's limit/.test(e.message),
  );
});

test('splitInserts: only replaces whose last event was a read or a create are inserted first', () => {
  const events = [
    ev('r', 'a', { id: 1 }, { id: 1, v: 1 }),
    ev('c', 'a', { id: 2 }, { id: 2, v: 1 }),
    ev('u', 'a', { id: 3 }, { id: 3, v: 1 }),
    ev('d', 'a', { id: 4 }, null),
    ev('c', 'a', { id: 5 }, { id: 5, v: 1 }),
    ev('u', 'a', { id: 5 }, { id: 5, v: 2 }),
    ev('d', 'a', { id: 6 }, null),
    ev('c', 'a', { id: 6 }, { id: 6, v: 1 }),
  ];
  const [p] = planBatch(events, byTable, OPTS);
  const { inserts, rest } = splitInserts(p!.writes, (i) => events[i]?.op);
  assert.deepEqual(inserts.map((w) => w.id), [1, 2, 6]);
  assert.deepEqual(rest.map((w) => [w.kind, w.id]), [['replace', 3], ['delete', 4], ['replace', 5]]);
});

test('under mapping rules: the objectId strategy matches on the key field, never inserts outright, and a key change deletes by the old key', () => {
  const mapper = () => ({
    key: (key: Row, columns: readonly string[]) => key[columns[0]!],
    row: (after: Row) => ({ doc: { ...after }, undefinedFields: [] as string[], omittedNulls: [] as string[] }),
    keyField: 'pk',
  });
  const [p] = planBatch([ev('r', 'a', { id: 1 }, { id: 1, v: 'a' }), ev('u', 'a', { id: 3 }, { id: 3, v: 'b' }, { id: 2 })], byTable, { ...OPTS, mapper });
  assert.deepEqual(
    p!.writes.map((w) => [w.kind, w.filter, w.noId, w.fields]),
    [
      ['replace', { pk: 1 }, true, { id: 1, v: 'a', pk: 1 }],
      ['delete', { pk: 2 }, true, {}],
      ['replace', { pk: 3 }, true, { id: 3, v: 'b', pk: 3 }],
    ],
  );
  const { ops } = bulkOperations(p!.writes);
  assert.deepEqual(ops[0], { replaceOne: { filter: { pk: 1 }, replacement: { id: 1, v: 'a', pk: 1 }, upsert: true } }, 'no _id: the server generates it');
  assert.deepEqual(ops[1], { deleteOne: { filter: { pk: 2 } } });
  assert.equal(splitInserts(p!.writes, () => 'r').inserts.length, 0);
});

test('under mapping rules: omitted nulls of a partial update are unset, and coalesce with later sets', () => {
  const mapper = () => ({
    key: (key: Row) => key.id,
    row: (after: Row) => {
      const doc: Row = {};
      const undefinedFields: string[] = [];
      const omittedNulls: string[] = [];
      for (const [k, v] of Object.entries(after)) {
        if (v === undefined) undefinedFields.push(k);
        else if (v === null) omittedNulls.push(k);
        else doc[k] = v;
      }
      return { doc, undefinedFields, omittedNulls };
    },
    keyField: '_id',
  });
  const [p] = planBatch(
    [ev('u', 'a', { id: 1 }, { id: 1, big: undefined, a: null, b: 1 }), ev('u', 'a', { id: 1 }, { id: 1, big: undefined, a: 2, b: null })],
    byTable,
    { ...OPTS, mapper },
  );
  assert.deepEqual([p!.writes[0]!.kind, p!.writes[0]!.fields, p!.writes[0]!.unset], ['set', { id: 1, a: 2 }, ['b']]);
  assert.deepEqual(bulkOperations(p!.writes).ops[0], { updateOne: { filter: { _id: 1 }, update: { $set: { id: 1, a: 2 }, $unset: { b: '' } }, upsert: true } });
  // Onto a full image, an unset removes the field from the replacement.
  const [q] = planBatch([ev('c', 'a', { id: 1 }, { id: 1, a: 1, b: 1 }), ev('u', 'a', { id: 1 }, { id: 1, big: undefined, b: null })], byTable, { ...OPTS, mapper });
  assert.deepEqual([q!.writes[0]!.kind, q!.writes[0]!.fields], ['replace', { id: 1, a: 1 }]);
});

test('a table that writes no documents of its own (collectionFor null) is left out of the plan', () => {
  const plans = planBatch([ev('c', 'a', { id: 1 }, { id: 1 }), ev('c', 'b', { id: 1 }, { id: 1 })], (t) => (t.table === 'b' ? null : t.table), OPTS);
  assert.deepEqual(plans.map((p) => p.collection), ['a']);
});
