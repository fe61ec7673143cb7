/** The supervisor's persistence port, implemented on the state store (any StateStore). */
import type { StreamPersistence, StreamStateRecord } from '../runtime/persistence';
import { RESUMABLE_STATES, isStreamState } from '../runtime/lifecycle';
import type { StateStore } from './state-store';

/** The writes of a run: each goes through `store.writes` (guardWrites). */
const WRITES = ['saveState', 'startRun', 'finishRun', 'addJobUpdate', 'savePosition', 'markSnapshotDone', 'addDeadLetter', 'resetSnapshot', 'resetPositions'] as const;

/**
 * A disk full or a read-only data dir makes a run's write reject with STATE_STORE_WRITE_FAILED
 * (and /readyz say so) instead of the store's own error.
 */
export function storePersistence(store: StateStore): StreamPersistence {
  const p = plainPersistence(store);
  for (const name of WRITES) {
    const write = p[name] as ((...args: unknown[]) => Promise<unknown>) | undefined;
    if (write) Object.assign(p, { [name]: (...args: unknown[]) => store.writes.guard(() => write(...args)) });
  }
  return p;
}

function plainPersistence(store: StateStore): StreamPersistence {
  return {
    getConnection: (id, password) => store.connections.resolve(id, password),
    getStream: async (id) => (await store.streams.get(id))?.spec,
    getMapping: async (id) => {
      const m = await store.mappings.get(id);
      return m ? { tables: m.tables } : undefined;
    },
    async getState(streamId): Promise<StreamStateRecord | undefined> {
      const s = await store.streams.get(streamId);
      if (!s || !isStreamState(s.state)) return undefined;
      return { state: s.state, error: s.error ? JSON.parse(s.error) : null };
    },
    saveState: (streamId, record) => store.streams.setState(streamId, record.state, record.error ? JSON.stringify(record.error) : null),
    listStreamsToResume: () => store.streams.idsInStates([...RESUMABLE_STATES]),
    startRun: (streamId) => store.runs.start(streamId),
    finishRun: (runId, result) =>
      store.runs.finish(runId, {
        status: result.status,
        counters: { ...result.counters },
        failureError: result.failureError ? JSON.stringify(result.failureError) : null,
      }),
    addJobUpdate: (streamId, runId, update) => store.runs.addUpdate(streamId, runId, update),
    loadPosition: (streamId, phase) => store.positions.load(streamId, phase),
    savePosition: (streamId, phase, position) => store.positions.save(streamId, phase, position),
    markSnapshotDone: (streamId) => store.positions.markSnapshotDone(streamId),
    isSnapshotDone: (streamId) => store.positions.isSnapshotDone(streamId),
    addDeadLetter: (letter) => store.deadLetters.add(letter),
    resetSnapshot: (streamId) => store.positions.resetSnapshot(streamId),
    resetPositions: (streamId) => store.positions.reset(streamId),
  };
}
