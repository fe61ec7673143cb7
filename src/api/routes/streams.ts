/**
 * Streams: the spec (Relational Migrator's job shape where DESIGN.md says so), its
 * lifecycle (start, pause, resume, stop) and what it has done (stats, runs, logs).
 */
import type { FastifyInstance } from 'fastify';
import type { ApiDeps } from '../server';
import { SluiceError, toSluiceError } from '../../errors';
import type { StreamInput, StreamRecord } from '../../store/streams';
import { ACTIVE_STATES, isStreamState } from '../../runtime/lifecycle';
import { validateFilters } from '../../transform/filters';
import { validateStreamMapping } from '../../transform/mapping';
import { errorResponses, idParams, listQuery, pageOf, ID_PATTERN } from '../schemas';

const connectionRef = {
  type: 'object',
  additionalProperties: false,
  required: ['connectionId'],
  properties: { connectionId: { type: 'string', pattern: ID_PATTERN } },
} as const;

export const streamBodySchema = {
  type: 'object',
  additionalProperties: false,
  required: ['name', 'source', 'sink'],
  properties: {
    name: { type: 'string', minLength: 1, maxLength: 200 },
    source: connectionRef,
    sink: connectionRef,
    transport: {
      type: 'object',
      additionalProperties: false,
      required: ['kind'],
      properties: { kind: { type: 'string', enum: ['direct', 'kafka'] }, connectionId: { type: 'string', pattern: ID_PATTERN } },
    },
    mode: { type: 'string', enum: ['SNAPSHOT', 'CDC', 'CDC_ONLY'], default: 'CDC' },
    tables: { type: 'array', items: { type: 'string', minLength: 1 }, default: [], description: '"schema.table" names or glob patterns (* and ?), resolved at each start.' },
    excludeTables: { type: 'array', items: { type: 'string', minLength: 1 }, description: 'Names or glob patterns of tables to leave out.' },
    relationalTableFilters: {
      type: 'object',
      additionalProperties: {
        type: 'object',
        additionalProperties: {
          type: 'object',
          additionalProperties: false,
          properties: {
            whereClause: { type: 'string', maxLength: 10000, description: "A row filter in the source's SQL dialect: one expression over the table's columns, pushed into the snapshot and applied to every change." },
            rowCount: { type: 'integer', minimum: 0 },
            includeColumns: { type: 'array', items: { type: 'string', minLength: 1 }, description: 'Only these columns (and the key) leave the source.' },
            excludeColumns: { type: 'array', items: { type: 'string', minLength: 1 }, description: 'These columns never leave the source (key columns cannot be excluded).' },
          },
        },
      },
    },
    mapping: { type: 'object', additionalProperties: true },
    options: {
      type: 'object',
      additionalProperties: false,
      default: {},
      properties: {
        dropCollections: { type: 'boolean', default: false },
        errorHandling: { type: 'string', enum: ['FAIL', 'WARN', 'SKIP'], default: 'FAIL' },
        errorTolerance: { type: 'integer', minimum: 0, default: 0 },
        snapshotChunkSize: { type: 'integer', minimum: 1, maximum: 1000000, description: 'Rows per snapshot chunk (keyset page); progress is saved after each. Default 5000.' },
        snapshotParallelism: { type: 'integer', minimum: 1, maximum: 64, description: 'Tables snapshotted at once. Default 2.' },
        heartbeatIntervalMs: { type: 'integer', minimum: 50, description: 'How often an idle stream confirms the source position, so the slot advances. Default 10000.' },
        topicPrefix: { type: 'string', pattern: '^[A-Za-z0-9._-]+$', maxLength: 200, description: 'Kafka topic prefix: topics are <prefix>.<schema>.<table>. Default: the stream name.' },
      },
    },
  },
} as const;

const counters = { type: 'object', additionalProperties: { type: 'number' } } as const;
const errorInfo = { type: 'object', properties: { code: { type: 'string' }, message: { type: 'string' }, suggestion: { type: 'string' } } } as const;

const streamView = {
  type: 'object',
  properties: {
    id: { type: 'string' },
    name: { type: 'string' },
    spec: { type: 'object', additionalProperties: true },
    state: { type: 'string' },
    status: { type: ['string', 'null'] },
    cdcStatus: { type: 'string' },
    statistics: counters,
    runId: { type: ['string', 'null'] },
    startedAt: { type: ['string', 'null'] },
    failureError: { anyOf: [errorInfo, { type: 'null' }] },
    jobUpdates: { type: 'array', items: { type: 'object', additionalProperties: true } },
    createdAt: { type: 'string' },
    updatedAt: { type: 'string' },
  },
} as const;

type ListQs = { limit?: number; offset?: number; sort?: string };

export async function streamRoutes(app: FastifyInstance, deps: ApiDeps): Promise<void> {
  const { store, supervisor } = deps;
  const notFound = (id: string) => new SluiceError('STREAM_NOT_FOUND', `No stream ${id}.`, { id });
  const load = (id: string): StreamRecord => store.streams.get(id) ?? (() => { throw notFound(id); })();

  const view = (rec: StreamRecord, withUpdates = false) => {
    const live = supervisor.status(rec.spec.id);
    return {
      id: rec.spec.id,
      name: rec.spec.name,
      spec: rec.spec,
      state: live.state,
      status: live.status,
      cdcStatus: live.cdcStatus,
      statistics: live.statistics,
      runId: live.runId,
      startedAt: live.startedAt,
      failureError: live.error ?? null,
      ...(withUpdates ? { jobUpdates: store.runs.listUpdates(rec.spec.id, { sort: '-id', limit: 20 }).items } : {}),
      createdAt: rec.createdAt,
      updatedAt: rec.updatedAt,
    };
  };

  /** Referenced connections must exist: a 400 naming the field, not a failure at start. */
  const checkRefs = (body: StreamInput): void => {
    const refs: [string, string | undefined][] = [
      ['source.connectionId', body.source.connectionId],
      ['sink.connectionId', body.sink.connectionId],
      ['transport.connectionId', (body.transport as { connectionId?: string } | undefined)?.connectionId],
    ];
    for (const [field, id] of refs) {
      if (id !== undefined && !store.connections.get(id)) {
        throw new SluiceError('VALIDATION_FAILED', `body field "${field}" names connection ${id}, which does not exist`, { field, id });
      }
    }
    // A whereClause that cannot be compiled is refused now, not when the stream runs.
    validateFilters(body, store.connections.get(body.source.connectionId)!.kind);
    // Mapping rules are checked for shape now; their column names when the sink first sees each table.
    validateStreamMapping(body);
  };

  const idle = (id: string): void => {
    const state = supervisor.status(id).state;
    if (isStreamState(state) && ACTIVE_STATES.has(state)) {
      throw new SluiceError('STREAM_RUNNING_CANNOT_CHANGE', `Stream ${id} is ${state}; stop it first.`, { id, state });
    }
  };

  app.get<{ Querystring: ListQs & { name?: string; state?: string } }>(
    '/streams',
    {
      schema: {
        tags: ['streams'],
        summary: 'List streams',
        querystring: listQuery(['name', 'state', 'createdAt', 'updatedAt'], { name: { type: 'string' }, state: { type: 'string' } }),
        response: { 200: pageOf(streamView), ...errorResponses() },
      },
    },
    async (req) => {
      const { limit, offset, sort, name, state } = req.query;
      const page = store.streams.list({ limit, offset, sort, filters: { name, state } });
      return { ...page, items: page.items.map((r) => view(r)) };
    },
  );

  app.post<{ Body: StreamInput }>(
    '/streams',
    {
      schema: {
        tags: ['streams'],
        summary: 'Create a stream (it does not start until POST /streams/{id}/start)',
        body: streamBodySchema,
        response: { 201: streamView, ...errorResponses('STREAM_NAME_TAKEN', 'FILTER_CLAUSE_INVALID', 'MAPPING_INVALID') },
      },
    },
    async (req, reply) => {
      if (store.streams.nameTaken(req.body.name)) throw new SluiceError('STREAM_NAME_TAKEN', `A stream named "${req.body.name}" exists.`, { field: 'name' });
      checkRefs(req.body);
      return reply.status(201).send(view(store.streams.create(req.body)));
    },
  );

  app.get<{ Params: { id: string } }>(
    '/streams/:id',
    {
      schema: {
        tags: ['streams'],
        summary: 'A stream with its status, statistics and latest job updates',
        params: idParams,
        response: { 200: streamView, ...errorResponses('STREAM_NOT_FOUND') },
      },
    },
    async (req) => view(load(req.params.id), true),
  );

  app.put<{ Params: { id: string }; Body: StreamInput }>(
    '/streams/:id',
    {
      schema: {
        tags: ['streams'],
        summary: 'Replace a stopped stream\'s spec',
        params: idParams,
        body: streamBodySchema,
        response: { 200: streamView, ...errorResponses('STREAM_NOT_FOUND', 'STREAM_NAME_TAKEN', 'STREAM_RUNNING_CANNOT_CHANGE', 'FILTER_CLAUSE_INVALID', 'MAPPING_INVALID') },
      },
    },
    async (req) => {
      load(req.params.id);
      idle(req.params.id);
      if (store.streams.nameTaken(req.body.name, req.params.id)) throw new SluiceError('STREAM_NAME_TAKEN', `A stream named "${req.body.name}" exists.`, { field: 'name' });
      checkRefs(req.body);
      return view(store.streams.update(req.params.id, req.body) as StreamRecord);
    },
  );

  app.delete<{ Params: { id: string }; Querystring: { keepSourceResources?: boolean } }>(
    '/streams/:id',
    {
      schema: {
        tags: ['streams'],
        summary: 'Delete a stopped stream with its history and positions; its replication slot and publication are dropped',
        params: idParams,
        querystring: {
          type: 'object',
          additionalProperties: false,
          properties: { keepSourceResources: { type: 'boolean', description: 'Leave the slot and publication in the source database (e.g. when it is unreachable).' } },
        },
        response: { 204: { type: 'null', description: 'Deleted' }, ...errorResponses('STREAM_NOT_FOUND', 'STREAM_RUNNING_CANNOT_CHANGE') },
      },
    },
    async (req, reply) => {
      load(req.params.id);
      idle(req.params.id);
      // The replication slot goes with the stream, not before: a failure here keeps both.
      if (req.query.keepSourceResources !== true) {
        try {
          await supervisor.release(req.params.id);
        } catch (err) {
          throw toSluiceError(err);
        }
      }
      store.streams.delete(req.params.id);
      return reply.status(204).send();
    },
  );

  for (const action of ['start', 'pause', 'resume', 'stop'] as const) {
    app.post<{ Params: { id: string } }>(
      `/streams/:id/${action}`,
      {
        schema: {
          tags: ['streams'],
          summary: `${action[0]?.toUpperCase()}${action.slice(1)} the stream`,
          params: idParams,
          response: { 202: streamView, ...errorResponses('STREAM_NOT_FOUND', 'STREAM_ALREADY_RUNNING', 'STREAM_INVALID_TRANSITION', 'CONNECTOR_UNKNOWN', 'TRANSPORT_UNAVAILABLE') },
        },
      },
      async (req, reply) => {
        const rec = load(req.params.id);
        try {
          await supervisor[action](req.params.id);
        } catch (err) {
          throw toSluiceError(err);
        }
        return reply.status(202).send(view(rec));
      },
    );
  }

  app.get<{ Params: { id: string } }>(
    '/streams/:id/stats',
    {
      schema: {
        tags: ['streams'],
        summary: 'Live counters of the current (or last) run',
        params: idParams,
        response: {
          200: { type: 'object', properties: { id: { type: 'string' }, state: { type: 'string' }, status: { type: ['string', 'null'] }, cdcStatus: { type: 'string' }, statistics: counters } },
          ...errorResponses('STREAM_NOT_FOUND'),
        },
      },
    },
    async (req) => {
      load(req.params.id);
      const s = supervisor.status(req.params.id);
      return { id: req.params.id, state: s.state, status: s.status, cdcStatus: s.cdcStatus, statistics: s.statistics };
    },
  );

  app.get<{ Params: { id: string }; Querystring: ListQs & { status?: string } }>(
    '/streams/:id/runs',
    {
      schema: {
        tags: ['streams'],
        summary: 'Run history: start, end, status and counters of each run',
        params: idParams,
        querystring: listQuery(['startedAt', 'endedAt', 'status'], { status: { type: 'string' } }),
        response: { 200: pageOf({ type: 'object', additionalProperties: true }), ...errorResponses('STREAM_NOT_FOUND') },
      },
    },
    async (req) => {
      load(req.params.id);
      const { limit, offset, sort, status } = req.query;
      return store.runs.list(req.params.id, { limit, offset, sort, filters: { status } });
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
          stage: { type: 'string' },
          runId: { type: 'string' },
        }),
        response: { 200: pageOf({ type: 'object', additionalProperties: true }), ...errorResponses('STREAM_NOT_FOUND') },
      },
    },
    async (req) => {
      load(req.params.id);
      const { limit, offset, sort, level, stage, runId } = req.query;
      return store.runs.listUpdates(req.params.id, { limit, offset, sort, filters: { level, stage, runId } });
    },
  );
}
