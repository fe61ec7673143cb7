import { test } from 'node:test';
import assert from 'node:assert/strict';
import { KafkaJSConnectionError, KafkaJSNonRetriableError, KafkaJSNumberOfRetriesExceeded, KafkaJSProtocolError } from 'kafkajs';
import { classifyProduceError, sliceBySize } from './index';

/** A broker error as kafkajs builds it from a response's error code. */
function brokerError(type: string, retriable: boolean): KafkaJSProtocolError {
  return new KafkaJSProtocolError({ message: type, type, code: 0, retriable } as unknown as Error);
}

/** How kafkajs's retrier rejects once it gives up: the original error as `cause`. */
function nonRetriable(e: Error): Error {
  return Object.assign(new KafkaJSNonRetriableError(e), { cause: e });
}

test('sliceBySize keeps order, stays under the limit, and sends an oversized item alone', () => {
  const items = [30, 30, 50, 200, 10, 10].map((size, i) => ({ i, size }));
  const slices = sliceBySize(items, 100);
  assert.deepEqual(slices.map((s) => s.map((x) => x.i)), [[0, 1], [2], [3], [4, 5]]);
  assert.deepEqual(sliceBySize([], 100), []);
});

test('sliceBySize with groups bounds each group (partition), not the slice', () => {
  const items = [60, 60, 60, 60, 60, 60].map((size, i) => ({ i, size, p: i % 3 }));
  // Three partitions, 60 bytes each per pair: 120 per partition fits in one slice of limit 130.
  assert.deepEqual(sliceBySize(items, 130, (x) => String(x.p)).map((s) => s.map((x) => x.i)), [[0, 1, 2, 3, 4, 5]]);
  // A limit of 100 lets each partition hold one item per slice.
  assert.deepEqual(sliceBySize(items, 100, (x) => String(x.p)).map((s) => s.map((x) => x.i)), [[0, 1, 2], [3, 4, 5]]);
});

test('Kafka being away is retried, with the same producer', () => {
  const refused = new KafkaJSConnectionError('Connection error: connect ECONNREFUSED 127.0.0.1:59092');
  assert.equal(classifyProduceError(refused), 'retry');
  // What sendBatch rejects with once kafkajs's own retries are spent.
  assert.equal(classifyProduceError(nonRetriable(refused)), 'retry');
  const leader = brokerError('NOT_LEADER_FOR_PARTITION', true);
  assert.equal(classifyProduceError(new KafkaJSNumberOfRetriesExceeded(leader, { retryCount: 5, retryTime: 5000 })), 'retry');
  assert.equal(classifyProduceError(new Error('something else')), 'retry');
});

test('a broker that lost or rejects the idempotent producer state calls for a new producer', () => {
  for (const type of ['OUT_OF_ORDER_SEQUENCE_NUMBER', 'UNKNOWN_PRODUCER_ID', 'INVALID_PRODUCER_EPOCH']) {
    const e = brokerError(type, false);
    assert.equal(classifyProduceError(e), 'new-producer', type);
    assert.equal(classifyProduceError(nonRetriable(e)), 'new-producer', `${type}, wrapped`);
  }
});

test('records Kafka will never take fail the publish instead of looping', () => {
  for (const type of ['MESSAGE_TOO_LARGE', 'RECORD_LIST_TOO_LARGE', 'TOPIC_AUTHORIZATION_FAILED']) {
    assert.equal(classifyProduceError(brokerError(type, false)), 'rejected', type);
  }
});

