/**
 * The API's certificate follows its files: cert-manager, Vault agents and mounted
 * Kubernetes secrets replace them in place before they expire. Every minute the files'
 * modification times are compared; when either changed, the pair is read again and,
 * when it is valid, serves every new connection (connections already open keep theirs).
 * A pair that does not load (half written, mismatched) is logged and the old one kept.
 */
import fs from 'node:fs';
import type { Server as HttpsServer } from 'node:https';
import type { FastifyInstance } from 'fastify';
import type { Logger } from 'pino';

export const TLS_RELOAD_EVERY_MS = 60_000;

export function reloadTlsOnChange(app: FastifyInstance, files: { cert: string; key: string }, logger: Logger, everyMs = TLS_RELOAD_EVERY_MS): () => void {
  const stamp = (): string => [files.cert, files.key].map((f) => fs.statSync(f).mtimeMs).join(':');
  let seen = stamp();
  const timer = setInterval(() => {
    try {
      const now = stamp();
      if (now === seen) return;
      const pair = { cert: fs.readFileSync(files.cert), key: fs.readFileSync(files.key) };
      (app.server as unknown as HttpsServer).setSecureContext(pair);
      seen = now;
      logger.info({ cert: files.cert }, 'API certificate reloaded');
    } catch (err) {
      logger.error({ err: (err as Error).message, cert: files.cert, key: files.key }, 'API certificate files changed but could not be loaded; the previous certificate stays in use');
    }
  }, everyMs);
  timer.unref();
  return () => clearInterval(timer);
}
