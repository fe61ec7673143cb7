import { test } from 'node:test';
import assert from 'node:assert/strict';
import { topicFor, topicPrefixOf } from './topics';
import { parseTableName as parseTableRef } from '../../core';

test('topics are <prefix>.<schema>.<table>, schema omitted when empty, in Kafka-legal characters', () => {
  assert.equal(topicFor('shop', { schema: 'public', table: 'orders' }), 'shop.public.orders');
  assert.equal(topicFor('shop', { schema: '', table: 'orders' }), 'shop.orders');
  assert.equal(topicFor('shop', { schema: 'my schema', table: 'ordérs$' }), 'shop.my_schema.ord_rs_');
});

test('the prefix is options.topicPrefix when set, else the sanitised stream name', () => {
  assert.equal(topicPrefixOf({ id: 'a1', name: 'Orders to Mongo!', options: {} }), 'Orders_to_Mongo_');
  assert.equal(topicPrefixOf({ id: 'a1', name: 'x', options: { topicPrefix: 'dbserver1' } }), 'dbserver1');
  assert.deepEqual(parseTableRef('public.orders'), { schema: 'public', table: 'orders' });
  assert.deepEqual(parseTableRef('orders'), { schema: '', table: 'orders' });
});
