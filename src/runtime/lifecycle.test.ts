import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  InvalidTransitionError,
  RESUMABLE_STATES,
  STREAM_EVENTS,
  STREAM_STATES,
  TRANSITIONS,
  canTransition,
  toPublicView,
  transition,
  type StreamEvent,
  type StreamState,
} from './lifecycle';

// The whole table, written out independently of TRANSITIONS so a change to either
// one shows up here.
const ALLOWED: Array<[StreamState, StreamEvent, StreamState]> = [
  ['CREATED', 'start', 'STARTING'],
  ['STARTING', 'snapshot', 'SNAPSHOTTING'],
  ['STARTING', 'snapshotDone', 'STREAMING'],
  ['STARTING', 'complete', 'COMPLETED'],
  ['STARTING', 'pause', 'PAUSED'],
  ['STARTING', 'stop', 'STOPPING'],
  ['STARTING', 'fail', 'FAILED'],
  ['SNAPSHOTTING', 'snapshotDone', 'STREAMING'],
  ['SNAPSHOTTING', 'complete', 'COMPLETED'],
  ['SNAPSHOTTING', 'pause', 'PAUSED'],
  ['SNAPSHOTTING', 'stop', 'STOPPING'],
  ['SNAPSHOTTING', 'fail', 'FAILED'],
  ['STREAMING', 'complete', 'COMPLETED'],
  ['STREAMING', 'pause', 'PAUSED'],
  ['STREAMING', 'stop', 'STOPPING'],
  ['STREAMING', 'fail', 'FAILED'],
  ['STREAMING', 'cutover', 'COMPLETING'],
  ['COMPLETING', 'complete', 'COMPLETED'],
  ['COMPLETING', 'stop', 'STOPPING'],
  ['COMPLETING', 'fail', 'FAILED'],
  ['PAUSED', 'resume', 'STARTING'],
  ['PAUSED', 'stop', 'STOPPING'],
  ['PAUSED', 'fail', 'FAILED'],
  ['STOPPING', 'stopped', 'STOPPED'],
  ['STOPPING', 'fail', 'FAILED'],
  ['STOPPED', 'start', 'STARTING'],
  ['COMPLETED', 'start', 'STARTING'],
  ['FAILED', 'start', 'STARTING'],
];

test('every allowed transition leads to the expected state', () => {
  for (const [from, event, to] of ALLOWED) {
    assert.equal(transition(from, event), to, `${from} --${event}-->`);
    assert.equal(canTransition(from, event), true);
  }
});

test('every other (state, event) pair is refused with STREAM_INVALID_TRANSITION or STREAM_ALREADY_RUNNING', () => {
  const allowed = new Set(ALLOWED.map(([f, e]) => `${f}/${e}`));
  let refused = 0;
  for (const from of STREAM_STATES) {
    for (const event of STREAM_EVENTS) {
      if (allowed.has(`${from}/${event}`)) continue;
      refused++;
      assert.equal(canTransition(from, event), false, `${from}/${event}`);
      assert.throws(
        () => transition(from, event),
        (err: unknown) => {
          assert.ok(err instanceof InvalidTransitionError);
          assert.deepEqual(err.detail, { from, event });
          assert.equal(err.code, event === 'start' ? 'STREAM_ALREADY_RUNNING' : 'STREAM_INVALID_TRANSITION');
          return true;
        },
      );
    }
  }
  assert.equal(refused, STREAM_STATES.length * STREAM_EVENTS.length - ALLOWED.length);
});

test('the table and the written-out list agree in size (no silent extra edge)', () => {
  const n = Object.values(TRANSITIONS).reduce((sum, edges) => sum + Object.keys(edges).length, 0);
  assert.equal(n, ALLOWED.length);
});

test('named refusals: pausing a stopped stream, starting a running one, resuming a streaming one', () => {
  assert.throws(() => transition('STOPPED', 'pause'), { code: 'STREAM_INVALID_TRANSITION', from: 'STOPPED', event: 'pause' });
  assert.throws(() => transition('STREAMING', 'start'), { code: 'STREAM_ALREADY_RUNNING' });
  assert.throws(() => transition('PAUSED', 'start'), { code: 'STREAM_ALREADY_RUNNING' });
  assert.throws(() => transition('STREAMING', 'resume'), { code: 'STREAM_INVALID_TRANSITION' });
  assert.throws(() => transition('CREATED', 'stop'), { code: 'STREAM_INVALID_TRANSITION' });
  assert.throws(() => transition('COMPLETED', 'pause'), { code: 'STREAM_INVALID_TRANSITION' });
});

test('only running or paused states are resumed after a restart', () => {
  assert.deepEqual([...RESUMABLE_STATES].sort(), ['COMPLETING', 'PAUSED', 'SNAPSHOTTING', 'STARTING', 'STREAMING']);
});

test('public status follows Relational Migrator for a CDC stream', () => {
  const cdc = (s: StreamState, done = false) => toPublicView(s, 'CDC', done);
  assert.deepEqual(cdc('CREATED'), { status: null, cdcStatus: 'NOT_STARTED' });
  assert.deepEqual(cdc('STARTING'), { status: 'RUNNING', cdcStatus: 'NOT_STARTED' });
  assert.deepEqual(cdc('STARTING', true), { status: 'RUNNING', cdcStatus: 'RUNNING' });
  assert.deepEqual(cdc('SNAPSHOTTING'), { status: 'RUNNING', cdcStatus: 'NOT_STARTED' });
  assert.deepEqual(cdc('STREAMING', true), { status: 'RUNNING', cdcStatus: 'RUNNING' });
  assert.deepEqual(cdc('COMPLETING', true), { status: 'RUNNING', cdcStatus: 'COMPLETING' });
  assert.deepEqual(cdc('PAUSED'), { status: 'RUNNING', cdcStatus: 'PAUSED' });
  assert.deepEqual(cdc('STOPPING'), { status: 'CANCELLING', cdcStatus: 'CANCELLED' });
  assert.deepEqual(cdc('STOPPED'), { status: 'CANCELLED', cdcStatus: 'CANCELLED' });
  assert.deepEqual(cdc('COMPLETED'), { status: 'COMPLETED', cdcStatus: 'COMPLETED' });
  assert.deepEqual(cdc('FAILED'), { status: 'FAILED', cdcStatus: 'FAILED' });
});

test('a SNAPSHOT stream never reports a CDC phase', () => {
  for (const s of STREAM_STATES) assert.equal(toPublicView(s, 'SNAPSHOT', true).cdcStatus, s === 'STREAMING' ? 'RUNNING' : s === 'COMPLETING' ? 'COMPLETING' : 'NOT_STARTED');
  assert.equal(toPublicView('COMPLETED', 'SNAPSHOT').status, 'COMPLETED');
  assert.equal(toPublicView('FAILED', 'SNAPSHOT').status, 'FAILED');
});

test('a CDC_ONLY stream reports CDC running once it streams, not while its source is still fixing its start', () => {
  assert.deepEqual(toPublicView('STARTING', 'CDC_ONLY'), { status: 'RUNNING', cdcStatus: 'NOT_STARTED' });
  assert.deepEqual(toPublicView('STREAMING', 'CDC_ONLY'), { status: 'RUNNING', cdcStatus: 'RUNNING' });
});
