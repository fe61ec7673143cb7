/** Streams: the spec as sent (validated by the API), plus the persisted lifecycle state. */
import crypto from 'node:crypto';
import type { Db } from './db';
import { listRows, nowIso, parseJson, type ListQuery, type Page } from './list';
import type { StreamSpec } from '../core';
import { assertNameFree, nameTakenIn } from './names';
import { SluiceError } from '../errors';

export type StreamInput = Omit<StreamSpec, 'id'>;

export interface StreamRecord {
  spec: StreamSpec;
  state: string;
  error: string | null;
  createdAt: string;
  updatedAt: string;
}

interface Raw {
  id: string;
  name: string;
  spec: string;
  state: string;
  error: string | null;
  created_at: string;
  updated_at: string;
}

/**
 * Relational Migrator's `metadata` of a job: whether a verification was asked for and
 * where it got to. Kept in the store's key/value `meta` table under
 * `stream-metadata:<id>` (no schema migration), removed with the stream.
 */
export interface StreamMetadata {
  verificationRequested: boolean;
  verificationStatus?: string;
  /** When the last verification finished (not a Relational Migrator field; kept beside it). */
  verifiedAt?: string;
}

const metaKey = (id: string): string => `stream-metadata:${id}`;

const LIST = {
  table: 'streams',
  columns: { id: 'id', name: 'name', state: 'state', createdAt: 'created_at', updatedAt: 'updated_at' },
  defaultSort: 'createdAt',
};

const toRecord = (r: Raw): StreamRecord => ({
  spec: { ...parseJson<StreamInput>(r.spec, {} as StreamInput), id: r.id },
  state: r.state,
  error: r.error,
  createdAt: r.created_at,
  updatedAt: r.updated_at,
});

/** The connections a stream spec names, by field: source, sink and (Kafka) transport. */
export function connectionFieldsOf(spec: Pick<StreamInput, 'source' | 'sink' | 'transport'>): [string, string][] {
  const fields: [string, unknown][] = [
    ['source.connectionId', spec.source?.connectionId],
    ['sink.connectionId', spec.sink?.connectionId],
    ['transport.connectionId', (spec.transport as { connectionId?: unknown } | undefined)?.connectionId],
  ];
  return fields.filter((f): f is [string, string] => typeof f[1] === 'string');
}

/** VALIDATION_FAILED for a stream field naming a connection that does not exist. */
export function missingConnection(field: string, id: string): SluiceError {
  return new SluiceError('VALIDATION_FAILED', `body field "${field}" names connection ${id}, which does not exist`, { field, id });
}

/** MAPPING_NOT_FOUND for a stream's "mapping.mappingId" naming a mapping that does not exist. */
export function missingMapping(id: string): SluiceError {
  return new SluiceError('MAPPING_NOT_FOUND', `body field "mapping.mappingId" names mapping ${id}, which does not exist`, { field: 'mapping.mappingId', id });
}

/** In the write's transaction: a connection or mapping deleted since the API checked the spec is not referenced. */
function assertRefsExist(db: Db, input: StreamInput): void {
  const exists = db.prepare('SELECT 1 FROM connections WHERE id = ?');
  for (const [field, id] of connectionFieldsOf(input)) {
    if (!exists.get(id)) throw missingConnection(field, id);
  }
  const mappingId = (input.mapping as { mappingId?: unknown } | undefined)?.mappingId;
  if (typeof mappingId === 'string' && !db.prepare('SELECT 1 FROM mappings WHERE id = ?').get(mappingId)) {
    throw missingMapping(mappingId);
  }
}

export function createStreamRepo(db: Db) {
  const byId = db.prepare('SELECT * FROM streams WHERE id = ?');
  return {
    create(input: StreamInput): StreamRecord {
      const id = crypto.randomUUID();
      const at = nowIso();
      return db.transaction(() => {
        assertNameFree(db, 'streams', input.name);
        assertRefsExist(db, input);
        db.prepare('INSERT INTO streams (id, name, spec, state, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?)').run(id, input.name, JSON.stringify(input), 'CREATED', at, at);
        return toRecord(byId.get(id) as Raw);
      })();
    },
    get(id: string): StreamRecord | undefined {
      const r = byId.get(id) as Raw | undefined;
      return r && toRecord(r);
    },
    /** Case-insensitively (names.ts). */
    nameTaken(name: string, exceptId?: string): boolean {
      return nameTakenIn(db, 'streams', name, exceptId);
    },
    list(q: ListQuery): Page<StreamRecord> {
      const page = listRows<Raw>(db, LIST, q);
      return { ...page, items: page.items.map(toRecord) };
    },
    update(id: string, input: StreamInput): StreamRecord | undefined {
      return db.transaction(() => {
        if (!byId.get(id)) return undefined;
        assertNameFree(db, 'streams', input.name, id);
        assertRefsExist(db, input);
        db.prepare('UPDATE streams SET name = ?, spec = ?, updated_at = ? WHERE id = ?').run(input.name, JSON.stringify(input), nowIso(), id);
        return toRecord(byId.get(id) as Raw);
      })();
    },
    /** The stream, its metadata and (by cascade) its runs, job updates, positions and dead letters, in one transaction. */
    delete(id: string): boolean {
      return db.transaction(() => {
        db.prepare('DELETE FROM meta WHERE key = ?').run(metaKey(id));
        return db.prepare('DELETE FROM streams WHERE id = ?').run(id).changes > 0;
      })();
    },
    metadata(id: string): StreamMetadata {
      const r = db.prepare('SELECT value FROM meta WHERE key = ?').get(metaKey(id)) as { value: string } | undefined;
      return { verificationRequested: false, ...(r ? parseJson<Partial<StreamMetadata>>(r.value, {}) : {}) };
    },
    /** Reads, changes and writes the metadata in one transaction; nothing is written for a stream that is gone. */
    updateMetadata(id: string, change: (current: StreamMetadata) => StreamMetadata): StreamMetadata | undefined {
      return db.transaction(() => {
        if (!byId.get(id)) return undefined;
        const next = change(this.metadata(id));
        db.prepare('INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value').run(metaKey(id), JSON.stringify(next));
        return next;
      })();
    },
    setState(id: string, state: string, error: string | null = null): void {
      db.prepare('UPDATE streams SET state = ?, error = ?, updated_at = ? WHERE id = ?').run(state, error, nowIso(), id);
    },
    /** Every stream id, oldest first (the daemon arms the scheduled ones at start). */
    allIds(): string[] {
      return (db.prepare('SELECT id FROM streams ORDER BY created_at').all() as { id: string }[]).map((r) => r.id);
    },
    idsInStates(states: readonly string[]): string[] {
      if (states.length === 0) return [];
      const rows = db.prepare(`SELECT id FROM streams WHERE state IN (${states.map(() => '?').join(',')}) ORDER BY created_at`).all(...states);
      return (rows as { id: string }[]).map((r) => r.id);
    },
  };
}

export type StreamRepo = ReturnType<typeof createStreamRepo>;
