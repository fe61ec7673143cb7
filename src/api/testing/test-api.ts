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
import { openStore, type SqliteStore } from '../../store';
import { storePersistence } from '../../store/persistence';
import { createMetrics } from '../../metrics';
import { Supervisor } from '../../runtime/supervisor';
import { createRegistry, type ConnectorRegistry } from '../../runtime/registry';
import { ERRORS } from '../../errors';
import { createMemoryConnectors, type MemoryConnectors } from '../../runtime/testing/memory-connectors';
import { BUILTIN_MODULES } from '../../runtime/builtin-connectors';
import { secretOptionsOf } from '../../runtime/run-options';

export interface TestApi {
  app: FastifyInstance;
  store: SqliteStore;
  supervisor: Supervisor;
  mem: MemoryConnectors;
  /** The connectors the supervisor runs: the memory ones under the kinds postgresql and mongodb. */
  registry: ConnectorRegistry;
  /** An admin key. */
  admin: string;
  close(): Promise<void>;
}

/** `run`: the source kinds that behave as memory sources (others are declared only). */
export async function startTestApi(
  env: Record<string, string> = {},
  opts: {
    logger?: Logger;
    run?: readonly string[];
    /**
     * Each store call resolves a turn of the event loop later, as a store on a server
     * does: requests then interleave between a caller's store calls (name-race.test.ts).
     */
    storeRoundTrip?: boolean;
  } = {},
): Promise<TestApi> {
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'sluice-api-'));
  const { config } = loadConfig({ env: { SLUICE_DATA_DIR: dataDir, ...env } });
  const mem = createMemoryConnectors();
  const registry = memoryRegistry(mem, opts.run);
  const opened = openStore({ dataDir, secretKey: '', secretFileDir: config.secrets.fileDir, secretOptions: (kind) => secretOptionsOf(registry, kind) });
  const store = opts.storeRoundTrip ? withRoundTrips(opened) : opened;
  const admin = (await store.apiKeys.create('admin', 'admin')).key;
  const logger = opts.logger ?? pino({ level: 'silent' });
  // Metered as the daemon meters its streams, so that a status shows what it would there.
  const metrics = createMetrics();
  const supervisor = new Supervisor({ registry, logger, persistence: storePersistence(store), meter: (stream) => metrics.meter(stream) });
  const app = await buildApi({ config, logger, store, supervisor, connectors: registry, metrics: metrics.registry, isShuttingDown: () => false });
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
      await store.close();
      fs.rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

const REPOSITORIES = ['connections', 'streams', 'runs', 'apiKeys', 'positions', 'deadLetters', 'mappings', 'rmJobs', 'audit'] as const;

/** The store with a turn of the event loop before each repository call runs (the same SQLite store underneath). */
function withRoundTrips(store: SqliteStore): SqliteStore {
  const later = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));
  const slowed = (repo: object): object =>
    Object.fromEntries(
      Object.entries(repo).map(([name, method]) => [name, async (...args: unknown[]) => (await later(), (method as (...a: unknown[]) => unknown)(...args))]),
    );
  return { ...store, ...Object.fromEntries(REPOSITORIES.map((r) => [r, slowed(store[r])])) } as SqliteStore;
}

/**
 * Every built-in kind with its real declarations (options, dialect), so the API's
 * schemas are the daemon's; the kinds in `run` (and mongodb) behave as the memory
 * connectors, the others can be declared in connections but not run.
 */
export function memoryRegistry(mem: MemoryConnectors, run: readonly string[] = ['postgresql']): ConnectorRegistry {
  const registry = createRegistry();
  for (const real of BUILTIN_MODULES) {
    const declared = { kind: real.kind, roles: real.roles, options: real.options, ...(real.dialect ? { dialect: real.dialect } : {}) };
    if (real.kind === 'mongodb') registry.register({ ...mem.sinkModule, ...declared });
    else if (run.includes(real.kind)) registry.register({ ...mem.sourceModule, ...declared });
    else registry.register(declared);
  }
  return registry;
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

