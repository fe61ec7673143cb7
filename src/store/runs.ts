/** Run history and job updates (Relational Migrator's jobUpdates) of every stream. */
import crypto from 'node:crypto';
import type { Db } from './db';
import { listRows, nowIso, parseJson, type ListQuery, type Page } from './list';

export interface RunRecord {
  id: string;
  streamId: string;
  startedAt: string;
  endedAt: string | null;
  status: string;
  counters: Record<string, number>;
  /** Why the run failed: { code, message, suggestion? }. */
  failureError: { code: string; message: string; suggestion?: string } | null;
}

export type JobUpdateLevel = 'ERROR' | 'WARNING' | 'INFO';

export interface JobUpdateInput {
  level: JobUpdateLevel;
  stage: string;
  message: string;
  errorCode?: string;
  suggestion?: string;
  detail?: Record<string, unknown>;
}

export interface JobUpdateRecord extends JobUpdateInput {
  id: number;
  streamId: string;
  runId: string | null;
  timestamp: string;
}

interface RunRaw {
  id: string;
  stream_id: string;
  started_at: string;
  ended_at: string | null;
  status: string;
  counters: string;
  failure_error: string | null;
}

interface UpdateRaw {
  id: number;
  stream_id: string;
  run_id: string | null;
  ts: string;
  level: JobUpdateLevel;
  stage: string;
  message: string;
  error_code: string | null;
  suggestion: string | null;
  detail: string | null;
}

const RUNS = {
  table: 'runs',
  columns: { id: 'id', startedAt: 'started_at', endedAt: 'ended_at', status: 'status' },
  defaultSort: '-startedAt',
  where: 'stream_id = @streamId',
};

const UPDATES = {
  table: 'job_updates',
  columns: { id: 'id', timestamp: 'ts', level: 'level', stage: 'stage', runId: 'run_id', errorCode: 'error_code' },
  defaultSort: 'id',
  where: 'stream_id = @streamId',
};

const toRun = (r: RunRaw): RunRecord => ({
  id: r.id,
  streamId: r.stream_id,
  startedAt: r.started_at,
  endedAt: r.ended_at,
  status: r.status,
  counters: parseJson(r.counters, {}),
  failureError: parseJson(r.failure_error, null),
});

const toUpdate = (r: UpdateRaw): JobUpdateRecord => ({
  id: r.id,
  streamId: r.stream_id,
  runId: r.run_id,
  timestamp: r.ts,
  level: r.level,
  stage: r.stage,
  message: r.message,
  ...(r.error_code ? { errorCode: r.error_code } : {}),
  ...(r.suggestion ? { suggestion: r.suggestion } : {}),
  ...(r.detail ? { detail: parseJson(r.detail, {}) } : {}),
});

export function createRunRepo(db: Db) {
  return {
    start(streamId: string, status = 'RUNNING'): string {
      const id = crypto.randomUUID();
      db.prepare('INSERT INTO runs (id, stream_id, started_at, status) VALUES (?, ?, ?, ?)').run(id, streamId, nowIso(), status);
      return id;
    },
    finish(runId: string, end: { status: string; counters?: Record<string, number>; failureError?: string | null }): void {
      db.prepare('UPDATE runs SET ended_at = ?, status = ?, counters = ?, failure_error = ? WHERE id = ?').run(
        nowIso(),
        end.status,
        JSON.stringify(end.counters ?? {}),
        end.failureError ?? null,
        runId,
      );
    },
    /** Runs a crash left open: closed at the next start, so history never shows a ghost RUNNING run. */
    closeAbandoned(): number {
      return db.prepare("UPDATE runs SET ended_at = ?, status = 'INTERRUPTED' WHERE ended_at IS NULL").run(nowIso()).changes;
    },
    get(runId: string): RunRecord | undefined {
      const r = db.prepare('SELECT * FROM runs WHERE id = ?').get(runId) as RunRaw | undefined;
      return r && toRun(r);
    },
    list(streamId: string, q: ListQuery): Page<RunRecord> {
      const page = listRows<RunRaw>(db, RUNS, q, { streamId });
      return { ...page, items: page.items.map(toRun) };
    },
    /**
     * Clears a stream's finished runs (a run still open stays) and the job updates
     * they wrote; returns how many runs went.
     */
    deleteFinished(streamId: string): { runs: number; updates: number } {
      return db.transaction(() => {
        const updates = db
          .prepare('DELETE FROM job_updates WHERE stream_id = ? AND run_id IN (SELECT id FROM runs WHERE stream_id = ? AND ended_at IS NOT NULL)')
          .run(streamId, streamId).changes;
        const runs = db.prepare('DELETE FROM runs WHERE stream_id = ? AND ended_at IS NOT NULL').run(streamId).changes;
        return { runs, updates };
      })();
    },
    addUpdate(streamId: string, runId: string | null, u: JobUpdateInput): void {
      db.prepare(
        `INSERT INTO job_updates (stream_id, run_id, ts, level, stage, message, error_code, suggestion, detail)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`,
      ).run(streamId, runId, nowIso(), u.level, u.stage, u.message, u.errorCode ?? null, u.suggestion ?? null, u.detail ? JSON.stringify(u.detail) : null);
    },
    listUpdates(streamId: string, q: ListQuery): Page<JobUpdateRecord> {
      const page = listRows<UpdateRaw>(db, UPDATES, q, { streamId });
      return { ...page, items: page.items.map(toUpdate) };
    },
  };
}

export type RunRepo = ReturnType<typeof createRunRepo>;
