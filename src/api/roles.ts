/**
 * The role matrix: the minimum role of every /api/v1 route, in one table. The auth
 * hook reads it, the contract tests generate the 401/403 matrix from it, and the
 * server checks at start-up that every registered /api route has an entry.
 * viewer: reads; operator: also runs streams and tests connections; admin: everything.
 * A route without an entry needs admin (fail closed) and fails the contract tests.
 */
import type { Role } from '../store/api-keys';

/** `METHOD /url` as Fastify registers it (prefix included, `:param` placeholders, no trailing slash). */
export type RouteKey = `${'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE'} /api/${string}`;

export const ROUTE_ROLES: Readonly<Record<RouteKey, Role>> = {
  'GET /api/v1': 'viewer',

  'GET /api/v1/api-keys': 'admin',
  'POST /api/v1/api-keys': 'admin',
  'GET /api/v1/api-keys/:id': 'admin',
  'DELETE /api/v1/api-keys/:id': 'admin',

  'GET /api/v1/connections': 'viewer',
  'GET /api/v1/connections/:id': 'viewer',
  'POST /api/v1/connections': 'admin',
  'PATCH /api/v1/connections/:id': 'admin',
  'DELETE /api/v1/connections/:id': 'admin',
  'POST /api/v1/connections/:id/test': 'operator',
  // The schema is a viewer's; rows are customer data.
  'GET /api/v1/connections/:id/tables': 'viewer',
  'GET /api/v1/connections/:id/tables/:table/columns': 'viewer',
  'GET /api/v1/connections/:id/tables/:table/rows': 'operator',

  'GET /api/v1/streams': 'viewer',
  'GET /api/v1/streams/:id': 'viewer',
  'GET /api/v1/streams/:id/stats': 'viewer',
  'GET /api/v1/streams/:id/runs': 'viewer',
  'GET /api/v1/streams/:id/logs': 'viewer',
  'GET /api/v1/streams/:id/dead-letters': 'viewer',
  'POST /api/v1/streams': 'admin',
  'PUT /api/v1/streams/:id': 'admin',
  'DELETE /api/v1/streams/:id': 'admin',
  'POST /api/v1/streams/:id/start': 'operator',
  'POST /api/v1/streams/:id/pause': 'operator',
  'POST /api/v1/streams/:id/resume': 'operator',
  'POST /api/v1/streams/:id/stop': 'operator',

  'GET /api/v1/mappings': 'viewer',
  'GET /api/v1/mappings/:id': 'viewer',
  'POST /api/v1/mappings': 'admin',
  'PUT /api/v1/mappings/:id': 'admin',
  'DELETE /api/v1/mappings/:id': 'admin',
  'POST /api/v1/streams/:id/cutover': 'operator',

  'POST /api/v1/validate': 'operator',
  'DELETE /api/v1/streams/:id/runs': 'admin',

  // Relational Migrator's job API. POST creates connections (with passwords) and a stream: admin.
  'POST /api/v1/jobs': 'admin',
  'GET /api/v1/jobs/:id': 'viewer',
  'POST /api/v1/streams/:id/verify': 'operator',
  // Shows documents made of customer rows.
  'POST /api/v1/streams/:id/mapping/preview': 'operator',

  // Who changed what: admin only.
  'GET /api/v1/audit': 'admin',
};

/**
 * POST routes that change nothing (they test, check or show), and so leave no audit
 * entry. Every other route whose method is not GET is audited (audit.ts); the
 * contract tests check that each entry here names a route.
 */
export const READ_ONLY_POSTS: ReadonlySet<string> = new Set<RouteKey>([
  'POST /api/v1/connections/:id/test',
  'POST /api/v1/validate',
  'POST /api/v1/streams/:id/mapping/preview',
]);

/** Whether a call of `METHOD /route` (see routeKey) is recorded in the audit trail. */
export function isAudited(key: string): boolean {
  return key.includes(' /api/') && !key.startsWith('GET ') && !key.startsWith('HEAD ') && !key.startsWith('OPTIONS ') && !READ_ONLY_POSTS.has(key);
}

export const routeKey = (method: string, url: string): string => `${method === 'HEAD' ? 'GET' : method} ${url.replace(/(.)\/$/, '$1')}`;

/** The role a route needs; admin for a route the table does not know. */
export function requiredRole(method: string, url: string | undefined): Role {
  if (url === undefined) return 'viewer'; // no route matched: the key is checked, then 404
  return (ROUTE_ROLES as Record<string, Role>)[routeKey(method, url)] ?? 'admin';
}
