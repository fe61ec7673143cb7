import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { ChangeEvent, Op, Row, MapOptions } from '../../src/core';
import type { EmbedRule } from '../../src/transform/mapping';
import { planChildChanges, planStaging, stagingCollection, withStreamLock, type StagingDoc } from './embedding';
import { PlanError } from './plan';

const opts: MapOptions = { decimals: 'decimal128', convert: (v) => v };
const rule: EmbedRule = { into: 'public.orders', kind: 'array', field: 'items', foreignKey: ['order_id'] };
const ev = (op: Op, key: Row, after: Row | null, before: Row | null = null): ChangeEvent => ({
  table: { schema: 'public', table: 'items' },
  op,
  key,
  before,
  after,
  source: { connector: 't', name: 't', db: 'd', schema: 'public', table: 'items', ts_ms: 0, snapshot: false },
  ts_ms: 0,
});
const items = (...events: ChangeEvent[]) => events.map((event, eventIndex) => ({ event, eventIndex }));

test('child changes coalesce per child key: last image wins, a partial image merges and keeps the parent, a key change deletes the old child', () => {
  const changes = planChildChanges(
    items(
      ev('c', { id: 1 }, { id: 1, order_id: 5, qty: 1 }),
      ev('u', { id: 1 }, { id: 1, order_id: undefined, qty: 2 }),
      ev('u', { id: 3 }, { id: 3, order_id: 6, qty: 1 }, { id: 2 }),
      ev('u', { id: 4 }, { id: 4, order_id: null, qty: 1 }),
    ),
    rule,
    undefined,
    undefined,
    opts,
  );
  assert.deepEqual(
    changes.map((c) => [c.childKey, c.kind, c.parentKey, c.doc]),
    [
      [1, 'replace', 5, { id: 1, order_id: 5, qty: 2 }],
      [2, 'delete', null, {}],
      [3, 'replace', 6, { id: 3, order_id: 6, qty: 1 }],
      [4, 'replace', null, { id: 4, order_id: null, qty: 1 }],
    ],
  );
  // A partial image alone: the parent is not known from it.
  const [partial] = planChildChanges(items(ev('u', { id: 9 }, { id: 9, order_id: undefined, qty: 2 })), rule, undefined, undefined, opts);
  assert.equal(partial!.kind, 'set');
  assert.equal(partial!.parentKey, undefined);
});

test('a child value a type override refuses is a PlanError naming its event', () => {
  assert.throws(
    () => planChildChanges(items(ev('c', { id: 1 }, { id: 1, order_id: 5, oid: 'ok?' })), rule, { fields: { oid: { type: 'objectId' } } }, undefined, opts),
    (e: unknown) => e instanceof PlanError && e.eventIndex === 0 && e.conversion.field === 'oid',
  );
});

test('staging: a move touches the new and the old parent and keeps the old one in _stale until cleanup; a delete leaves a tombstone only when a parent must be refreshed', () => {
  const changes = planChildChanges(
    items(ev('u', { id: 1 }, { id: 1, order_id: 6 }), ev('d', { id: 2 }, null), ev('d', { id: 3 }, null), ev('c', { id: 4 }, { id: 4, order_id: 7 })),
    rule,
    undefined,
    undefined,
    opts,
  );
  const old = new Map<string, StagingDoc>([
    ['n1', { _id: 1, _p: 5, d: { id: 1, order_id: 5, gone: 'x' } }],
    ['n2', { _id: 2, _p: 5, d: { id: 2 } }],
    ['n3', { _id: 3, _p: null, d: { id: 3 } }],
  ]);
  const plan = planStaging(changes, old);
  assert.deepEqual([...plan.touched.values()].map((p) => p.parentKey).sort(), [5, 6, 7]);
  assert.deepEqual(
    plan.writes.map((w) => [w.kind, w.id, w.fields]),
    [
      ['replace', 1, { _p: 6, _stale: [5], d: { id: 1, order_id: 6 } }],
      ['replace', 2, { _p: null, _stale: [5], _gone: true }],
      ['delete', 3, {}],
      ['replace', 4, { _p: 7, d: { id: 4, order_id: 7 } }],
    ],
  );
  assert.deepEqual(
    plan.cleanup.map((w) => [w.kind, w.filter, w.unset ?? null, w.noUpsert ?? false]),
    [
      ['set', { _id: 1 }, ['_stale'], true],
      ['delete', { _id: 2, _gone: true }, null, false],
    ],
  );
  assert.deepEqual([...plan.oldFields].sort(), ['gone', 'id', 'order_id']);
});

test('staging after a crash: parents still in _stale are refreshed again, never forgotten', () => {
  const changes = planChildChanges(items(ev('u', { id: 1 }, { id: 1, order_id: 6 })), rule, undefined, undefined, opts);
  const plan = planStaging(changes, new Map([['n1', { _id: 1, _p: 6, _stale: [5, 4], d: {} }]]));
  assert.deepEqual([...plan.touched.values()].map((p) => p.parentKey).sort(), [4, 5, 6]);
  assert.deepEqual(plan.writes[0]!.fields._stale, [5, 4]);
  // Back to the old parent: it is no longer stale.
  const back = planStaging(planChildChanges(items(ev('u', { id: 1 }, { id: 1, order_id: 5 })), rule, undefined, undefined, opts), new Map([['n1', { _id: 1, _p: 6, _stale: [5], d: {} }]]));
  assert.deepEqual(back.writes[0]!.fields._stale, [6]);
});

test('the staging collection name; the stream lock runs one batch at a time, in arrival order', async () => {
  assert.equal(stagingCollection('s-1', 'public.items'), '_sluice_embed.s-1.public.items');
  const log: string[] = [];
  const slow = withStreamLock('L', async () => {
    log.push('a start');
    await new Promise((r) => setTimeout(r, 30));
    log.push('a end');
  });
  const fast = withStreamLock('L', async () => {
    log.push('b');
  });
  const other = withStreamLock('M', async () => {
    log.push('other stream');
  });
  await Promise.all([slow, fast, other]);
  assert.deepEqual(log.filter((l) => l !== 'other stream'), ['a start', 'a end', 'b']);
  assert.ok(log.indexOf('other stream') < log.indexOf('a end'), 'another stream does not wait');
  await assert.rejects(withStreamLock('L', async () => Promise.reject(new Error('boom'))));
  assert.equal(await withStreamLock('L', async () => 1), 1, 'a failed batch releases the lock');
});
