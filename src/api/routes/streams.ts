/**
 * Streams: the spec (Relational Migrator's job shape where DESIGN.md says so), its
 * lifecycle (start, pause, resume, stop, cutover) and its live counters. What it has
 * done (runs, logs, dead letters) is streams-history.ts; verify and the mapping
 * preview have files of their own.
 */
import { checkTopicsSource } from '../../transport/kafka/topics-source';
import { checkRecordFormat } from '../../transport/kafka/options';
import type { FastifyInstance } from 'fastify';
import type { ApiDeps } from '../deps';
import { assertTableNamesAllowed } from '../../runtime/system-schemas';
import { errorFor, updateFor } from '../redact';
import type { Role } from '../../store/api-keys';
import { SluiceError, toSluiceError } from '../../errors';
import { connectionFieldsOf, missingConnection, missingMapping, type StreamInput, type StreamRecord } from '../../store/streams';
import type { ConnectionRecord } from '../../store/connections';
import { validateFilters } from '../../transform/filters';
import { sourceDialect } from '../../runtime/registry';
import { validateStreamOptions } from '../../runtime/run-options';
import { streamBodySchema } from './stream-body';
import { validateSchedule } from '../../runtime/schedule';
import { mappingIdOf } from '../../runtime/run-plan';
import { errorResponses, idParams, listQuery, pageOf, ID_PATTERN, PASSWORDS_PROPERTY } from '../schemas';
import { verifyRoutes } from './streams-verify';
import { previewRoutes } from './streams-preview';
import { counters, errorInfo, historyRoutes } from './streams-history';
import { progressOf, progressProperties } from './stream-progress';
import { validateStreamMapping } from '../../transform/mapping';


/** Passwords for connections saved with savePassword:false, by connection id (write-only). */
export const passwordsBody = {
  type: 'object',
  additionalProperties: false,
  properties: { passwords: PASSWORDS_PROPERTY },
} as const;

/** POST /streams/{id}/start: the passwords, and whether to forget the saved positions first. */
const startBody = {
  type: 'object',
  additionalProperties: false,
  properties: {
    passwords: PASSWORDS_PROPERTY,
    resnapshot: {
      type: 'boolean',
      default: false,
      description:
        'Forget the saved positions and take a fresh snapshot, then CDC from it (CDC_ONLY: from now). The way back from SOURCE_POSITION_LOST (a dropped or invalidated replication slot, a purged binlog); rows deleted at the source meanwhile stay in MongoDB unless its collections are dropped (options.dropCollections).',
    },
  },
} as const;

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
    ...progressProperties,
    runId: { type: ['string', 'null'] },
    startedAt: { type: ['string', 'null'] },
    schedule: {
      anyOf: [{ type: 'object', properties: { cron: { type: 'string' }, timezone: { type: 'string' } } }, { type: 'null' }],
      description: 'The spec\'s schedule; null when the stream has none.',
    },
    nextRunAt: { type: ['string', 'null'], format: 'date-time', description: 'When the schedule starts the next run; null when unscheduled.' },
    failureError: { anyOf: [errorInfo, { type: 'null' }] },
    retrying: {
      anyOf: [
        {
          type: 'object',
          description: 'The run failed with a retriable error and restarts by itself (options.retry); the stream stays RUNNING meanwhile.',
          properties: {
            attempt: { type: 'integer', description: 'Restarts in the current series, the coming one included.' },
            nextAttemptAt: { type: 'string', format: 'date-time' },
            since: { type: 'string', format: 'date-time', description: 'The first failure of the series.' },
            lastError: errorInfo,
          },
        },
        { type: 'null' },
      ],
      description: 'null unless the stream waits to restart after a retriable failure.',
    },
    jobUpdates: { type: 'array', items: { type: 'object', additionalProperties: true } },
    metadata: {
      type: 'object',
      description: 'As in Relational Migrator: verificationRequested, verificationStatus (VERIFYING, FAILED, CANCELLING, CANCELLED, VERIFIED, ABORTED)',
      properties: { verificationRequested: { type: 'boolean' }, verificationStatus: { type: 'string' }, verifiedAt: { type: 'string' } },
    },
    createdAt: { type: 'string' },
    updatedAt: { type: 'string' },
  },
} as const;

type ListQs = { limit?: number; offset?: number; sort?: string };

export async function streamRoutes(app: FastifyInstance, deps: ApiDeps): Promise<void> {
  const { store, supervisor } = deps;
  const bodySchema = streamBodySchema(deps.connectors);
  const notFound = (id: string) => new SluiceError('STREAM_NOT_FOUND', `No stream ${id}.`, { id });
  const load = async (id: string): Promise<StreamRecord> => (await store.streams.get(id)) ?? Promise.reject(notFound(id));

  const view = async (rec: StreamRecord, withUpdates = false, role?: Role) => {
    const live = await supervisor.status(rec.spec.id);
    return {
      id: rec.spec.id,
      name: rec.spec.name,
      spec: rec.spec,
      state: live.state,
      status: live.status,
      cdcStatus: live.cdcStatus,
      statistics: live.statistics,
      ...progressOf(live),
      runId: live.runId,
      startedAt: live.startedAt,
      schedule: rec.spec.schedule ?? null,
      nextRunAt: live.nextRunAt,
      // Row data follows the browse rule: a viewer gets redacted forms (redact.ts).
      failureError: errorFor(live.error ?? null, role),
      retrying: live.retrying ? { ...live.retrying, lastError: errorFor(live.retrying.lastError, role) } : null,
      ...(withUpdates ? { jobUpdates: (await store.runs.listUpdates(rec.spec.id, { sort: '-id', limit: 20 })).items.map((u) => updateFor(u, role)) } : {}),
      metadata: await store.streams.metadata(rec.spec.id),
      createdAt: rec.createdAt,
      updatedAt: rec.updatedAt,
    };
  };

  /**
   * Referenced connections must exist: a 400 naming the field, not a failure at start.
   * Each is read once here; the store checks again in the write's transaction (a
   * connection deleted meanwhile), with the same error.
   */
  const checkRefs = async (body: StreamInput): Promise<void> => {
    const found = new Map<string, ConnectionRecord>();
    for (const [field, id] of connectionFieldsOf(body)) {
      const rec = await store.connections.get(id);
      if (!rec) throw missingConnection(field, id);
      found.set(field, rec);
    }
    const source = found.get('source.connectionId')!;
    const sink = found.get('sink.connectionId')!;
    // Options of the kinds this stream uses, and nothing else: a 400 naming the option.
    validateStreamOptions(deps.connectors, body, { source: source.kind, sink: sink.kind, ...(body.transport ? { transport: body.transport.kind } : {}) });
    // avro, json-schema and protobuf need the kafka connection's schema registry.
    const transport = found.get('transport.connectionId');
    checkRecordFormat(body, (id) => (id === transport?.id ? transport.options : undefined));
    // A whereClause that cannot be compiled is refused now, not when the stream runs.
    // topics/topicPattern belong to a kafka source, which reads changes only (topics-source.ts).
    checkTopicsSource(body, source.kind);
    validateFilters(body, sourceDialect(deps.connectors, source.kind));
    // A table in a system schema (pg_catalog, mysql, …) is refused now too (system-schemas.ts).
    assertTableNamesAllowed(source, body.tables, 'tables');
    validateSchedule(body);
    await checkMappingRef(body);
    // Mapping rules are checked for shape now; their column names when the sink first sees each table.
    validateStreamMapping(body);
  };

  /** `"mapping": {"mappingId": "…"}` must name an existing mapping, and nothing beside it. */
  const checkMappingRef = async (body: StreamInput): Promise<void> => {
    if (!body.mapping || !('mappingId' in body.mapping)) return;
    const id = mappingIdOf(body);
    if (id === undefined || !new RegExp(ID_PATTERN).test(id) || id.length > 64) {
      throw new SluiceError('VALIDATION_FAILED', 'body field "mapping.mappingId" must be a mapping id (letters, digits, dashes)', { field: 'mapping.mappingId' });
    }
    const extra = Object.keys(body.mapping).filter((k) => k !== 'mappingId');
    if (extra.length) {
      throw new SluiceError('VALIDATION_FAILED', `body field "mapping" names a mapping resource and cannot also hold ${extra.map((k) => `"${k}"`).join(', ')}`, { field: `mapping.${extra[0]}` });
    }
    if (!(await store.mappings.get(id))) {
      throw missingMapping(id);
    }
  };

  /** Runs `change` while the stream is not running, in the stream's queue of operations: no start can come between. */
  const runningError = (id: string) => (state: string) => new SluiceError('STREAM_RUNNING_CANNOT_CHANGE', `Stream ${id} is ${state}; stop it first.`, { id, state });
  const whileIdle = <T>(id: string, change: () => Promise<T>): Promise<T> => supervisor.whileIdle(id, change, runningError(id));

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
      const page = await store.streams.list({ limit, offset, sort, filters: { name, state } });
      return { ...page, items: await Promise.all(page.items.map((r) => view(r, false, req.apiKey?.role))) };
    },
  );

  app.post<{ Body: StreamInput }>(
    '/streams',
    {
      schema: {
        tags: ['streams'],
        summary: 'Create a stream (it does not start until POST /streams/{id}/start)',
        body: bodySchema,
        response: { 201: streamView, ...errorResponses('STREAM_NAME_TAKEN', 'FILTER_CLAUSE_INVALID', 'MAPPING_NOT_FOUND', 'MAPPING_INVALID', 'SOURCE_SCHEMA_FORBIDDEN') },
      },
    },
    async (req, reply) => {
      await checkRefs(req.body);
      // A taken name is refused in the insert's own transaction (STREAM_NAME_TAKEN).
      const rec = await store.streams.create(req.body);
      await supervisor.schedule(rec.spec.id);
      return reply.status(201).send(await view(rec, false, req.apiKey?.role));
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
    async (req) => view(await load(req.params.id), true, req.apiKey?.role),
  );

  app.put<{ Params: { id: string }; Body: StreamInput }>(
    '/streams/:id',
    {
      schema: {
        tags: ['streams'],
        summary: 'Replace a stopped stream\'s spec',
        params: idParams,
        body: bodySchema,
        response: { 200: streamView, ...errorResponses('STREAM_NOT_FOUND', 'STREAM_NAME_TAKEN', 'STREAM_RUNNING_CANNOT_CHANGE', 'FILTER_CLAUSE_INVALID', 'MAPPING_NOT_FOUND', 'MAPPING_INVALID', 'SOURCE_SCHEMA_FORBIDDEN') },
      },
    },
    async (req) => {
      await load(req.params.id);
      await checkRefs(req.body);
      // A taken name is refused in the update's own transaction (STREAM_NAME_TAKEN).
      const rec = await whileIdle(req.params.id, async () => (await store.streams.update(req.params.id, req.body)) ?? Promise.reject(notFound(req.params.id)));
      await supervisor.schedule(req.params.id); // re-armed, or disarmed when the schedule was removed
      return view(rec, false, req.apiKey?.role);
    },
  );

  app.delete<{ Params: { id: string }; Querystring: { keepSourceResources?: boolean; keepSinkResources?: boolean } }>(
    '/streams/:id',
    {
      schema: {
        tags: ['streams'],
        summary: 'Delete a stopped stream with its history and positions; its replication slot and publication, and its embedding staging collections in the sink, are dropped',
        description:
          'The sink is reached first, then the source\'s slot and publication are dropped, then the sink\'s staging collections (`_sluice_embed.<streamId>.…`; the collections of documents stay). A server that cannot be reached answers 502 (SOURCE_UNREACHABLE / SINK_UNREACHABLE) and the stream is kept; retry once it is back, or skip that side with keepSourceResources / keepSinkResources.',
        params: idParams,
        querystring: {
          type: 'object',
          additionalProperties: false,
          properties: {
            keepSourceResources: { type: 'boolean', description: 'Leave the slot and publication in the source database (e.g. when it is unreachable).' },
            keepSinkResources: { type: 'boolean', description: 'Leave the embedding staging collections in the sink database (e.g. when it is unreachable).' },
          },
        },
        response: {
          204: { type: 'null', description: 'Deleted' },
          ...errorResponses('STREAM_NOT_FOUND', 'STREAM_RUNNING_CANNOT_CHANGE', 'SOURCE_UNREACHABLE', 'SOURCE_AUTH_FAILED', 'SINK_UNREACHABLE', 'SINK_WRITE_FAILED', 'CONNECTION_PASSWORD_REQUIRED', 'CONNECTION_PROTOCOL_MISMATCH'),
        },
      },
    },
    async (req, reply) => {
      await load(req.params.id);
      // The slot and staging go with the stream, not before: a failure here keeps the stream.
      // The stream's rows go (one transaction) in the same queued operation, so no start comes between.
      const drop = { source: req.query.keepSourceResources !== true, sink: req.query.keepSinkResources !== true };
      try {
        await supervisor.release(req.params.id, { ...drop, refuse: runningError(req.params.id), remove: () => store.streams.delete(req.params.id) });
      } catch (err) {
        throw toSluiceError(err);
      }
      return reply.status(204).send();
    },
  );

  await verifyRoutes(app, deps);
  await previewRoutes(app, deps);
  await historyRoutes(app, deps);

  for (const action of ['start', 'pause', 'resume', 'stop'] as const) {
    const takesPasswords = action === 'start' || action === 'resume';
    app.post<{ Params: { id: string }; Body: { passwords?: Record<string, string>; resnapshot?: boolean } | undefined }>(
      `/streams/:id/${action}`,
      {
        schema: {
          tags: ['streams'],
          summary: `${action[0]?.toUpperCase()}${action.slice(1)} the stream`,
          ...(takesPasswords
            ? {
                description:
                  'Connections saved with savePassword:false get their password here, by connection id. It is kept in memory for this run only (pause/resume reuse it); a daemon restart fails such a stream with CONNECTION_PASSWORD_REQUIRED until it is started again with the password.',
              }
            : {}),
          params: idParams,
          ...(takesPasswords ? { body: action === 'start' ? startBody : passwordsBody } : {}),
          response: {
            202: streamView,
            ...errorResponses('STREAM_NOT_FOUND', 'STREAM_ALREADY_RUNNING', 'STREAM_INVALID_TRANSITION', 'CONNECTOR_UNKNOWN', 'TRANSPORT_UNAVAILABLE', 'MAPPING_NOT_FOUND', ...(takesPasswords ? (['CONNECTION_PASSWORD_REQUIRED'] as const) : [])),
          },
        },
      },
      async (req, reply) => {
        const rec = await load(req.params.id);
        try {
          if (action === 'start') await supervisor.start(req.params.id, { passwords: req.body?.passwords ?? {}, resnapshot: req.body?.resnapshot === true });
          else if (action === 'resume') await supervisor.resume(req.params.id, { passwords: req.body?.passwords ?? {} });
          else await supervisor[action](req.params.id);
        } catch (err) {
          throw toSluiceError(err);
        }
        return reply.status(202).send(await view(rec, false, req.apiKey?.role));
      },
    );
  }

  app.post<{ Params: { id: string } }>(
    '/streams/:id/cutover',
    {
      schema: {
        tags: ['streams'],
        summary: 'Cut over a CDC stream (Atlas Live Migration): drain up to the source\'s current position, stop, COMPLETED',
        description:
          'Only for a CDC or CDC_ONLY stream that is streaming (status RUNNING, cdcStatus RUNNING). Answers 202 with cdcStatus COMPLETING at once; the stream keeps streaming until every change committed in the source before the request is in MongoDB, then stops with status and cdcStatus COMPLETED. Poll GET /streams/{id}; each step is a job update.',
        params: idParams,
        response: { 202: streamView, ...errorResponses('STREAM_NOT_FOUND', 'STREAM_INVALID_TRANSITION', 'CONNECTOR_CUTOVER_UNSUPPORTED') },
      },
    },
    async (req, reply) => {
      const rec = await load(req.params.id);
      try {
        await supervisor.cutover(req.params.id);
      } catch (err) {
        throw toSluiceError(err);
      }
      return reply.status(202).send(await view(rec, false, req.apiKey?.role));
    },
  );

  app.get<{ Params: { id: string } }>(
    '/streams/:id/stats',
    {
      schema: {
        tags: ['streams'],
        summary: 'Live counters of the current (or last) run',
        params: idParams,
        response: {
          200: { type: 'object', properties: { id: { type: 'string' }, state: { type: 'string' }, status: { type: ['string', 'null'] }, cdcStatus: { type: 'string' }, statistics: counters, ...progressProperties } },
          ...errorResponses('STREAM_NOT_FOUND'),
        },
      },
    },
    async (req) => {
      await load(req.params.id);
      const s = await supervisor.status(req.params.id);
      return { id: req.params.id, state: s.state, status: s.status, cdcStatus: s.cdcStatus, statistics: s.statistics, ...progressOf(s) };
    },
  );
}
