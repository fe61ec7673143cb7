/**
 * A Kafka transport stopped right after its start stops promptly: the start gives
 * way to the abort signal, and close() no longer waits out the consumer's fetch
 * long-poll (kafkajs's 5 s; measured 5.07 s before the fix) nor, past 2 s per
 * client, a group round still in progress. What close() gave up on is cut off within
 * ABANDON_AFTER_MS: no connection to the broker is left (kafkajs's disconnect of a
 * consumer still joining its group waited minutes on a fresh broker, and its sockets kept
 * this very test process alive for 9 minutes after its tests had passed).
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import pino from 'pino';
import { stackUrls } from '../../../test/helpers/stack';
import { brokerPort, tcpConnectionsTo } from '../../../test/helpers/sockets';
import { waitFor } from '../../../test/helpers/wait-for';
import type { ConnectorContext, Sink, StreamSpec } from '../../core';
import { createTransport } from '../index';
import { ABANDON_AFTER_MS, type KafkaTransport } from './index';

const brokers = stackUrls().kafka;
const run = randomUUID().slice(0, 8);
const logger = pino({ level: process.env.SLUICE_TEST_LOG ?? 'silent' });
const opened: KafkaTransport[] = [];
/** The operator's expectation for a stop (~3 s), not a benchmark. */
const STOP_BOUND_MS = 3000;

after(async () => {
  await Promise.all(opened.map((t) => t.close().catch(() => undefined)));
});

const spec: StreamSpec = {
  id: `stop-${run}`,
  name: 'stop',
  source: { connectionId: 'src' },
  sink: { connectionId: 'snk' },
  transport: { kind: 'kafka' },
  mode: 'CDC',
  tables: ['public.items'],
  options: { topicPrefix: `stop.${run}` },
};
const sink: Sink = { write: async () => undefined, close: async () => undefined };

function transport(): { t: KafkaTransport; ctx: ConnectorContext; abort: () => void } {
  const t = createTransport('kafka', { sink, stream: spec, kafka: { brokers, topicPartitions: 3, replicationFactor: 1 } }) as KafkaTransport;
  opened.push(t);
  const ac = new AbortController();
  return { t, ctx: { streamId: spec.id, runId: randomUUID(), logger, signal: ac.signal }, abort: () => ac.abort() };
}

async function timed(p: Promise<unknown>): Promise<number> {
  const t0 = Date.now();
  await p.catch(() => undefined);
  return Date.now() - t0;
}

test('an abort during start rejects the start as aborted, not as Kafka being unreachable, and close is prompt', async () => {
  for (const afterMs of [0, 5, 50]) {
    const a = transport();
    const starting = a.t.start(a.ctx);
    setTimeout(a.abort, afterMs);
    const outcome = await starting.then(
      () => 'started',
      (e: unknown) => (e as Error).name,
    );
    // A start quicker than the abort is fine; one that was interrupted says so.
    assert.ok(outcome === 'started' || outcome === 'AbortError', `start ended with ${outcome}`);
    const ms = await timed(a.t.close());
    assert.ok(ms < STOP_BOUND_MS, `close after an abort ${afterMs} ms into start took ${ms} ms`);
  }
});

test('transports stopped while starting hold no connection to the broker once ABANDON_AFTER_MS has passed after their close', async () => {
  for (const afterMs of [0, 5, 50, 300]) {
    const a = transport();
    const starting = a.t.start(a.ctx);
    setTimeout(a.abort, afterMs);
    await starting.catch(() => undefined);
    await a.t.close();
  }
  const closedAt = Date.now();
  const port = brokerPort(brokers);
  // The bound plus scheduling slack on a busy machine; the first test's transports count too.
  await waitFor(() => tcpConnectionsTo(port) === 0, {
    timeoutMs: ABANDON_AFTER_MS + 2000,
    intervalMs: 100,
    message: `no connection of this process to the broker's port ${port}`,
  });
  console.log(`no connection to the broker ${Date.now() - closedAt} ms after the last close`);
});
