/**
 * Shared by the DDL-under-CDC tests (pg-ddl, mysql-ddl): MongoDB compared with the
 * source over the table's columns after the DDL, and a stream's failure.
 */
import assert from 'node:assert/strict';
import type { Db } from 'mongodb';
import type { RunningDaemon } from './daemon';
import { describe, diffRows, isEqual, sinkRows, type Difference, type Normalised } from './compare';
import { waitFor } from './wait-for';

/** Waits until MongoDB equals `sourceRows()` row by row over `columns` (key `id`); the message says what differs. */
export async function convergedOver(sourceRows: () => Promise<Map<string, Normalised>>, db: Db, collection: string, columns: string[]): Promise<Difference> {
  let last: Difference | undefined;
  const ok = await waitFor(
    async () => {
      last = diffRows(await sourceRows(), await sinkRows(db, collection, 'id', columns));
      return isEqual(last);
    },
    { timeoutMs: 120000, intervalMs: 1000, message: 'MongoDB equal to the source after the DDL' },
  ).catch((err: Error) => {
    throw new Error(`${err.message}: ${last ? describe(last) : 'no comparison'}`);
  });
  assert.ok(ok);
  return last!;
}

/** Waits for the stream to fail; returns its failureError. */
export async function streamFailure(d: RunningDaemon, streamId: string): Promise<{ code: string; message: string }> {
  const s = await waitFor(
    async () => {
      const v = (await d.api(`/api/v1/streams/${streamId}`)).body;
      return v.status === 'FAILED' ? v : null;
    },
    { timeoutMs: 60000, message: 'the stream stops' },
  );
  return s.failureError;
}
