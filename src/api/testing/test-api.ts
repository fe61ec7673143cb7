/**
 * The API over a real store and supervisor for tests; only the connectors are
 * in-memory stand-ins registered under the real kinds, so no database is needed.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import pino, { type Logger } from 'pino';
import type { FastifyInstance } from 'fastify';
import { buildApi } from '../server';
import { loadConfig } from '../../config';
import { openStore, type Store } from '../../store';
import { storePersistence } from '../../store/persistence';
import { createMetrics } from '../../metrics';
import { Supervisor } from '../../runtime/supervisor';
import { createRegistry, type ConnectorRegistry } from '../../runtime/registry';
import { ERRORS } from '../../errors';
import { createMemoryConnectors, type MemoryConnectors } from '../../runtime/testing/memory-connectors';

export interface TestApi {
  app: FastifyInstance;
  store: Store;
  supervisor: Supervisor;
  mem: MemoryConnectors;
  /** The connectors the supervisor runs: the memory ones under the kinds postgresql and mongodb. */
  registry: ConnectorRegistry;
  /** An admin key. */
  admin: string;
  close(): Promise<void>;
}

export async function startTestApi(env: Record<string, string> = {}, opts: { logger?: Logger } = {}): Promise<TestApi> {
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'sluice-api-'));
  const { config } = loadConfig({ env: { SLUICE_DATA_DIR: dataDir, ...env } });
  const store = openStore({ dataDir, secretKey: '', secretFileDir: config.secrets.fileDir });
  const admin = store.apiKeys.create('admin', 'admin').key;
  const mem = createMemoryConnectors();
  const registry = createRegistry();
  registry.register({ ...mem.sourceModule, kind: 'postgresql' });
  registry.register({ ...mem.sinkModule, kind: 'mongodb' });
  const logger = opts.logger ?? pino({ level: 'silent' });
  const supervisor = new Supervisor({ registry, logger, persistence: storePersistence(store) });
  const app = await buildApi({ config, logger, store, supervisor, connectors: registry, metrics: createMetrics().registry, isShuttingDown: () => false });
  await app.ready();
  return {
    app,
    store,
    supervisor,
    mem,
    registry,
    admin,
    async close() {
      await supervisor.shutdown({ deadlineMs: 2000 });
      await app.close();
      store.close();
      fs.rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

/** Asserts `body` is the error envelope with `code`; returns its `error`. */
export function assertEnvelope(body: string, code: keyof typeof ERRORS): Record<string, unknown> {
  const parsed = JSON.parse(body) as { error: Record<string, unknown> };
  assert.equal(parsed.error.code, code);
  assert.equal(parsed.error.category, ERRORS[code].category);
  assert.equal(typeof parsed.error.message, 'string');
  assert.equal(typeof parsed.error.suggestion, 'string');
  return parsed.error;
}

