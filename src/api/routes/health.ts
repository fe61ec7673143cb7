/** Liveness, readiness and Prometheus metrics: the endpoints that need no key (metrics by default). */
import type { FastifyInstance } from 'fastify';
import type { ApiDeps } from '../deps';
import { ERRORS, SluiceError } from '../../errors';

const statusBody = {
  type: 'object',
  properties: {
    status: { type: 'string' },
    checks: { type: 'object', additionalProperties: { type: 'boolean' } },
  },
} as const;

export async function healthRoutes(app: FastifyInstance, deps: ApiDeps): Promise<void> {
  app.get(
    '/healthz',
    { config: { public: true }, schema: { tags: ['health'], summary: 'Liveness: the process answers', security: [], response: { 200: statusBody } } },
    async () => ({ status: 'ok' }),
  );

  app.get(
    '/readyz',
    {
      config: { public: true },
      schema: {
        tags: ['health'],
        summary: 'Readiness: the store is open and writable, and the supervisor runs',
        description: 'Unready (503 NOT_READY) names the failed check in detail.checks; when the state store cannot be written (disk full, read-only data dir), detail.reason is the STATE_STORE_WRITE_FAILED failure (message, sqliteCode, since).',
        security: [],
        response: { 200: statusBody, 503: { $ref: 'ErrorEnvelope#' } },
      },
    },
    async () => {
      const writeFailure = await deps.store.writeFailure();
      const checks = { store: await deps.store.healthy(), storeWritable: writeFailure === null, supervisor: deps.supervisor.isRunning(), accepting: !deps.isShuttingDown() };
      if (!Object.values(checks).every(Boolean)) {
        const why = writeFailure ? `: ${writeFailure.code}, ${writeFailure.message}` : '.';
        throw new SluiceError('NOT_READY', `The daemon is not ready${why}`, { checks, ...(writeFailure ? { reason: writeFailure } : {}) }, writeFailure ? { suggestion: ERRORS.STATE_STORE_WRITE_FAILED.suggestion } : undefined);
      }
      return { status: 'ready', checks };
    },
  );

  app.get(
    '/metrics',
    {
      config: { public: deps.config.api.metricsOpen, auth: !deps.config.api.metricsOpen },
      schema: {
        tags: ['health'],
        summary: 'Prometheus metrics (text exposition format)',
        ...(deps.config.api.metricsOpen ? { security: [] } : {}),
        response: { 200: { description: 'Prometheus text format', content: { 'text/plain': { schema: { type: 'string' } } } } },
      },
    },
    async (_req, reply) => {
      const body = await deps.metrics.metrics();
      return reply.type(deps.metrics.contentType).send(body);
    },
  );
}
