/**
 * Relational Migrator compatibility: `POST /jobs` with RM's request schema creates
 * (or, for a project seen before, updates) the connections and the stream of the
 * job and starts it; `GET /jobs/{id}` answers in RM's job shape. A job is a stream:
 * its id is the stream's id, so /streams/{id}/runs and /logs work on it too.
 * 440 (no database in the MongoDB connection string) and 470 (already running)
 * answer in RM's error shape; every other error in sluice's envelope.
 */
import type { FastifyInstance, FastifyReply } from 'fastify';
import type { ApiDeps } from '../deps';
import { SluiceError, toSluiceError } from '../../errors';
import { ACTIVE_STATES, isStreamState } from '../../runtime/lifecycle';
import { validateFilters } from '../../transform/filters';
import { sourceDialect } from '../../runtime/registry';
import type { RmJobRecord } from '../../store/rm-jobs';
import type { ConnectionRecord } from '../../store/connections';
import { errorResponses, idParams } from '../schemas';
import { assertTableNamesAllowed } from '../../runtime/system-schemas';
import { errorFor, updateFor } from '../redact';
import type { Role } from '../../store/api-keys';
import {
  jobBodySchema,
  jobNames,
  parseJdbc,
  parseMongoUri,
  toEcho,
  toStreamInput,
  sourceKindOf,
  SUPPORTED_SOURCE_TYPES,
  type ParsedConnection,
  type RmJobRequest,
} from '../rm-jobs';
import { jobViewSchema, rmError, rmError440, rmError470, toJobView } from '../rm-job-view';

/** A stored URL shown back: a JDBC `password` query parameter never leaves. */
const withoutQueryPassword = (url: string): string => url.replace(/([?&;])password=[^&;]*(&|;)?/i, (_m, lead: string, tail?: string) => (tail ? lead : '')).replace(/[?&;]$/, '');

export async function jobRoutes(app: FastifyInstance, deps: ApiDeps): Promise<void> {
  const { store, supervisor } = deps;

  const viewOf = async (job: RmJobRecord, role: Role | undefined) => {
    const stream = (await store.streams.get(job.id))!;
    const live = await supervisor.status(job.id);
    // Row data follows the browse rule: a viewer gets redacted forms (redact.ts).
    return toJobView({
      job,
      stream,
      live: { ...live, ...(live.error ? { error: errorFor(live.error, role) } : {}) },
      lastRun: (await store.runs.list(job.id, { sort: '-startedAt', limit: 1 })).items[0],
      snapshotDone: await store.positions.isSnapshotDone(job.id),
      updates: (await store.runs.listUpdates(job.id, { sort: '-id', limit: 20 })).items.map((u) => updateFor(u, role)),
    });
  };

  const existing = async (id: string, field: string, kinds: readonly string[]): Promise<ConnectionRecord> => {
    const c = await store.connections.get(id);
    if (!c) throw new SluiceError('VALIDATION_FAILED', `body field "${field}" names connection ${id}, which does not exist`, { field, id });
    if (!kinds.includes(c.kind)) throw new SluiceError('VALIDATION_FAILED', `body field "${field}" names a ${c.kind} connection; a ${kinds.join(' or ')} one is needed`, { field, id });
    return c;
  };

  /** The job's own connection, by its deterministic name: updated when it exists, else created. */
  const upsert = async (name: string, parsed: ParsedConnection, savePassword: boolean): Promise<string> => {
    const input = { name, kind: parsed.kind, url: parsed.url, savePassword, ...(parsed.password !== undefined ? { password: parsed.password } : {}) };
    const found = (await store.connections.list({ filters: { name }, limit: 1 })).items[0];
    const rec = found ? (await store.connections.update(found.id, input))! : await store.connections.create(input);
    // Not saved (RM's default) is not stored: the password lives in this process for the run.
    await store.connections.holdPassword(rec.id, savePassword ? undefined : parsed.password);
    return rec.id;
  };

  const running = async (id: string): Promise<boolean> => {
    const state = (await supervisor.status(id)).state;
    return isStreamState(state) && ACTIVE_STATES.has(state);
  };

  const conflict470 = (reply: FastifyReply, jobId: string) =>
    reply
      .status(470)
      .send(rmError(`Migration job ${jobId} is already running.`, 'Wait for it to finish, or stop it with POST /api/v1/streams/{id}/stop, then submit the job again.', jobId));

  app.post<{ Body: RmJobRequest }>(
    '/jobs',
    {
      schema: {
        tags: ['jobs'],
        summary: 'Post a new migration job (Relational Migrator\'s request schema); a second POST for the same projectId runs the project\'s job again',
        description:
          `jdbcConnectionDetails.type: ${SUPPORTED_SOURCE_TYPES.join(', ')} (others are refused with CONNECTOR_UNKNOWN). ` +
          'The job id is the id of the stream it runs. savePassword:false (the default) keeps passwords in memory only: the job cannot resume after a daemon restart.',
        body: jobBodySchema,
        response: {
          200: jobViewSchema,
          440: rmError440,
          470: rmError470,
          ...errorResponses('CONNECTOR_UNKNOWN', 'STREAM_NAME_TAKEN', 'FILTER_CLAUSE_INVALID', 'FILTER_COLUMN_UNKNOWN', 'TRANSPORT_UNAVAILABLE', 'CONNECTION_URL_INVALID', 'SOURCE_SCHEMA_FORBIDDEN'),
        },
      },
    },
    async (req, reply) => {
      const body = req.body;
      const names = jobNames(body.projectId);
      const prior = await store.rmJobs.byProject(body.projectId);
      const jdbc = body.jdbcConnectionDetails;
      const mongo = body.mongodbConnectionDetails;

      // Everything is checked before anything is written.
      let source: ParsedConnection | { existing: ConnectionRecord; display: string };
      if (jdbc.existingConnectionId !== undefined) {
        const c = await existing(jdbc.existingConnectionId, 'jdbcConnectionDetails.existingConnectionId', [sourceKindOf(jdbc.type)]);
        source = { existing: c, display: withoutQueryPassword(c.url) };
      } else {
        source = parseJdbc(jdbc);
      }
      let sink: ParsedConnection | { existing: ConnectionRecord; display: string };
      let database: string | null;
      if (mongo.existingConnectionId !== undefined) {
        const c = await existing(mongo.existingConnectionId, 'mongodbConnectionDetails.existingConnectionId', ['mongodb']);
        database = parseMongoUri(c.url).database;
        sink = { existing: c, display: c.url };
      } else {
        const parsed = parseMongoUri(mongo.connectionString);
        database = parsed.database;
        sink = parsed;
      }
      if (database === null) {
        return reply
          .status(440)
          .send(rmError('Invalid as connection string did not contain a database name', 'Name the target database in the MongoDB connection string: mongodb://host:port/<database>.', prior?.id));
      }
      if (prior && (await running(prior.id))) return conflict470(reply, prior.id);
      if (!prior && (await store.streams.nameTaken(names.stream))) {
        throw new SluiceError('STREAM_NAME_TAKEN', `A stream named "${names.stream}" exists and is not the job of project ${body.projectId}.`, { field: 'projectId', name: names.stream });
      }
      const sourceKind = 'existing' in source ? source.existing.kind : source.kind;
      // The filters compile for the source's dialect, or the job is refused now rather than failing at run time.
      validateFilters(toStreamInput(body, { sourceId: 'x', sinkId: 'x' }), sourceDialect(deps.connectors, sourceKind));
      // So are tables in a system schema (src/runtime/system-schemas.ts).
      const sourceUrl = 'existing' in source ? source.existing : { kind: source.kind, url: source.url, options: {} };
      assertTableNamesAllowed(sourceUrl, toStreamInput(body, { sourceId: 'x', sinkId: 'x' }).tables, 'relationalTableFilters');

      const sourceId = 'existing' in source ? source.existing.id : await upsert(names.source, source, jdbc.savePassword ?? false);
      const sinkId = 'existing' in sink ? sink.existing.id : await upsert(names.sink, sink, mongo.savePassword ?? false);
      const input = toStreamInput(body, { sourceId, sinkId });
      const streamId = prior ? (await store.streams.update(prior.id, input))!.spec.id : (await store.streams.create(input)).spec.id;
      const job = await store.rmJobs.submit(streamId, body.projectId, toEcho(body, { jdbc: source.display, mongodb: sink.display }));
      try {
        await supervisor.start(streamId);
      } catch (err) {
        const e = toSluiceError(err);
        if (e.code === 'STREAM_ALREADY_RUNNING') return conflict470(reply, streamId);
        throw e;
      }
      req.log.info({ jobId: streamId, projectId: body.projectId }, 'migration job started');
      return reply.status(200).send(await viewOf(job, req.apiKey?.role));
    },
  );

  app.get<{ Params: { id: string } }>(
    '/jobs/:id',
    {
      schema: {
        tags: ['jobs'],
        summary: 'A migration job in Relational Migrator\'s shape: status, cdcStatus, statistics, cdcStatistics, latest jobUpdates',
        params: idParams,
        response: { 200: jobViewSchema, ...errorResponses('JOB_NOT_FOUND') },
      },
    },
    async (req) => {
      const job = await store.rmJobs.get(req.params.id);
      if (!job) throw new SluiceError('JOB_NOT_FOUND', `No migration job ${req.params.id}.`, { id: req.params.id });
      return viewOf(job, req.apiKey?.role);
    },
  );
}
