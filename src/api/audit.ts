/**
 * The audit trail of the API: every mutating call under /api (every method but GET,
 * except the read-only POSTs listed in roles.ts) leaves one entry in the store and
 * one info line in the log (`audit: true`): time, key id and role, client address,
 * method, route pattern, target id and outcome (status and error code). Nothing of a
 * request or response body is kept but the id a create answered with, so no secret
 * reaches either. Refusals count too (401, 403, 400, 409, …), except 429s of the
 * failed-authentication limit, which are bounded and add nothing. Entries older than
 * audit.retentionDays are pruned at start and every hour.
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { AuditInput } from '../store/audit';
import type { AuditStore } from '../store/state-store';
import { isAudited, routeKey } from './roles';
import { nowIso } from '../store/list';

declare module 'fastify' {
  interface FastifyRequest {
    /** The catalogue code the error handler answered with, for the audit entry. */
    errorCode?: string;
    /** The key id of a refused key whose holder is known (an expired key). */
    refusedKeyId?: string;
  }
}

const PRUNE_EVERY_MS = 3_600_000;
const TARGET_KEY = Symbol('auditTarget');

type WithTarget = FastifyReply & { [TARGET_KEY]?: string };

export interface AuditOptions {
  repo: AuditStore;
  retentionDays: number;
}

/** The `id` of a JSON answer, read without keeping anything else of it. */
function idOf(payload: unknown): string | undefined {
  if (typeof payload !== 'string' || !payload.startsWith('{')) return undefined;
  try {
    const id = (JSON.parse(payload) as { id?: unknown }).id;
    return typeof id === 'string' ? id : undefined;
  } catch {
    return undefined;
  }
}

export function auditEntryOf(req: FastifyRequest, reply: FastifyReply): AuditInput {
  const params = req.params as { id?: unknown } | undefined;
  const targetId = typeof params?.id === 'string' ? params.id : (reply as WithTarget)[TARGET_KEY];
  return {
    ts: nowIso(),
    keyId: req.apiKey?.id ?? req.refusedKeyId ?? null,
    keyRole: req.apiKey?.role ?? null,
    client: req.ip,
    method: req.method,
    route: req.routeOptions.url ?? req.url.split('?')[0] ?? '',
    targetId: targetId ?? null,
    status: reply.statusCode,
    errorCode: req.errorCode ?? null,
    requestId: String(req.id),
  };
}

const audited = (req: FastifyRequest): boolean => req.routeOptions.url !== undefined && isAudited(routeKey(req.method, req.routeOptions.url));

export function installAudit(app: FastifyInstance, opts: AuditOptions): void {
  app.addHook('onSend', async (req, reply, payload) => {
    if (audited(req) && reply.statusCode < 300 && (req.params as { id?: unknown } | undefined)?.id === undefined) {
      (reply as WithTarget)[TARGET_KEY] = idOf(payload);
    }
    return payload;
  });
  app.addHook('onResponse', async (req, reply) => {
    if (!audited(req) || reply.statusCode === 429) return;
    const entry = auditEntryOf(req, reply);
    try {
      await opts.repo.add(entry);
    } catch (err) {
      // The call has happened; a store that cannot take the entry must not hide it.
      req.log.error({ err, audit: true, ...entry }, 'audit: could not store the entry');
      return;
    }
    const { ts: _ts, requestId: _r, ...fields } = entry;
    req.log.info({ audit: true, ...fields }, `audit: ${entry.method} ${entry.route} ${entry.status}`);
  });

  const prune = async (): Promise<void> => {
    try {
      const n = await opts.repo.prune(opts.retentionDays);
      if (n) app.log.info({ deleted: n, retentionDays: opts.retentionDays }, 'audit: pruned old entries');
    } catch (err) {
      app.log.error({ err }, 'audit: pruning failed');
    }
  };
  let timer: NodeJS.Timeout | undefined;
  app.addHook('onReady', async () => {
    await prune();
    timer = setInterval(() => void prune(), PRUNE_EVERY_MS);
    timer.unref();
  });
  app.addHook('onClose', async () => clearInterval(timer));
}
