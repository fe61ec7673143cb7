import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import pino from 'pino';
import type { FastifyInstance } from 'fastify';
import { buildApi } from '../server';
import { loadConfig } from '../../config';
import { openStore, type Store } from '../../store';
import { storePersistence } from '../../store/persistence';
import { createMetrics } from '../../metrics';
import { Supervisor } from '../../runtime/supervisor';
import { memoryRegistry } from '../testing/test-api';
import { createMemoryConnectors } from '../../runtime/testing/memory-connectors';

// A whereClause is checked when the stream is created or replaced: a clause that
// cannot be compiled is a 400 naming the table and the part, never a failed run later.
let app: FastifyInstance;
let store: Store;
let supervisor: Supervisor;
let key: string;

before(async () => {
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'sluice-filters-'));
  const { config } = loadConfig({ env: { SLUICE_DATA_DIR: dataDir } });
  store = openStore({ dataDir, secretKey: '' });
  key = (await store.apiKeys.create('admin', 'admin')).key;
  const mem = createMemoryConnectors();
  const registry = memoryRegistry(mem, ['postgresql', 'mysql']);
  const logger = pino({ level: 'silent' });
  supervisor = new Supervisor({ registry, logger, persistence: storePersistence(store) });
  app = await buildApi({ config, logger, store, supervisor, connectors: registry, metrics: createMetrics().registry, isShuttingDown: () => false });
  await app.ready();
});

after(async () => {
  await supervisor.shutdown({ deadlineMs: 2000 });
  await app.close();
  await store.close();
});

const post = (url: string, payload: object, method: 'POST' | 'PUT' = 'POST') => app.inject({ method, url, headers: { 'x-api-key': key }, payload });

test('a whereClause that cannot be compiled is refused at create and update with FILTER_CLAUSE_INVALID naming the table and the part', async () => {
  const pg = (await post('/api/v1/connections', { name: 'pg', kind: 'postgresql', url: 'postgresql://u:pw@h:5432/app' })).json();
  const my = (await post('/api/v1/connections', { name: 'my', kind: 'mysql', url: 'mysql://u:pw@h:3306/app' })).json();
  const dst = (await post('/api/v1/connections', { name: 'mongo', kind: 'mongodb', url: 'mongodb://h/app' })).json();
  const spec = (source: string, whereClause: string, name = 'orders') => ({
    name,
    source: { connectionId: source },
    sink: { connectionId: dst.id },
    tables: ['public.orders'],
    relationalTableFilters: { public: { orders: { whereClause } } },
  });

  const bad = await post('/api/v1/streams', spec(pg.id, "status = 'open' AND id IN (SELECT order_id FROM refunds)"));
  assert.equal(bad.statusCode, 400);
  const err = bad.json().error;
  assert.equal(err.code, 'FILTER_CLAUSE_INVALID');
  assert.equal(err.category, 'validation');
  assert.equal(err.detail.table, 'orders');
  assert.equal(err.detail.schema, 'public');
  assert.match(err.detail.part, /SELECT order_id FROM refunds/);
  assert.match(err.message, /relationalTableFilters\.public\.orders\.whereClause/);
  assert.equal(typeof err.suggestion, 'string');

  // The dialect is the source's: DATEDIFF is MySQL's, so it passes there and not on PostgreSQL.
  const nightly = 'DATEDIFF(CURDATE(), last_modified) <= 1';
  assert.equal((await post('/api/v1/streams', spec(pg.id, nightly))).json().error.code, 'FILTER_CLAUSE_INVALID');
  const ok = await post('/api/v1/streams', spec(my.id, nightly));
  assert.equal(ok.statusCode, 201);

  const id = ok.json().id as string;
  const upd = await post(`/api/v1/streams/${id}`, spec(my.id, 'qty > 0; DELETE FROM orders'), 'PUT');
  assert.equal(upd.statusCode, 400);
  assert.equal(upd.json().error.code, 'FILTER_CLAUSE_INVALID');
  assert.equal((await post(`/api/v1/streams/${id}`, spec(my.id, 'qty > 0 OR status IS NULL'), 'PUT')).statusCode, 200);
  // Nothing a client sends here is a 500.
  for (const clause of ['', ')', "'", 'a = ', '1 = 1 --', 'CASE', 'x IN ()', "'\\'", 'NOT', 'a BETWEEN 1', '((((((((((1))))))))))']) {
    const r = await post('/api/v1/streams', spec(pg.id, clause, `s${Math.random()}`));
    assert.ok(r.statusCode === 400 || r.statusCode === 201, `${clause}: ${r.statusCode} ${r.body}`);
  }
});

test('a mapping spec of the wrong shape is refused at create and replace with MAPPING_INVALID naming table and field; a good one and a mappingId pass', async () => {
  const src = (await post('/api/v1/connections', { name: 'pg-map', kind: 'postgresql', url: 'postgresql://u:pw@h:5432/app' })).json();
  const dst = (await post('/api/v1/connections', { name: 'mongo-map', kind: 'mongodb', url: 'mongodb://h/app' })).json();
  const spec = (mapping: unknown, name = 'mapped') => ({ name, source: { connectionId: src.id }, sink: { connectionId: dst.id }, tables: ['public.orders', 'public.items'], mapping });
  const embed = { into: 'public.orders', kind: 'array', field: 'items', foreignKey: ['order_id'], sort: [{ field: 'line_no' }] };
  const bad = await post('/api/v1/streams', spec({ tables: { 'public.items': { newDocuments: false, embed: { ...embed, kind: 'list' } } } }));
  assert.equal(bad.statusCode, 400, bad.body);
  const err = bad.json().error;
  assert.equal(err.code, 'MAPPING_INVALID');
  assert.equal(err.detail.table, 'public.items');
  assert.match(err.detail.field, /embed\.kind/);
  const notStreamed = await post('/api/v1/streams', spec({ tables: { 'public.other': { collection: 'x' } } }));
  assert.equal(notStreamed.json().error.code, 'MAPPING_INVALID');
  const ok = await post('/api/v1/streams', spec({ tables: { 'public.orders': { fields: { note: { name: 'memo' } } }, 'public.items': { newDocuments: false, embed } } }));
  assert.equal(ok.statusCode, 201, ok.body);
  const replaced = await post(`/api/v1/streams/${ok.json().id}`, spec({ tables: { 'public.orders': { fields: { note: { type: 'money' } } } } }), 'PUT');
  assert.equal(replaced.statusCode, 400, replaced.body);
  assert.match(replaced.json().error.detail.field, /fields\.note\.type/);
  // A reference must name an existing mapping resource; its rules are checked when it is created.
  assert.equal((await post('/api/v1/streams', spec({ mappingId: 'm-1' }, 'by-id'))).json().error.code, 'MAPPING_NOT_FOUND');
  const resource = await post('/api/v1/mappings', { name: 'shared-orders', tables: { 'public.orders': { fields: { note: { name: 'memo' } } }, 'public.elsewhere': { collection: 'x' } } });
  assert.equal(resource.statusCode, 201, resource.body);
  const byId = await post('/api/v1/streams', spec({ mappingId: resource.json().id }, 'by-id'));
  assert.equal(byId.statusCode, 201, byId.body);
});
