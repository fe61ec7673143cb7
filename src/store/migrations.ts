/**
 * Schema migrations of the state store, applied in order, each once, each in its
 * own transaction. Never edit a migration that has shipped: add the next one.
 */
export interface Migration {
  version: number;
  name: string;
  sql: string;
}

export const MIGRATIONS: Migration[] = [
  {
    version: 1,
    name: 'initial',
    sql: `
      CREATE TABLE meta (
        key   TEXT PRIMARY KEY,
        value TEXT NOT NULL
      );
      CREATE TABLE connections (
        id            TEXT PRIMARY KEY,
        name          TEXT NOT NULL UNIQUE,
        kind          TEXT NOT NULL,
        url           TEXT NOT NULL,          -- password removed
        secret        TEXT,                   -- encrypted password; NULL when none or not saved
        save_password INTEGER NOT NULL DEFAULT 1,
        options       TEXT NOT NULL DEFAULT '{}',
        created_at    TEXT NOT NULL,
        updated_at    TEXT NOT NULL
      );
      CREATE TABLE streams (
        id         TEXT PRIMARY KEY,
        name       TEXT NOT NULL UNIQUE,
        spec       TEXT NOT NULL,
        state      TEXT NOT NULL DEFAULT 'CREATED',
        error      TEXT,
        created_at TEXT NOT NULL,
        updated_at TEXT NOT NULL
      );
      CREATE TABLE runs (
        id            TEXT PRIMARY KEY,
        stream_id     TEXT NOT NULL REFERENCES streams(id) ON DELETE CASCADE,
        started_at    TEXT NOT NULL,
        ended_at      TEXT,
        status        TEXT NOT NULL,
        counters      TEXT NOT NULL DEFAULT '{}',
        failure_error TEXT
      );
      CREATE INDEX runs_by_stream ON runs(stream_id, started_at);
      CREATE TABLE job_updates (
        id          INTEGER PRIMARY KEY AUTOINCREMENT,
        stream_id   TEXT NOT NULL REFERENCES streams(id) ON DELETE CASCADE,
        run_id      TEXT,
        ts          TEXT NOT NULL,
        level       TEXT NOT NULL CHECK (level IN ('ERROR', 'WARNING', 'INFO')),
        stage       TEXT NOT NULL,
        message     TEXT NOT NULL,
        error_code  TEXT,
        suggestion  TEXT,
        detail      TEXT
      );
      CREATE INDEX job_updates_by_stream ON job_updates(stream_id, id);
      CREATE TABLE api_keys (
        id           TEXT PRIMARY KEY,
        name         TEXT NOT NULL,
        role         TEXT NOT NULL CHECK (role IN ('admin', 'operator', 'viewer')),
        hash         TEXT NOT NULL,           -- sha256 of the whole key; keys are random, 256 bits
        created_at   TEXT NOT NULL,
        last_used_at TEXT,
        revoked_at   TEXT
      );
      CREATE TABLE positions (
        stream_id  TEXT NOT NULL REFERENCES streams(id) ON DELETE CASCADE,
        phase      TEXT NOT NULL CHECK (phase IN ('snapshot', 'cdc')),
        position   TEXT NOT NULL,
        updated_at TEXT NOT NULL,
        PRIMARY KEY (stream_id, phase)
      );
      CREATE TABLE snapshot_state (
        stream_id  TEXT PRIMARY KEY REFERENCES streams(id) ON DELETE CASCADE,
        done       INTEGER NOT NULL DEFAULT 0,
        updated_at TEXT NOT NULL
      );
    `,
  },
  {
    version: 2,
    name: 'dead letters',
    sql: `
      -- Records rejected under errorHandling WARN / SKIP on the direct transport (Kafka: the dead-letter topic).
      CREATE TABLE dead_letters (
        id            INTEGER PRIMARY KEY AUTOINCREMENT,
        stream_id     TEXT NOT NULL REFERENCES streams(id) ON DELETE CASCADE,
        run_id        TEXT,
        ts            TEXT NOT NULL,
        stage         TEXT NOT NULL,
        table_name    TEXT,
        record_key    TEXT,                   -- JSON
        op            TEXT,
        field         TEXT,
        event         TEXT,                   -- JSON; bigint and decimals as text
        error_code    TEXT NOT NULL,
        error_message TEXT NOT NULL,
        suggestion    TEXT,
        detail        TEXT                    -- JSON
      );
      CREATE INDEX dead_letters_by_stream ON dead_letters(stream_id, id);
    `,
  },
  {
    version: 3,
    name: 'mappings',
    sql: `
      CREATE TABLE mappings (
        id          TEXT PRIMARY KEY,
        name        TEXT NOT NULL UNIQUE,
        description TEXT,
        tables      TEXT NOT NULL DEFAULT '{}',  -- MappingSpec.tables as JSON
        created_at  TEXT NOT NULL,
        updated_at  TEXT NOT NULL
      );
    `,
  },
  {
    version: 4,
    name: 'rm_jobs',
    // Relational Migrator jobs (POST /api/v1/jobs): the job id is its stream's id; one
    // job per projectId. `request` is the job as RM shows it, passwords removed.
    sql: `
      CREATE TABLE rm_jobs (
        id           TEXT PRIMARY KEY REFERENCES streams(id) ON DELETE CASCADE,
        project_id   TEXT NOT NULL UNIQUE,
        submitted_at TEXT NOT NULL,
        request      TEXT NOT NULL
      );
    `,
  },
  {
    version: 5,
    name: 'key expiry, password files, audit trail',
    // Issue 21. An API key may expire; a connection's password may be read from a file
    // (a mounted secret) at each use instead of being stored; every mutating API call
    // leaves an audit entry (never a body: no secret can reach this table).
    sql: `
      ALTER TABLE api_keys ADD COLUMN expires_at TEXT;
      ALTER TABLE connections ADD COLUMN password_file TEXT;
      CREATE TABLE audit_log (
        id          INTEGER PRIMARY KEY AUTOINCREMENT,
        ts          TEXT NOT NULL,
        key_id      TEXT,                     -- NULL: no valid key was presented
        key_role    TEXT,
        client      TEXT NOT NULL,            -- the client's address
        method      TEXT NOT NULL,
        route       TEXT NOT NULL,            -- the route's pattern, e.g. /api/v1/streams/:id/start
        target_id   TEXT,                     -- the :id of the route, or the id a create answered with
        status      INTEGER NOT NULL,
        error_code  TEXT,
        request_id  TEXT
      );
      CREATE INDEX audit_log_by_ts ON audit_log(ts);
    `,
  },
];
