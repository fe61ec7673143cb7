/**
 * Mapping resources: named, reusable mapping rules (MappingSpec.tables) that streams
 * reference with `"mapping": {"mappingId": "…"}`. A stream reads them when a run starts.
 */
import crypto from 'node:crypto';
import type { Db } from './db';
import { listRows, nowIso, parseJson, type ListQuery, type Page } from './list';
import type { TableMapping } from '../transform/mapping/spec';
import { assertNameFree, nameTakenIn } from './names';
import { SluiceError } from '../errors';

export interface MappingInput {
  name: string;
  description?: string;
  tables: Record<string, TableMapping>;
}

export interface MappingRecord {
  id: string;
  name: string;
  description: string | null;
  tables: Record<string, TableMapping>;
  createdAt: string;
  updatedAt: string;
}

interface Raw {
  id: string;
  name: string;
  description: string | null;
  tables: string;
  created_at: string;
  updated_at: string;
}

const LIST = {
  table: 'mappings',
  columns: { id: 'id', name: 'name', createdAt: 'created_at', updatedAt: 'updated_at' },
  defaultSort: 'createdAt',
};

const toRecord = (r: Raw): MappingRecord => ({
  id: r.id,
  name: r.name,
  description: r.description,
  tables: parseJson<Record<string, TableMapping>>(r.tables, {}),
  createdAt: r.created_at,
  updatedAt: r.updated_at,
});

export function createMappingRepo(db: Db) {
  const byId = db.prepare('SELECT * FROM mappings WHERE id = ?');
  return {
    create(input: MappingInput): MappingRecord {
      const id = crypto.randomUUID();
      const at = nowIso();
      return db.transaction(() => {
        assertNameFree(db, 'mappings', input.name);
        db.prepare('INSERT INTO mappings (id, name, description, tables, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?)').run(id, input.name, input.description ?? null, JSON.stringify(input.tables), at, at);
        return toRecord(byId.get(id) as Raw);
      })();
    },
    get(id: string): MappingRecord | undefined {
      const r = byId.get(id) as Raw | undefined;
      return r && toRecord(r);
    },
    /** Case-insensitively (names.ts). */
    nameTaken(name: string, exceptId?: string): boolean {
      return nameTakenIn(db, 'mappings', name, exceptId);
    },
    list(q: ListQuery): Page<MappingRecord> {
      const page = listRows<Raw>(db, LIST, q);
      return { ...page, items: page.items.map(toRecord) };
    },
    update(id: string, input: MappingInput): MappingRecord | undefined {
      return db.transaction(() => {
        if (!byId.get(id)) return undefined;
        assertNameFree(db, 'mappings', input.name, id);
        db.prepare('UPDATE mappings SET name = ?, description = ?, tables = ?, updated_at = ? WHERE id = ?').run(input.name, input.description ?? null, JSON.stringify(input.tables), nowIso(), id);
        return toRecord(byId.get(id) as Raw);
      })();
    },
    /** Deletes a mapping no stream references, in one transaction: false when there is none, MAPPING_IN_USE naming the streams. */
    deleteIfUnused(id: string): boolean {
      return db.transaction(() => {
        if (!byId.get(id)) return false;
        const streams = this.usedBy(id);
        if (streams.length) throw new SluiceError('MAPPING_IN_USE', `Mapping ${id} is referenced by ${streams.length} stream(s).`, { id, streams });
        return db.prepare('DELETE FROM mappings WHERE id = ?').run(id).changes > 0;
      })();
    },
    /** Ids of the streams whose spec names this mapping (`mapping.mappingId`). */
    usedBy(id: string): string[] {
      const rows = db.prepare("SELECT id FROM streams WHERE json_extract(spec, '$.mapping.mappingId') = ? ORDER BY created_at").all(id);
      return (rows as { id: string }[]).map((r) => r.id);
    },
  };
}

export type MappingRepo = ReturnType<typeof createMappingRepo>;
