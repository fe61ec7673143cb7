/**
 * The audit trail: one row per mutating API call (who, from where, what, on which
 * target, with what outcome). It holds no request or response body, so no secret can
 * reach it. Old rows are pruned by age (audit.retentionDays).
 */
import type { Db } from './db';
import { listRows, type ListQuery, type Page } from './list';

export interface AuditEntry {
  id: number;
  /** ISO 8601, UTC. */
  ts: string;
  /** The key that made the call; null when no valid key was presented (401). */
  keyId: string | null;
  keyRole: string | null;
  /** The client's address as the API saw it. */
  client: string;
  method: string;
  /** The route's pattern, e.g. /api/v1/streams/:id/start. */
  route: string;
  /** The :id of the route, or the id a create answered with. */
  targetId: string | null;
  status: number;
  /** The error code of a refused call (VALIDATION_FAILED, FORBIDDEN_ROLE, …); null on success. */
  errorCode: string | null;
  requestId: string | null;
}

export type AuditInput = Omit<AuditEntry, 'id'>;

interface Raw {
  id: number;
  ts: string;
  key_id: string | null;
  key_role: string | null;
  client: string;
  method: string;
  route: string;
  target_id: string | null;
  status: number;
  error_code: string | null;
  request_id: string | null;
}

export const AUDIT_COLUMNS = {
  id: 'id',
  ts: 'ts',
  keyId: 'key_id',
  keyRole: 'key_role',
  client: 'client',
  method: 'method',
  route: 'route',
  targetId: 'target_id',
  status: 'status',
  errorCode: 'error_code',
} as const;

const toEntry = (r: Raw): AuditEntry => ({
  id: r.id,
  ts: r.ts,
  keyId: r.key_id,
  keyRole: r.key_role,
  client: r.client,
  method: r.method,
  route: r.route,
  targetId: r.target_id,
  status: r.status,
  errorCode: r.error_code,
  requestId: r.request_id,
});

export interface AuditQuery extends ListQuery {
  /** Entries at or after this time (ISO 8601). */
  since?: string;
  /** Entries before this time (ISO 8601). */
  until?: string;
}

export function createAuditRepo(db: Db) {
  const insert = db.prepare(
    `INSERT INTO audit_log (ts, key_id, key_role, client, method, route, target_id, status, error_code, request_id)
     VALUES (@ts, @keyId, @keyRole, @client, @method, @route, @targetId, @status, @errorCode, @requestId)`,
  );
  return {
    add(e: AuditInput): number {
      return Number(insert.run(e).lastInsertRowid);
    },
    /** Newest first unless sorted otherwise; `since`/`until` bound the time. */
    list(q: AuditQuery): Page<AuditEntry> {
      const where: string[] = [];
      const params: Record<string, unknown> = {};
      // Times are compared as ISO text, which sorts as time does when both are UTC with ms.
      if (q.since !== undefined) {
        where.push('ts >= @since');
        params.since = new Date(q.since).toISOString();
      }
      if (q.until !== undefined) {
        where.push('ts < @until');
        params.until = new Date(q.until).toISOString();
      }
      const spec = { table: 'audit_log', columns: AUDIT_COLUMNS, defaultSort: '-id', where: where.length ? where.join(' AND ') : undefined };
      const page = listRows<Raw>(db, spec, q, params);
      return { ...page, items: page.items.map(toEntry) };
    },
    /** Deletes the entries older than `days` days; returns how many. */
    prune(days: number, now = Date.now()): number {
      if (days <= 0) return 0;
      const cutoff = new Date(now - days * 86_400_000).toISOString();
      return db.prepare('DELETE FROM audit_log WHERE ts < ?').run(cutoff).changes;
    },
  };
}

export type AuditRepo = ReturnType<typeof createAuditRepo>;
