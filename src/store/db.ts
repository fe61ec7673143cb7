/**
 * Opens the SQLite state store in the data dir and brings its schema up to date.
 * WAL journal with synchronous=FULL: a committed write survives kill -9 (and a
 * power cut), which is what positions and stream state rely on.
 */
import fs from 'node:fs';
import path from 'node:path';
import Database from 'better-sqlite3';
import { MIGRATIONS, type Migration } from './migrations';

export type Db = Database.Database;

export const STORE_FILE = 'sluice.db';

export function ensureDataDir(dataDir: string): string {
  const dir = path.resolve(dataDir);
  fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
  return dir;
}

export function openDatabase(dataDir: string, migrations: Migration[] = MIGRATIONS): Db {
  const dir = ensureDataDir(dataDir);
  const db = new Database(path.join(dir, STORE_FILE));
  db.pragma('journal_mode = WAL');
  db.pragma('synchronous = FULL');
  db.pragma('foreign_keys = ON');
  db.pragma('busy_timeout = 5000');
  migrate(db, migrations);
  return db;
}

export function schemaVersion(db: Db): number {
  return (db.pragma('user_version', { simple: true }) as number) ?? 0;
}

export function migrate(db: Db, migrations: Migration[]): number {
  const sorted = [...migrations].sort((a, b) => a.version - b.version);
  const current = schemaVersion(db);
  const latest = sorted.at(-1)?.version ?? 0;
  if (current > latest) {
    throw new Error(
      `The state store has schema version ${current}, newer than this sluice knows (${latest}); run a newer sluice or restore a backup.`,
    );
  }
  for (const m of sorted) {
    if (m.version <= current) continue;
    db.transaction(() => {
      db.exec(m.sql);
      db.pragma(`user_version = ${m.version}`);
    })();
  }
  return schemaVersion(db);
}
