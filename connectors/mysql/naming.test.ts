import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ident, qualified } from './naming';

test('identifiers are backtick-quoted with every backtick inside doubled', () => {
  assert.equal(ident('orders'), '`orders`');
  assert.equal(ident('we`ird'), '`we``ird`');
  assert.equal(ident('``'), '``````');
  assert.equal(ident('order id'), '`order id`');
  assert.equal(qualified('shop', 'a`b'), '`shop`.`a``b`');
});
