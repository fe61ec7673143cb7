/**
 * The embedded state store: one SQLite file in the data dir holding connections
 * (secrets encrypted), streams, runs, job updates, API keys, source positions and
 * the audit trail. It implements the asynchronous StateStore contract
 * (state-store.ts) over the synchronous better-sqlite3 repositories beside it: each
 * method runs its statements (one transaction where the contract asks for one) at
 * once and resolves with the result.
 */
import type { Db } from './db';
import { openDatabase, schemaVersion } from './db';
import { createSecretBox, loadSecretKey } from './secrets';
import { createConnectionRepo } from './connections';
import { createStreamRepo } from './streams';
import { createRunRepo } from './runs';
import { createApiKeyRepo } from './api-keys';
import { createPositionRepo } from './positions';
import { createDeadLetterRepo } from './dead-letters';
import { createMappingRepo } from './mappings';
import { createRmJobRepo } from './rm-jobs';
import { createAuditRepo } from './audit';
import { SluiceError } from '../errors';
import { WriteHealth, type WriteFailure } from './write-health';
import { STORE_FILE } from './db';
import path from 'node:path';
import type { StateStore } from './state-store';

const SECRET_CHECK = 'sluice-secret-check';

export interface StoreOptions {
  dataDir: string;
  /** base64 32 bytes; empty: <dataDir>/secret.key. */
  secretKey: string;
  /** secrets.fileDir: the directory connection password files may be in; empty: none. */
  secretFileDir?: string;
  /**
   * The dotted paths of a connection kind's secret options (declared `x-secret`), which
   * are stored encrypted like passwords and never shown; none when left out.
   */
  secretOptions?: (kind: string) => readonly string[];
}

/** The SQLite store: the contract, plus the database itself for what only SQLite has (tests, integrity checks). */
export interface SqliteStore extends StateStore {
  readonly db: Db;
}

export function openStore(opts: StoreOptions): SqliteStore {
  const db: Db = openDatabase(opts.dataDir);
  const box = createSecretBox(loadSecretKey(opts.dataDir, opts.secretKey));
  verifySecretKey(db, box);
  const connections = createConnectionRepo(db, box, { secretFileDir: opts.secretFileDir, secretOptions: opts.secretOptions });
  const urlScrub = scrubConnectionUrls(db, connections);
  const writes = new WriteHealth(path.join(path.resolve(opts.dataDir), STORE_FILE));
  const probe = db.prepare("INSERT INTO meta (key, value) VALUES ('write_probe', ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value");
  let closed = false;
  const { scrubStoredUrls: _scrub, ...connectionMethods } = connections;
  return {
    db,
    connections: promised(connectionMethods),
    urlScrub,
    streams: promised(createStreamRepo(db)),
    runs: promised(createRunRepo(db)),
    apiKeys: promised(createApiKeyRepo(db)),
    positions: promised(createPositionRepo(db)),
    deadLetters: promised(createDeadLetterRepo(db)),
    mappings: promised(createMappingRepo(db)),
    rmJobs: promised(createRmJobRepo(db)),
    audit: promised(createAuditRepo(db)),
    writes,
    schemaVersion: async () => schemaVersion(db),
    async healthy(): Promise<boolean> {
      if (closed) return false;
      try {
        return (db.prepare('SELECT 1 AS ok').get() as { ok: number }).ok === 1;
      } catch {
        return false;
      }
    },
    async writeFailure(): Promise<WriteFailure | null> {
      if (closed || !writes.failure) return null;
      try {
        await writes.guard(() => probe.run(new Date().toISOString()));
      } catch {
        // still failing: the failure stays in force
      }
      return writes.failure;
    },
    async close(): Promise<void> {
      if (closed) return;
      closed = true;
      db.close();
    },
  };
}

export type Store = StateStore;

type Promised<T> = { [K in keyof T]: T[K] extends (...args: infer A) => infer R ? (...args: A) => Promise<Awaited<R>> : never };

/**
 * A synchronous repository as the contract's asynchronous one: each method runs at the
 * call (so writes keep the order of the calls) and its result or error settles the promise.
 */
function promised<T extends object>(repo: T): Promised<T> {
  const out: Record<string, unknown> = {};
  for (const [name, method] of Object.entries(repo)) {
    if (typeof method === 'function') out[name] = async (...args: unknown[]) => (method as (...a: unknown[]) => unknown).apply(repo, args);
  }
  return out as Promised<T>;
}

/**
 * Runs the connections' URL scrub with SQLite's secure_delete on (the old row text is
 * zeroed in its page) and truncates the WAL afterwards, so the clear password is gone
 * from the files, not only from the table.
 */
function scrubConnectionUrls(db: Db, connections: ReturnType<typeof createConnectionRepo>) {
  const before = db.pragma('secure_delete', { simple: true });
  db.pragma('secure_delete = ON');
  try {
    const result = db.transaction(() => connections.scrubStoredUrls())();
    if (result.scrubbed.length) {
      db.exec('VACUUM');
      db.pragma('wal_checkpoint(TRUNCATE)');
    }
    return result;
  } finally {
    db.pragma(`secure_delete = ${before ? 'ON' : 'OFF'}`);
  }
}

/** A wrong key must stop the start, not surface later as undecryptable passwords. */
function verifySecretKey(db: Db, box: ReturnType<typeof createSecretBox>): void {
  const row = db.prepare("SELECT value FROM meta WHERE key = 'secret_check'").get() as { value: string } | undefined;
  if (!row) {
    db.prepare("INSERT INTO meta (key, value) VALUES ('secret_check', ?)").run(box.encrypt(SECRET_CHECK));
    return;
  }
  if (box.decrypt(row.value) !== SECRET_CHECK) {
    throw new SluiceError('SECRET_KEY_INVALID', 'The configured secret key does not match the one this store was created with.');
  }
}
