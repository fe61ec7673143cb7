import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { StreamSpec } from '../../core';
import { checkTopicsSource, idleSource, readsTopics, topicRegExp, topicsStream } from './topics-source';

const spec = (over: Partial<StreamSpec> = {}): StreamSpec => ({
  id: 's1',
  name: 'from-debezium',
  source: { connectionId: 'k' },
  sink: { connectionId: 'm' },
  transport: { kind: 'kafka' },
  mode: 'CDC',
  tables: [],
  options: {},
  ...over,
});

test('a kafka source names its topics, matches them, or takes them from tables as Debezium names them', () => {
  const listed = topicsStream(spec({ source: { connectionId: 'k', topics: ['dbserver1.public.orders'] } }));
  assert.deepEqual(listed.source.topics, ['dbserver1.public.orders']);
  assert.equal(listed.mode, 'CDC_ONLY', 'no snapshot of its own');
  assert.deepEqual(listed.transport, { kind: 'kafka', connectionId: 'k' }, 'its connection is the transport');
  const derived = topicsStream(spec({ tables: ['public.orders', 'inventory.items'], options: { topicPrefix: 'dbserver1' } }));
  assert.deepEqual(derived.source.topics, ['dbserver1.public.orders', 'dbserver1.inventory.items']);
  assert.ok(readsTopics(derived));
  assert.ok(!readsTopics(spec()), 'a stream of its own topics does not read existing ones');
  assert.ok(topicRegExp('dbserver1\\.public\\..*').test('dbserver1.public.orders'));
  assert.ok(!topicRegExp('dbserver1\\.public').test('dbserver1.public.orders'), 'the whole name must match');
});

test('the API refuses what a kafka source cannot do, naming the field', () => {
  const field = (fn: () => void): unknown => {
    try {
      fn();
    } catch (err) {
      return (err as { detail?: { field?: string } }).detail?.field;
    }
    return null;
  };
  assert.equal(field(() => checkTopicsSource(spec({ source: { connectionId: 'p', topics: ['t'] } }), 'postgresql')), 'source.topics');
  assert.equal(field(() => checkTopicsSource(spec({ source: { connectionId: 'k', topics: ['t'], topicPattern: 't.*' } }), 'kafka')), 'source.topicPattern');
  assert.equal(field(() => checkTopicsSource(spec({ source: { connectionId: 'k', topicPattern: '(' } }), 'kafka')), 'source.topicPattern');
  assert.equal(field(() => checkTopicsSource(spec(), 'kafka')), 'source.topics', 'no topics, no pattern, no tables');
  assert.equal(field(() => checkTopicsSource(spec({ source: { connectionId: 'k', topics: ['t'] }, mode: 'SNAPSHOT' }), 'kafka')), 'mode');
  assert.equal(field(() => checkTopicsSource(spec({ source: { connectionId: 'k', topics: ['t'] }, transport: { kind: 'direct' } }), 'kafka')), 'transport');
  assert.equal(field(() => checkTopicsSource(spec({ source: { connectionId: 'k', topics: ['t'] }, transport: { kind: 'kafka', connectionId: 'k' } }), 'kafka')), null);
  assert.equal(field(() => checkTopicsSource(spec(), 'postgresql')), null, 'other sources are left alone');
});

test('the idle source yields nothing and ends when the run stops', async () => {
  const abort = new AbortController();
  const it = idleSource().stream(null, { signal: abort.signal } as never)[Symbol.asyncIterator]();
  const next = it.next();
  const raced = await Promise.race([next.then(() => 'ended'), new Promise((r) => setTimeout(() => r('waiting'), 50))]);
  assert.equal(raced, 'waiting');
  abort.abort();
  assert.deepEqual(await next, { done: true, value: undefined });
});
