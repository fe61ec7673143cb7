import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { Partitioners } from 'kafkajs';
import { murmur2, partitionOf } from './partition';

// kafkajs's Long-based implementation, the reference (not part of its typed API).
// eslint-disable-next-line @typescript-eslint/no-require-imports
const reference = require('kafkajs/src/producer/partitioners/default/murmur2') as (key: Buffer) => number;

test('murmur2 equals kafkajs (and so the Java client) on every length and on random bytes', () => {
  for (let len = 0; len < 64; len++) {
    for (let n = 0; n < 50; n++) {
      const key = randomBytes(len);
      assert.equal(murmur2(key), reference(key), `key ${key.toString('hex')}`);
    }
  }
  for (let n = 0; n < 500; n++) {
    const key = randomBytes(200 + (n % 100));
    assert.equal(murmur2(key), reference(key));
  }
  // Bytes with the high bit set take the signed paths of the Java original.
  const high = Buffer.alloc(37, 0xff);
  assert.equal(murmur2(high), reference(high));
});

test('partitionOf picks what kafkajs default partitioner picks for a keyed message', () => {
  const partitioner = Partitioners.DefaultPartitioner();
  for (const partitions of [1, 3, 7, 12]) {
    const partitionMetadata = Array.from({ length: partitions }, (_, i) => ({ partitionId: i, leader: 0, replicas: [0], isr: [0], partitionErrorCode: 0 }));
    for (let n = 0; n < 300; n++) {
      const key = Buffer.from(`{"schema":{"type":"struct"},"payload":{"id":${n * 7919}}}`);
      assert.equal(partitionOf(key, partitions), partitioner({ topic: 't', partitionMetadata, message: { key, value: null } }));
    }
  }
});
