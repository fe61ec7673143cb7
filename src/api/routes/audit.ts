/** GET /audit: the audit trail (audit.ts), admin only, with the list conventions. */
import type { FastifyInstance } from 'fastify';
import type { ApiDeps } from '../deps';
import { ID_PATTERN, dateTimeField, errorResponses, listQuery, pageOf } from '../schemas';

const entrySchema = {
  type: 'object',
  required: ['id', 'ts', 'client', 'method', 'route', 'status'],
  properties: {
    id: { type: 'integer' },
    ts: { type: 'string', format: 'date-time' },
    keyId: { type: ['string', 'null'], description: 'The key that made the call; null when no valid key was presented.' },
    keyRole: { type: ['string', 'null'] },
    client: { type: 'string', description: 'The client address' },
    method: { type: 'string' },
    route: { type: 'string', description: 'The route pattern, e.g. /api/v1/streams/:id/start' },
    targetId: { type: ['string', 'null'], description: 'The id in the path, or the id a create answered with' },
    status: { type: 'integer' },
    errorCode: { type: ['string', 'null'], description: 'The error code of a refused call' },
    requestId: { type: ['string', 'null'] },
  },
} as const;

interface AuditQuerystring {
  limit?: number;
  offset?: number;
  sort?: string;
  keyId?: string;
  keyRole?: string;
  method?: string;
  route?: string;
  targetId?: string;
  status?: number;
  errorCode?: string;
  since?: string;
  until?: string;
}

export async function auditRoutes(app: FastifyInstance, deps: ApiDeps): Promise<void> {
  app.get<{ Querystring: AuditQuerystring }>(
    '/audit',
    {
      schema: {
        tags: ['audit'],
        summary: 'The audit trail: every mutating API call, newest first (no bodies, no secrets)',
        description: `Entries are kept for audit.retentionDays (SLUICE_AUDIT_RETENTION_DAYS, default 90). since/until: RFC 3339 date-times.`,
        querystring: listQuery(['id', 'ts', 'status', 'route', 'keyId'], {
          keyId: { type: 'string', pattern: ID_PATTERN, maxLength: 64 },
          keyRole: { type: 'string', enum: ['viewer', 'operator', 'admin'] },
          method: { type: 'string', enum: ['POST', 'PUT', 'PATCH', 'DELETE'] },
          route: { type: 'string', maxLength: 200, description: 'The route pattern, e.g. /api/v1/streams/:id/start' },
          targetId: { type: 'string', pattern: ID_PATTERN, maxLength: 64 },
          status: { type: 'integer', minimum: 100, maximum: 599 },
          errorCode: { type: 'string', pattern: '^[A-Z_]+$', maxLength: 64 },
          since: { type: 'string', format: 'date-time', maxLength: 64, description: 'Entries at or after this time' },
          until: { type: 'string', format: 'date-time', maxLength: 64, description: 'Entries before this time' },
        }),
        response: { 200: pageOf(entrySchema), ...errorResponses() },
      },
    },
    async (req) => {
      const { limit, offset, sort, since, until, ...filters } = req.query;
      if (since !== undefined) dateTimeField(since, 'querystring', 'since');
      if (until !== undefined) dateTimeField(until, 'querystring', 'until');
      return await deps.store.audit.list({ limit, offset, sort, since, until, filters });
    },
  );
}
