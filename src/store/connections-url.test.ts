import { test } from 'node:test';
import assert from 'node:assert/strict';
import { joinPassword, splitPassword } from './connections';

test('a JDBC URL\'s password parameter is split off like a userinfo password, and put back where it was', () => {
  const split = splitPassword('jdbc:postgresql://db:5432/app?user=alice&password=s%26cret&ssl=true');
  assert.equal(split.password, 's&cret');
  assert.equal(split.url, 'jdbc:postgresql://db:5432/app?user=alice&ssl=true');
  assert.ok(!split.url.includes('cret'));
  const joined = new URL(joinPassword(split.url, split.password).slice(5));
  assert.equal(joined.searchParams.get('password'), 's&cret');
  assert.equal(joined.searchParams.get('user'), 'alice');
  // Userinfo passwords as before; no user at all: nothing to attach a password to.
  assert.deepEqual(splitPassword('postgresql://u:p%40w@h/d'), { url: 'postgresql://u@h/d', password: 'p@w' });
  assert.equal(joinPassword('postgresql://u@h/d', 'p@w'), 'postgresql://u:p%40w@h/d');
  assert.equal(joinPassword('jdbc:mysql://h:3306/d', 'x'), 'jdbc:mysql://h:3306/d');
  assert.deepEqual(splitPassword('127.0.0.1:9092,127.0.0.2:9092'), { url: '127.0.0.1:9092,127.0.0.2:9092' });
});
