/**
 * API-key authentication and role checks for everything under /api/v1. The role a
 * route needs comes from the one table in roles.ts. Failed attempts (no key, a
 * wrong, revoked or expired key) are counted per client address and answered with 429 and
 * Retry-After past the limit; successes do not count, and a valid key is never
 * refused by the limit (issue 22: 20 bad keys from 127.0.0.1 locked every local
 * operator out). Generated keys are 256 random bits, so the limit is there against
 * noise and weak bootstrap keys, not as the only wall against guessing; a short
 * SLUICE_ADMIN_KEY is warned about at bootstrap.
 */
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { SluiceError } from '../errors';
import { roleAllows, type ApiKeyRecord } from '../store/api-keys';
import type { ApiKeyStore } from '../store/state-store';
import { requiredRole, routeKey } from './roles';

declare module 'fastify' {
  interface FastifyRequest {
    apiKey?: ApiKeyRecord;
  }
  interface FastifyInstance {
    /** Every route registered under /api, `METHOD /url` (see routeKey) → its body schema: the contract tests compare it with ROUTE_ROLES. */
    apiRoutes: Map<string, { body?: unknown }>;
  }
  interface FastifyContextConfig {
    /** Under /api: needs no key. */
    public?: boolean;
    /** Outside /api: needs a key all the same (e.g. /metrics when it is not open). */
    auth?: boolean;
  }
}

export interface AuthOptions {
  keys: ApiKeyStore;
  maxFailures: number;
  windowSeconds: number;
}

export function presentedKey(req: FastifyRequest): string | undefined {
  const header = req.headers['x-api-key'];
  if (typeof header === 'string' && header) return header;
  const auth = req.headers.authorization;
  if (typeof auth === 'string' && /^Bearer\s+/i.test(auth)) return auth.replace(/^Bearer\s+/i, '').trim() || undefined;
  return undefined;
}

/** A fixed-window counter of failed authentications per address. */
export function failureCounter(max: number, windowMs: number) {
  const seen = new Map<string, { count: number; since: number }>();
  return {
    /** Seconds until `ip` may try again, or 0 when it is not blocked. */
    blocked(ip: string, now = Date.now()): number {
      const s = seen.get(ip);
      if (!s || now - s.since > windowMs || s.count < max) return 0;
      return Math.max(1, Math.ceil((s.since + windowMs - now) / 1000));
    },
    fail(ip: string, now = Date.now()): void {
      const s = seen.get(ip);
      if (!s || now - s.since > windowMs) seen.set(ip, { count: 1, since: now });
      else s.count++;
      if (seen.size > 10000) {
        for (const [k, v] of seen) if (now - v.since > windowMs) seen.delete(k);
      }
    },
  };
}

export function installAuth(app: FastifyInstance, opts: AuthOptions): void {
  const failures = failureCounter(opts.maxFailures, opts.windowSeconds * 1000);
  const apiRoutes = new Map<string, { body?: unknown }>();
  app.decorate('apiRoutes', apiRoutes);
  app.addHook('onRoute', (route) => {
    if (!route.url.startsWith('/api/') || (route.config as { public?: boolean } | undefined)?.public) return;
    for (const m of [route.method].flat()) if (m !== 'HEAD') apiRoutes.set(routeKey(m, route.url), { body: (route.schema as { body?: unknown } | undefined)?.body });
  });
  app.addHook('onRequest', async (req) => {
    const cfg = req.routeOptions.config as { public?: boolean; auth?: boolean } | undefined;
    const needsKey = req.url.startsWith('/api/') ? !cfg?.public : cfg?.auth === true;
    if (!needsKey) return;
    // The key is checked before the block: a valid key always gets in, so an address
    // over its failure limit (every local client is 127.0.0.1) cannot lock out the
    // holders of valid keys. Only failed attempts are limited.
    const key = presentedKey(req);
    const checked = key ? await opts.keys.check(key) : undefined;
    if (!checked?.ok) {
      const retryAfterSeconds = failures.blocked(req.ip);
      if (retryAfterSeconds) {
        throw new SluiceError('AUTH_RATE_LIMITED', `Too many failed authentications from this address; retry in ${retryAfterSeconds} s.`, { retryAfterSeconds });
      }
      failures.fail(req.ip);
      if (checked?.reason === 'expired' && checked.record) {
        const { id, expiresAt } = checked.record;
        throw new SluiceError('AUTH_KEY_EXPIRED', `The API key ${id} expired at ${expiresAt}.`, { keyId: id, expiresAt });
      }
      throw key ? new SluiceError('AUTH_INVALID_KEY', 'The API key is not valid.') : new SluiceError('AUTH_REQUIRED', 'This endpoint needs an API key.');
    }
    const record = checked.record;
    req.apiKey = record;
    const need = req.url.startsWith('/api/') ? requiredRole(req.method, req.routeOptions.url) : 'viewer';
    if (!roleAllows(record.role, need)) {
      throw new SluiceError('FORBIDDEN_ROLE', `This operation needs the ${need} role; the key has ${record.role}.`, { need, have: record.role });
    }
  });
}
