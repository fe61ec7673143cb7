import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ERRORS, SluiceError, isRetriableError, type ErrorCode } from './errors';

/**
 * The codes a stream heals from by itself (retry with backoff, src/runtime/retry-policy.ts),
 * and the API's "try again later" answers. Everything else fails the stream at once.
 * Changing this list changes what an operator is woken for: do it on purpose.
 */
const RETRIABLE: ErrorCode[] = [
  'AUTH_RATE_LIMITED', // API: wait and retry
  'TRANSPORT_CLOSED', // the transport closed under the run (stop, shutdown)
  'SOURCE_UNREACHABLE', // database restart, failover, network
  'SINK_UNREACHABLE',
  'KAFKA_UNREACHABLE',
  'SCHEMA_REGISTRY_UNAVAILABLE', // the registry down or timing out: the batch is published again once it answers
  'SOURCE_READ_FAILED', // the source errored while reading (a connection killed mid-stream)
  'SHUTTING_DOWN', // API: retry against the restarted daemon
  'NOT_READY',
  'STATE_STORE_WRITE_FAILED', // disk full or read-only data dir: heals once space is back (README "Self-healing")
];

test('the retriable codes are exactly the deliberate list', () => {
  const actual = (Object.keys(ERRORS) as ErrorCode[]).filter((c) => ERRORS[c].retriable).sort();
  assert.deepEqual(actual, [...RETRIABLE].sort());
  for (const c of Object.keys(ERRORS) as ErrorCode[]) {
    assert.equal(typeof ERRORS[c].retriable, 'boolean', c);
    // A retriable code is about something away for now, never about what the client sent or how it is configured.
    if (ERRORS[c].retriable) assert.ok(['connectivity', 'rate_limit', 'storage'].includes(ERRORS[c].category), `${c} is retriable but ${ERRORS[c].category}`);
  }
  // The ones a stream meets most that must never loop: they need a person.
  for (const c of ['SOURCE_AUTH_FAILED', 'SOURCE_SCHEMA_CHANGED', 'SINK_WRITE_FAILED', 'KAFKA_PUBLISH_FAILED', 'SCHEMA_REGISTRY_INCOMPATIBLE', 'SOURCE_CONFIG_INVALID', 'SOURCE_PRIVILEGES_MISSING', 'RECORD_ERROR_TOLERANCE_EXCEEDED', 'INTERNAL', 'STREAM_RUN_FAILED'] as const) {
    assert.equal(ERRORS[c].retriable, false, c);
  }
});

test('isRetriableError reads the catalogue, for SluiceErrors and plain errors with a code, and knows socket errors', () => {
  assert.equal(isRetriableError(new SluiceError('SOURCE_UNREACHABLE', 'read ECONNRESET')), true);
  assert.equal(isRetriableError(new SluiceError('SOURCE_SCHEMA_CHANGED', 'x')), false);
  assert.equal(isRetriableError(Object.assign(new Error('down'), { code: 'SINK_UNREACHABLE' })), true);
  assert.equal(isRetriableError(Object.assign(new Error('bad'), { code: 'SINK_WRITE_FAILED' })), false);
  assert.equal(isRetriableError(Object.assign(new Error('read ECONNRESET'), { code: 'ECONNRESET' })), true);
  assert.equal(isRetriableError(Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' })), true);
  assert.equal(isRetriableError(Object.assign(new Error('no such file'), { code: 'ENOENT' })), false);
  assert.equal(isRetriableError(new Error('Client has encountered a connection error and is not queryable')), true, 'node-postgres on a dropped connection');
  assert.equal(isRetriableError(new Error('a bug')), false);
  assert.equal(isRetriableError(undefined), false);
  assert.equal(isRetriableError('text'), false);
});
