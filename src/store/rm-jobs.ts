/**
 * Relational Migrator jobs: which stream carries which RM project, when the job was
 * last submitted, and what RM echoes back (connection strings without passwords,
 * verification, Atlas metadata). The stream itself holds everything that runs.
 */
import type { Db } from './db';
import { nowIso, parseJson } from './list';

/** What GET /jobs/{id} echoes from the request; never a password. */
export interface RmJobEcho {
  jdbcConnectionString: string;
  mongoDbConnectionString: string;
  verificationRequested: boolean;
  atlasMetadata?: { mongoDbProjectName?: string; mongoDbProjectId?: string; mongoDbClusterName?: string };
}

export interface RmJobRecord {
  id: string;
  projectId: string;
  submittedAt: string;
  echo: RmJobEcho;
}

interface Raw {
  id: string;
  project_id: string;
  submitted_at: string;
  request: string;
}

const toRecord = (r: Raw): RmJobRecord => ({
  id: r.id,
  projectId: r.project_id,
  submittedAt: r.submitted_at,
  echo: parseJson<RmJobEcho>(r.request, { jdbcConnectionString: '', mongoDbConnectionString: '', verificationRequested: false }),
});

export function createRmJobRepo(db: Db) {
  return {
    get(id: string): RmJobRecord | undefined {
      const r = db.prepare('SELECT * FROM rm_jobs WHERE id = ?').get(id) as Raw | undefined;
      return r && toRecord(r);
    },
    byProject(projectId: string): RmJobRecord | undefined {
      const r = db.prepare('SELECT * FROM rm_jobs WHERE project_id = ?').get(projectId) as Raw | undefined;
      return r && toRecord(r);
    },
    /** Records a submission (a new job, or a new run of the project's job). */
    submit(id: string, projectId: string, echo: RmJobEcho): RmJobRecord {
      db.prepare(
        `INSERT INTO rm_jobs (id, project_id, submitted_at, request) VALUES (?, ?, ?, ?)
         ON CONFLICT(id) DO UPDATE SET submitted_at = excluded.submitted_at, request = excluded.request`,
      ).run(id, projectId, nowIso(), JSON.stringify(echo));
      return this.get(id)!;
    },
  };
}

export type RmJobRepo = ReturnType<typeof createRmJobRepo>;
