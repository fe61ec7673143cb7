/**
 * What a stream has done: its run history (start, end, status, counters of each run),
 * its job updates (the operator's log) and its dead letters, and clearing finished runs.
 * Row data in them follows the browse rule: a viewer gets redacted forms (redact.ts).
 */
import type { FastifyInstance } from 'fastify';
import type { ApiDeps } from '../deps';
import { SluiceError } from '../../errors';
import type { StreamRecord } from '../../store/streams';
import { deadLetterFor, errorFor, updateFor } from '../redact';
import { confirmDelete, errorResponses, idParams, listQuery, pageOf } from '../schemas';

export const counters = { type: 'object', additionalProperties: { type: 'number' } } as const;
export const errorInfo = { type: 'object', properties: { code: { type: 'string' }, message: { type: 'string' }, suggestion: { type: 'string' } } } as const;

const runView = {
  type: 'object',
  required: ['id', 'streamId', 'startedAt', 'endedAt', 'status', 'counters'],
  properties: {
    id: { type: 'string' },
    streamId: { type: 'string' },
    startedAt: { type: 'string', format: 'date-time' },
    endedAt: { type: ['string', 'null'], format: 'date-time', description: 'null while the run is open' },
    status: { type: 'string', description: 'RUNNING while open; COMPLETED, FAILED, CANCELLED or INTERRUPTED (daemon shut down under it) once ended' },
    counters: counters,
    failureError: { anyOf: [errorInfo, { type: 'null' }] },
  },
} as const;

const jobUpdateView = {
  type: 'object',
  required: ['id', 'streamId', 'timestamp', 'level', 'stage', 'message'],
  properties: {
    id: { type: 'integer' },
    streamId: { type: 'string' },
    runId: { type: ['string', 'null'] },
    timestamp: { type: 'string', format: 'date-time' },
    level: { type: 'string', enum: ['ERROR', 'WARNING', 'INFO'] },
    stage: { type: 'string' },
    message: { type: 'string' },
    errorCode: { type: 'string' },
    suggestion: { type: 'string' },
    detail: { type: 'object', additionalProperties: true },
    redacted: { type: 'boolean', description: 'True when a viewer gets this update without the row values its message quoted' },
  },
} as const;

const nullableString = { type: ['string', 'null'] } as const;
const deadLetterView = {
  type: 'object',
  required: ['id', 'streamId', 'timestamp', 'errorCode', 'errorMessage'],
  properties: {
    id: { type: 'integer' },
    streamId: { type: 'string' },
    runId: nullableString,
    timestamp: { type: 'string' },
    stage: { type: 'string' },
    table: nullableString,
    key: { type: ['object', 'null'], additionalProperties: true },
    op: nullableString,
    field: nullableString,
    event: { type: ['object', 'null'], additionalProperties: true, description: 'The change event as JSON (bigint and decimals as text); null for a viewer' },
    errorCode: { type: 'string' },
    errorMessage: { type: 'string' },
    suggestion: nullableString,
    detail: { type: 'object', additionalProperties: true },
    redacted: { type: 'boolean', description: 'True for a viewer: row values are "[redacted]" and the event left out (rows need the operator role)' },
  },
} as const;

type ListQs = { limit?: number; offset?: number; sort?: string };

export async function historyRoutes(app: FastifyInstance, deps: ApiDeps): Promise<void> {
  const { store, supervisor } = deps;
  const load = async (id: string): Promise<StreamRecord> => (await store.streams.get(id)) ?? Promise.reject(new SluiceError('STREAM_NOT_FOUND', `No stream ${id}.`, { id }));

  app.get<{ Params: { id: string }; Querystring: ListQs & { status?: string } }>(
    '/streams/:id/runs',
    {
      schema: {
        tags: ['streams'],
        summary: 'Run history: start, end, status and counters of each run',
        params: idParams,
        querystring: listQuery(['startedAt', 'endedAt', 'status'], { status: { type: 'string', enum: ['RUNNING', 'COMPLETED', 'FAILED', 'CANCELLED', 'INTERRUPTED'] } }),
        response: { 200: pageOf(runView), ...errorResponses('STREAM_NOT_FOUND') },
      },
    },
    async (req) => {
      await load(req.params.id);
      const { limit, offset, sort, status } = req.query;
      const page = await store.runs.list(req.params.id, { limit, offset, sort, filters: { status } });
      // The store has a run's counters once it ends; the open run's are live in the supervisor.
      const live = await supervisor.status(req.params.id);
      const role = req.apiKey?.role;
      return {
        ...page,
        items: page.items.map((r) => ({ ...(r.endedAt === null && r.id === live.runId ? { ...r, counters: { ...live.statistics } } : r), failureError: errorFor(r.failureError, role) })),
      };
    },
  );

  app.get<{ Params: { id: string }; Querystring: ListQs & { level?: string; stage?: string; runId?: string } }>(
    '/streams/:id/logs',
    {
      schema: {
        tags: ['streams'],
        summary: 'Job updates (ERROR / WARNING / INFO), filtered by level, stage and run',
        params: idParams,
        querystring: listQuery(['id', 'timestamp', 'level', 'stage'], {
          level: { type: 'string', enum: ['ERROR', 'WARNING', 'INFO'] },
          stage: { type: 'string', description: 'INITIALIZATION, SNAPSHOT, CDC or SHUTDOWN' },
          runId: { type: 'string' },
        }),
        response: { 200: pageOf(jobUpdateView), ...errorResponses('STREAM_NOT_FOUND') },
      },
    },
    async (req) => {
      await load(req.params.id);
      const { limit, offset, sort, level, stage, runId } = req.query;
      const page = await store.runs.listUpdates(req.params.id, { limit, offset, sort, filters: { level, stage, runId } });
      return { ...page, items: page.items.map((u) => updateFor(u, req.apiKey?.role)) };
    },
  );

  app.get<{ Params: { id: string }; Querystring: ListQs & { runId?: string; table?: string; op?: string; field?: string; errorCode?: string; stage?: string } }>(
    '/streams/:id/dead-letters',
    {
      schema: {
        tags: ['streams'],
        summary: 'Dead letters: records rejected under errorHandling WARN or SKIP on the direct transport, with their error (Kafka transport: the <topicPrefix>.__dlq topic)',
        params: idParams,
        querystring: listQuery(['id', 'timestamp', 'table', 'errorCode'], {
          runId: { type: 'string' },
          table: { type: 'string' },
          op: { type: 'string', enum: ['c', 'u', 'd', 'r'] },
          field: { type: 'string' },
          errorCode: { type: 'string' },
          stage: { type: 'string', enum: ['SNAPSHOT', 'CDC'] },
        }),
        response: { 200: pageOf(deadLetterView), ...errorResponses('STREAM_NOT_FOUND') },
      },
    },
    async (req) => {
      await load(req.params.id);
      const { limit, offset, sort, runId, table, op, field, errorCode, stage } = req.query;
      const page = await store.deadLetters.list(req.params.id, { limit, offset, sort, filters: { runId, table, op, field, errorCode, stage } });
      return { ...page, items: page.items.map((d) => deadLetterFor(d, req.apiKey?.role)) };
    },
  );

  app.delete<{ Params: { id: string } }>(
    '/streams/:id/runs',
    {
      schema: {
        tags: ['streams'],
        summary: 'Clear the run history: every finished run and the job updates it wrote (an open run stays). Needs X-Confirm-Delete: true',
        params: idParams,
        headers: {
          type: 'object',
          properties: { 'x-confirm-delete': { type: 'string', description: 'Must be "true": this deletes history for good.' } },
        },
        response: {
          200: { type: 'object', required: ['runs', 'jobUpdates'], properties: { runs: { type: 'integer' }, jobUpdates: { type: 'integer' } }, description: 'How many runs and job updates were deleted' },
          ...errorResponses('STREAM_NOT_FOUND', 'CONFIRMATION_REQUIRED'),
        },
      },
    },
    async (req) => {
      await load(req.params.id);
      confirmDelete(req.headers['x-confirm-delete'], `the run history of stream ${req.params.id}`);
      const { runs, updates } = await store.runs.deleteFinished(req.params.id);
      req.log.info({ streamId: req.params.id, runs, jobUpdates: updates }, 'run history cleared');
      return { runs, jobUpdates: updates };
    },
  );
}
