/**
 * A sluice stream's state as Relational Migrator's job response (`GET /api/v1/jobs/{id}`,
 * and the answer to `POST /jobs`): status, statistics, job updates in RM's shape, RM's
 * error bodies (440, 470) and the response schemas. Pure, like rm-jobs.ts.
 */
import type { StreamRecord } from '../store/streams';
import type { RmJobRecord } from '../store/rm-jobs';
import type { JobUpdateRecord, RunRecord } from '../store/runs';
import type { StreamStatusView } from '../runtime/supervisor-types';
import { rmOptions, tableFilters } from './rm-jobs';

/** RM's error body (440, 470): jobId, message, description, timestamp. */
export function rmError(message: string, description: string, jobId?: string, now = new Date()) {
  return { ...(jobId ? { jobId } : {}), message, description, timestamp: now.toISOString() };
}

const STAGES: Record<string, 'SNAPSHOTTING' | 'STREAMING' | 'VERIFICATION'> = { SNAPSHOT: 'SNAPSHOTTING', CDC: 'STREAMING', VERIFICATION: 'VERIFICATION' };

/** A sluice job update as RM's jobUpdates entry; stages RM has no name for (INITIALIZATION) go unnamed. */
export function toRmUpdate(u: JobUpdateRecord) {
  const stage = STAGES[u.stage];
  const table = typeof u.detail?.table === 'string' ? u.detail.table : undefined;
  return {
    eventType: u.level,
    ...(stage ? { stage } : {}),
    message: u.message,
    ...(u.detail ? { details: JSON.stringify(u.detail) } : stage ? {} : { details: `stage ${u.stage}` }),
    timestamp: u.timestamp,
    ...(u.errorCode ? { errorCode: u.errorCode } : {}),
    ...(u.suggestion ? { suggestion: u.suggestion } : {}),
    ...(table ? { locationType: 'TABLE' as const, locationName: table } : {}),
  };
}

export interface JobViewInput {
  job: RmJobRecord;
  stream: StreamRecord;
  /** The supervisor's status of the stream (status and cdcStatus from lifecycle.toPublicView). */
  live: StreamStatusView;
  /** The latest run, for a stream not running in this process (its counters and times). */
  lastRun?: RunRecord;
  snapshotDone: boolean;
  /** Newest first. */
  updates: JobUpdateRecord[];
  now?: Date;
}

const seconds = (from: string, to: Date): number => Math.max(0, Math.floor((to.getTime() - Date.parse(from)) / 1000));

/** RM's job response, built from the stream's own state. */
export function toJobView(v: JobViewInput) {
  const { job, stream, live, lastRun } = v;
  const spec = stream.spec;
  const now = v.now ?? new Date();
  const current = live.runId !== null;
  const counters = current ? live.statistics : { eventsRead: 0, eventsWritten: 0, snapshotRows: 0, cdcEvents: 0, batches: 0, ...(lastRun?.counters ?? {}) };
  const startedAt = live.startedAt ?? lastRun?.startedAt ?? null;
  const endedAt = current ? null : lastRun?.endedAt ?? null;
  const fixedTables = spec.tables.every((t) => !/[*?]/.test(t));
  const statistics = {
    ...(startedAt ? { startedAt, elapsedSeconds: seconds(startedAt, endedAt ? new Date(endedAt) : now) } : {}),
    totalEventsSeen: counters.snapshotRows ?? 0,
    snapshotCompleted: v.snapshotDone,
    ...(fixedTables ? { totalTableCount: spec.tables.length } : {}),
    totalEvents: counters.snapshotRows ?? 0,
  };
  const cdc = spec.mode !== 'SNAPSHOT';
  const lastError = v.updates.find((u) => u.level === 'ERROR');
  const failureAt = (lastRun?.status === 'FAILED' ? lastRun.endedAt : null) ?? lastError?.timestamp ?? now.toISOString();
  const filters = spec.relationalTableFilters;
  return {
    id: spec.id,
    projectId: job.projectId,
    // A job whose start was refused never ran: RM has no "not started" status, so it reads as cancelled.
    status: live.status ?? 'CANCELLED',
    cdcStatus: live.cdcStatus,
    options: {
      dropCollections: spec.options.dropCollections ?? false,
      mode: spec.mode,
      errorHandling: spec.options.errorHandling ?? 'FAIL',
      errorTolerance: spec.options.errorTolerance ?? 0,
    },
    jdbcConnectionString: job.echo.jdbcConnectionString,
    mongoDbConnectionString: job.echo.mongoDbConnectionString,
    ...(job.echo.atlasMetadata ? { atlasMetadata: job.echo.atlasMetadata } : {}),
    submittedAt: job.submittedAt,
    statistics,
    // Only a CDC_ONLY run's start is its CDC phase's start; when a snapshot came first, that moment is not recorded.
    ...(cdc
      ? {
          cdcStatistics: {
            ...(startedAt && spec.mode === 'CDC_ONLY' ? { startedAt } : {}),
            ...(current && live.cdcActivity
              ? {
                  ...(live.cdcActivity.lastEventTime ? { lastEventTime: live.cdcActivity.lastEventTime } : {}),
                  eventsInLastHour: live.cdcActivity.eventsInLastHour,
                  eventsInLastMinute: live.cdcActivity.eventsInLastMinute,
                }
              : {}),
            totalEventsSeen: counters.cdcEvents ?? 0,
          },
        }
      : {}),
    jobUpdates: v.updates.map(toRmUpdate),
    ...(live.status === 'FAILED' && live.error
      ? { failureError: { errorType: live.error.code, message: live.error.message, failureAt, setupError: lastError?.stage === 'INITIALIZATION' } }
      : {}),
    metadata: { verificationRequested: job.echo.verificationRequested },
    ...(filters
      ? {
          relationalTableFilters: Object.fromEntries(
            Object.entries(filters).map(([schema, tables]) => [
              schema,
              Object.fromEntries(
                Object.entries(tables).map(([table, f]) => [
                  table,
                  { ...(f.whereClause !== undefined ? { whereClause: f.whereClause } : {}), ...(f.rowCount !== undefined ? { rowCount: f.rowCount } : {}) },
                ]),
              ),
            ]),
          ),
        }
      : {}),
  };
}

const dateTime = { type: 'string', format: 'date-time' } as const;
const rmErrorSchema = (description: string) =>
  ({
    type: 'object',
    description,
    required: ['message', 'timestamp'],
    properties: { jobId: { type: 'string', pattern: '^[A-Za-z0-9-]+$' }, message: { type: 'string' }, description: { type: 'string' }, timestamp: dateTime },
  }) as const;

export const rmError440 = rmErrorSchema('Invalid as connection string did not contain a database name');
export const rmError470 = rmErrorSchema('Migration job already running');

/** RM's job response schema. */
export const jobViewSchema = {
  type: 'object',
  required: ['id', 'projectId', 'status', 'options', 'submittedAt'],
  properties: {
    id: { type: 'string', pattern: '^[A-Za-z0-9-]+$' },
    projectId: { type: 'string', pattern: '^[A-Za-z0-9-]+$' },
    status: { type: 'string', enum: ['RUNNING', 'FAILED', 'CANCELLING', 'CANCELLED', 'COMPLETED', 'CLEANING_UP'] },
    cdcStatus: { type: 'string', enum: ['NOT_STARTED', 'RUNNING', 'COMPLETING', 'COMPLETED', 'FAILED', 'CANCELLED', 'PAUSED'], default: 'NOT_STARTED' },
    verificationJobId: { type: 'string' },
    options: { ...rmOptions, required: ['mode'] },
    jdbcConnectionString: { type: 'string' },
    mongoDbConnectionString: { type: 'string' },
    atlasMetadata: {
      type: 'object',
      properties: { mongoDbProjectName: { type: 'string' }, mongoDbProjectId: { type: 'string' }, mongoDbClusterName: { type: 'string' } },
    },
    submittedAt: dateTime,
    statistics: {
      type: 'object',
      additionalProperties: false,
      properties: {
        startedAt: dateTime,
        elapsedSeconds: { type: 'integer' },
        remainingTableCount: { type: 'integer' },
        processingTables: { type: 'array', items: { type: 'string' } },
        totalEventsSeen: { type: 'integer', default: 0 },
        snapshotCompleted: { type: 'boolean', default: false },
        totalTableCount: { type: 'integer' },
        totalEvents: { type: 'integer' },
        totalEventSize: { type: 'integer' },
      },
    },
    cdcStatistics: {
      type: 'object',
      additionalProperties: false,
      properties: {
        startedAt: dateTime,
        lastEventTime: dateTime,
        // Measured by the process running the job; left out (not defaulted to 0) otherwise.
        eventsInLastHour: { type: 'integer' },
        eventsInLastMinute: { type: 'integer' },
        totalEventsSeen: { type: 'integer', default: 0 },
      },
    },
    jobUpdates: {
      type: 'array',
      items: {
        type: 'object',
        required: ['eventType', 'message', 'timestamp'],
        properties: {
          eventType: { type: 'string', enum: ['ERROR', 'WARNING', 'INFO'] },
          stage: { type: 'string', enum: ['SNAPSHOTTING', 'STREAMING', 'VERIFICATION'] },
          message: { type: 'string' },
          details: { type: 'string' },
          timestamp: dateTime,
          stackTrace: { type: 'string' },
          errorCode: { type: 'string' },
          suggestion: { type: 'string' },
          locationType: { type: 'string', enum: ['TABLE', 'COLLECTION'] },
          locationName: { type: 'string' },
          fieldName: { type: 'string' },
          key: { type: 'object', additionalProperties: { type: 'string' } },
          count: { type: 'integer' },
        },
      },
    },
    failureError: {
      type: 'object',
      additionalProperties: false,
      required: ['errorType', 'message', 'failureAt', 'setupError'],
      properties: { errorType: { type: 'string' }, message: { type: 'string' }, failureAt: dateTime, setupError: { type: 'boolean', default: false } },
    },
    metadata: {
      type: 'object',
      additionalProperties: false,
      properties: {
        telemetryUserId: { type: 'string' },
        verificationRequested: { type: 'boolean', default: false },
        verificationStatus: { type: 'string', enum: ['VERIFYING', 'FAILED', 'CANCELLING', 'CANCELLED', 'VERIFIED', 'ABORTED'] },
      },
    },
    relationalTableFilters: tableFilters,
  },
} as const;
