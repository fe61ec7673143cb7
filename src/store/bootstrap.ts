/**
 * The first start creates an admin key: SLUICE_ADMIN_KEY if set, else a generated
 * one written to <dataDir>/admin.key (mode 0600). The log names the file, never the key.
 */
import fs from 'node:fs';
import path from 'node:path';
import type { Logger } from 'pino';
import type { ApiKeyStore } from './state-store';
import { writePrivateFile } from './secrets';

export const BOOTSTRAP_KEY_ID = 'bootstrap-admin';

/** Below this, a configured admin key is warned about (failed attempts are limited, but a valid key is never locked out). */
const MIN_STRONG_KEY = 24;

export async function bootstrapAdminKey(keys: ApiKeyStore, dataDir: string, configuredKey: string, logger: Logger): Promise<void> {
  if ((await keys.count()) > 0) {
    if (configuredKey && !(await keys.get(BOOTSTRAP_KEY_ID))) {
      logger.warn('SLUICE_ADMIN_KEY (or SLUICE_ADMIN_KEY_FILE) is ignored: the store already holds API keys; manage keys through /api/v1/api-keys');
    }
    return;
  }
  if (configuredKey) {
    if (configuredKey.length < MIN_STRONG_KEY) {
      logger.warn({ length: configuredKey.length }, `SLUICE_ADMIN_KEY is shorter than ${MIN_STRONG_KEY} characters: a short key can be guessed; use a long random one (generated keys have 256 random bits)`);
    }
    await keys.adopt(BOOTSTRAP_KEY_ID, 'bootstrap admin (SLUICE_ADMIN_KEY)', 'admin', configuredKey);
    logger.info('created the bootstrap admin key from SLUICE_ADMIN_KEY (or SLUICE_ADMIN_KEY_FILE)');
    return;
  }
  const { key, record } = await keys.create('bootstrap admin (generated)', 'admin');
  const file = path.join(path.resolve(dataDir), 'admin.key');
  fs.rmSync(file, { force: true });
  writePrivateFile(file, key + '\n');
  logger.info({ keyId: record.id, file }, 'generated the bootstrap admin key; read it from the file (mode 0600)');
}
