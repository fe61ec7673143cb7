/** Liveness, readiness and Prometheus metrics: the endpoints that need no key (metrics by default). */
import type { FastifyInstance } from 'fastify';
import type { ApiDeps } from '../deps';
import { SluiceError } from '../../errors';

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
        summary: 'Readiness: the store is open and the supervisor runs',
        security: [],
        response: { 200: statusBody, 503: { $ref: 'ErrorEnvelope#' } },
      },
    },
    async () => {
      const checks = { store: deps.store.healthy(), supervisor: deps.supervisor.isRunning(), accepting: !deps.isShuttingDown() };
      if (!Object.values(checks).every(Boolean)) throw new SluiceError('NOT_READY', 'The daemon is not ready.', { checks });
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
