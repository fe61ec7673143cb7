/**
 * Names are unique per kind of resource (connections, streams, mappings), compared
 * case-insensitively (issue 22: `pg` and `PG` both existed): two names are the same
 * when they are equal after Unicode compatibility normalisation (NFKC: a fullwidth
 * "ｐｇ" is "pg"), trimming, collapsing inner white space and case folding. Which
 * characters a name may hold is the API's rule (NAME_PATTERN in src/api/schemas.ts).
 */
import type { Db } from './db';
import { SluiceError } from '../errors';

export function nameKey(name: string): string {
  return name.normalize('NFKC').trim().replace(/\s+/g, ' ').toUpperCase().toLowerCase();
}

/** Whether another row of `table` (not `exceptId`) has the same name as `name`. */
export function nameTakenIn(db: Db, table: 'connections' | 'streams' | 'mappings', name: string, exceptId?: string): boolean {
  const key = nameKey(name);
  for (const r of db.prepare(`SELECT id, name FROM ${table}`).iterate() as Iterable<{ id: string; name: string }>) {
    if (r.id !== exceptId && nameKey(r.name) === key) return true;
  }
  return false;
}

const TAKEN = { connections: ['CONNECTION_NAME_TAKEN', 'connection'], streams: ['STREAM_NAME_TAKEN', 'stream'], mappings: ['MAPPING_NAME_TAKEN', 'mapping'] } as const;

/**
 * Throws the table's NAME_TAKEN error when the name is taken. Called inside the write's
 * transaction: with async callers, a check made before the write lets two requests
 * both find the name free.
 */
export function assertNameFree(db: Db, table: 'connections' | 'streams' | 'mappings', name: string, exceptId?: string): void {
  if (!nameTakenIn(db, table, name, exceptId)) return;
  const [code, what] = TAKEN[table];
  throw new SluiceError(code, `A ${what} named "${name}" exists.`, { field: 'name' });
}
