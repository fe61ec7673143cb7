/**
 * The embedded state store: one SQLite file in the data dir holding connections
 * (secrets encrypted), streams, runs, job updates, API keys, source positions and
 * the audit trail.
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

const SECRET_CHECK = 'sluice-secret-check';

export interface StoreOptions {
  dataDir: string;
  /** base64 32 bytes; empty: <dataDir>/secret.key. */
  secretKey: string;
  /** secrets.fileDir: the directory connection password files may be in; empty: none. */
  secretFileDir?: string;
}

export function openStore(opts: StoreOptions) {
  const db: Db = openDatabase(opts.dataDir);
  const box = createSecretBox(loadSecretKey(opts.dataDir, opts.secretKey));
  verifySecretKey(db, box);
  let closed = false;
  return {
    db,
    connections: createConnectionRepo(db, box, { secretFileDir: opts.secretFileDir }),
    streams: createStreamRepo(db),
    runs: createRunRepo(db),
    apiKeys: createApiKeyRepo(db),
    positions: createPositionRepo(db),
    deadLetters: createDeadLetterRepo(db),
    mappings: createMappingRepo(db),
    rmJobs: createRmJobRepo(db),
    audit: createAuditRepo(db),
    schemaVersion: () => schemaVersion(db),
    /** For /readyz: the file is open and answers a query. */
    healthy(): boolean {
      if (closed) return false;
      try {
        return (db.prepare('SELECT 1 AS ok').get() as { ok: number }).ok === 1;
      } catch {
        return false;
      }
    },
    close(): void {
      if (closed) return;
      closed = true;
      db.close();
    },
  };
}

export type Store = ReturnType<typeof openStore>;

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
