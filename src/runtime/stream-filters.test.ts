import { test } from 'node:test';
import assert from 'node:assert/strict';
import pino from 'pino';
import { Supervisor } from './supervisor';
import { createRegistry } from './registry';
import { createMemoryPersistence } from './persistence';
import type { ConnectionSpec, StreamSpec } from '../core';
import { createMemoryConnectors } from './testing/memory-connectors';
import { waitFor } from '../../test/helpers/wait-for';

// The run loop applies a stream's row filters to change events before they are published.
const conn = (id: string, kind: string): ConnectionSpec => ({ id, name: id, kind, url: `memory://${id}`, options: {} });

function setup(spec: Partial<StreamSpec>) {
  const mem = createMemoryConnectors();
  const registry = createRegistry();
  registry.register(mem.sourceModule);
  registry.register(mem.sinkModule);
  const store = createMemoryPersistence({ connections: [conn('src', 'memory-source'), conn('dst', 'memory-sink')] });
  store.putStream({ id: 's', name: 's', source: { connectionId: 'src' }, sink: { connectionId: 'dst' }, transport: { kind: 'direct' }, mode: 'CDC_ONLY', tables: ['public.orders'], options: {}, ...spec });
  const sup = new Supervisor({ registry, logger: pino({ level: 'silent' }), persistence: store });
  const src = mem.source('src');
  src.setTable('public.orders', []);
  return { sup, src, dst: mem.sink('dst'), store };
}

test('change events are filtered in the run loop: rows that move out are deleted downstream, rows that move in arrive, and positions are still acked', async () => {
  const { sup, src, dst } = setup({ relationalTableFilters: { public: { orders: { whereClause: "amount > 20 AND status <> 'void'" } } } });
  await sup.start('s');
  await waitFor(async () => (await sup.status('s')).state === 'STREAMING');
  src.insert('public.orders', { id: 1, amount: 10, status: 'new' }); // out
  src.insert('public.orders', { id: 2, amount: 30, status: 'new' }); // in
  src.insert('public.orders', { id: 3, amount: 40, status: 'new' }); // in
  src.update('public.orders', { id: 1, amount: 50, status: 'new' }); // moves in
  src.update('public.orders', { id: 3, amount: 40, status: 'void' }); // moves out
  const last = src.insert('public.orders', { id: 4, amount: 1, status: 'new' }); // out
  await waitFor(() => src.acks.some((a) => Number(a.seq) >= last), { message: 'the last (filtered) event acked' });
  assert.deepEqual(dst.docs('public.orders').map((d) => d.id).sort(), [1, 2]);
  assert.equal((await sup.status('s')).statistics.eventsRead, 6);
  await sup.stop('s');
});

test('a stored whereClause that cannot be compiled fails the run at its start with FILTER_CLAUSE_INVALID', async () => {
  const { sup } = setup({ relationalTableFilters: { public: { orders: { whereClause: 'amount > (SELECT 1)' } } } });
  await sup.start('s');
  await waitFor(async () => (await sup.status('s')).state === 'FAILED');
  assert.equal((await sup.status('s')).error?.code, 'FILTER_CLAUSE_INVALID');
});
