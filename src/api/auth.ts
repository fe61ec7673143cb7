/**
 * API-key authentication and role checks for everything under /api/v1. A route
 * declares the role it needs in `config.role`; without one, reads need viewer and
 * writes need operator. Failed attempts are counted per client address and
 * answered with 429 past the limit, so keys cannot be guessed at speed.
 */
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { SluiceError } from '../errors';
import { roleAllows, type ApiKeyRecord, type ApiKeyRepo, type Role } from '../store/api-keys';

declare module 'fastify' {
  interface FastifyRequest {
    apiKey?: ApiKeyRecord;
  }
  interface FastifyContextConfig {
    role?: Role;
    /** Under /api: needs no key. */
    public?: boolean;
    /** Outside /api: needs a key all the same (e.g. /metrics when it is not open). */
    auth?: boolean;
  }
}

export interface AuthOptions {
  keys: ApiKeyRepo;
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
function failureCounter(max: number, windowMs: number) {
  const seen = new Map<string, { count: number; since: number }>();
  return {
    blocked(ip: string, now = Date.now()): boolean {
      const s = seen.get(ip);
      if (!s || now - s.since > windowMs) return false;
      return s.count >= max;
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
  app.addHook('onRequest', async (req) => {
    const cfg = req.routeOptions.config as { public?: boolean; auth?: boolean; role?: Role } | undefined;
    const needsKey = req.url.startsWith('/api/') ? !cfg?.public : cfg?.auth === true;
    if (!needsKey) return;
    if (failures.blocked(req.ip)) {
      throw new SluiceError('AUTH_RATE_LIMITED', 'Too many failed authentications; wait before retrying.', { retryAfterSeconds: opts.windowSeconds });
    }
    const key = presentedKey(req);
    if (!key) {
      failures.fail(req.ip);
      throw new SluiceError('AUTH_REQUIRED', 'This endpoint needs an API key.');
    }
    const record = opts.keys.verify(key);
    if (!record) {
      failures.fail(req.ip);
      throw new SluiceError('AUTH_INVALID_KEY', 'The API key is not valid.');
    }
    req.apiKey = record;
    const need: Role = cfg?.role ?? (req.method === 'GET' || req.method === 'HEAD' ? 'viewer' : 'operator');
    if (!roleAllows(record.role, need)) {
      throw new SluiceError('FORBIDDEN_ROLE', `This operation needs the ${need} role; the key has ${record.role}.`, { need, have: record.role });
    }
  });
}
