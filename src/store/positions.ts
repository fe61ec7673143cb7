/**
 * Source positions and snapshot progress. A position is saved only after the
 * transport acknowledged everything before it, so after kill -9 the stream
 * restarts from a point where nothing is lost (at worst some events replay, and
 * sink writes are idempotent).
 */
import type { Db } from './db';
import { nowIso } from './list';
import type { Position } from '../core';

export type Phase = 'snapshot' | 'cdc';

export function createPositionRepo(db: Db) {
  const load = db.prepare('SELECT position FROM positions WHERE stream_id = ? AND phase = ?');
  const save = db.prepare(
    `INSERT INTO positions (stream_id, phase, position, updated_at) VALUES (?, ?, ?, ?)
     ON CONFLICT (stream_id, phase) DO UPDATE SET position = excluded.position, updated_at = excluded.updated_at`,
  );
  const snapshot = db.prepare('SELECT done FROM snapshot_state WHERE stream_id = ?');
  const setSnapshot = db.prepare(
    `INSERT INTO snapshot_state (stream_id, done, updated_at) VALUES (?, ?, ?)
     ON CONFLICT (stream_id) DO UPDATE SET done = excluded.done, updated_at = excluded.updated_at`,
  );
  return {
    load(streamId: string, phase: Phase): Position | null {
      const r = load.get(streamId, phase) as { position: string } | undefined;
      return r ? (JSON.parse(r.position) as Position) : null;
    },
    save(streamId: string, phase: Phase, position: Position): void {
      save.run(streamId, phase, JSON.stringify(position), nowIso());
    },
    isSnapshotDone(streamId: string): boolean {
      return (snapshot.get(streamId) as { done: number } | undefined)?.done === 1;
    },
    markSnapshotDone(streamId: string): void {
      setSnapshot.run(streamId, 1, nowIso());
    },
    /** Forgets the snapshot's progress (not the CDC position): the next run takes a fresh snapshot. */
    resetSnapshot(streamId: string): void {
      db.transaction(() => {
        db.prepare("DELETE FROM positions WHERE stream_id = ? AND phase = 'snapshot'").run(streamId);
        db.prepare('DELETE FROM snapshot_state WHERE stream_id = ?').run(streamId);
      })();
    },
    /** Forgets everything, the CDC position too: the next run starts with a fresh snapshot (a resnapshot). */
    reset(streamId: string): void {
      db.transaction(() => {
        db.prepare('DELETE FROM positions WHERE stream_id = ?').run(streamId);
        db.prepare('DELETE FROM snapshot_state WHERE stream_id = ?').run(streamId);
      })();
    },
  };
}

export type PositionRepo = ReturnType<typeof createPositionRepo>;
