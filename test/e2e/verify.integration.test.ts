/**
 * POST /streams/{id}/verify through the real daemon: PostgreSQL (and MariaDB) →
 * FerretDB. After the snapshot it passes; after tampering with MongoDB (a document
 * deleted, a field changed, one added) it fails listing exactly those keys; a
 * filtered stream (whereClause, rowCount, excludeColumns) passes, so the filters are
 * honoured. metadata.verificationStatus follows, persisted with the stream.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Long } from 'mongodb';
import { cdcRunning, start, streamStatus, withStream } from '../helpers/pipeline';

const verify = async (d: Parameters<Parameters<typeof withStream>[1]>[0]['d'], id: string, body?: unknown) => {
  const r = await d.api(`/api/v1/streams/${id}/verify`, { method: 'POST', ...(body === undefined ? {} : { body }) });
  assert.equal(r.status, 200, JSON.stringify(r.body));
  return r.body;
};

for (const source of ['postgresql', 'mysql'] as const) {
  test(`verify passes after the snapshot, fails with exactly the tampered keys, and sets verificationStatus (${source})`, { timeout: 180_000 }, async () => {
    await withStream({ source, rows: 60 }, async ({ d, streamId, table, collection, db }) => {
      assert.deepEqual((await streamStatus(d, streamId) as any).metadata, { verificationRequested: false });
      await start(d, streamId);
      await cdcRunning(d, streamId);
      const name = table.includes('.') ? table : undefined;
      const ok = await verify(d, streamId);
      assert.equal(ok.status, 'PASSED', JSON.stringify(ok));
      assert.equal(ok.verificationStatus, 'VERIFIED');
      assert.equal(ok.tables.length, 1);
      const t = ok.tables[0];
      assert.equal(t.collection, collection);
      if (name) assert.equal(t.table, name);
      assert.deepEqual([t.sourceCount, t.sinkCount, t.missing, t.extra, t.different, t.differences], [60, 60, 0, 0, 0, []]);
      assert.equal((await streamStatus(d, streamId) as any).metadata.verificationStatus, 'VERIFIED');

      const coll = db.collection(collection);
      assert.equal((await coll.deleteOne({ _id: Long.fromNumber(5) as never })).deletedCount, 1);
      assert.equal((await coll.updateOne({ _id: Long.fromNumber(7) as never }, { $set: { note: 'tampered' } })).modifiedCount, 1);
      const sample = await coll.findOne({ _id: Long.fromNumber(8) as never });
      await coll.insertOne({ ...sample, _id: Long.fromNumber(100000) as never, id: Long.fromNumber(100000) });
      const bad = await verify(d, streamId);
      assert.equal(bad.status, 'FAILED');
      assert.equal(bad.verificationStatus, 'FAILED');
      const b = bad.tables[0];
      assert.deepEqual([b.sourceCount, b.sinkCount, b.missing, b.extra, b.different], [60, 60, 1, 1, 1]);
      assert.deepEqual(b.differences, [
        { key: { id: '5' }, kind: 'missing' },
        { key: { id: '7' }, kind: 'different', fields: ['note'] },
        { key: { id: '100000' }, kind: 'extra' },
      ]);
      // maxDifferences caps the list, not the counts.
      const capped = await verify(d, streamId, { maxDifferences: 1, chunkSize: 7 });
      assert.deepEqual([capped.tables[0].missing, capped.tables[0].extra, capped.tables[0].different, capped.tables[0].differences.length], [1, 1, 1, 1]);
      const shown = await streamStatus(d, streamId) as any;
      assert.deepEqual([shown.metadata.verificationRequested, shown.metadata.verificationStatus], [true, 'FAILED']);

      // Refusals: an unknown table in the body, an unknown field, an unknown stream.
      const notMine = await d.api(`/api/v1/streams/${streamId}/verify`, { method: 'POST', body: { tables: ['public.not_this_one'] } });
      assert.equal(notMine.status, 400);
      assert.equal(notMine.body.error.code, 'VALIDATION_FAILED');
      const unknownField = await d.api(`/api/v1/streams/${streamId}/verify`, { method: 'POST', body: { max: 1 } });
      assert.equal(unknownField.body.error.code, 'VALIDATION_FAILED');
      assert.equal((await d.api('/api/v1/streams/no-such-stream/verify', { method: 'POST' })).status, 404);
    });
  });
}

test('a filtered stream (whereClause, rowCount, excludeColumns) verifies PASSED: the filters are honoured', { timeout: 180_000 }, async () => {
  const filters = (table: string) => {
    const [schema, name] = table.split('.') as [string, string];
    return { relationalTableFilters: { [schema]: { [name]: { whereClause: "n % 3 = 0 OR note LIKE '%7'", rowCount: 25, excludeColumns: ['amount'] } } } };
  };
  await withStream({ rows: 200, extra: filters }, async ({ d, streamId, collection, db }) => {
    await start(d, streamId);
    await cdcRunning(d, streamId);
    const r = await verify(d, streamId);
    assert.equal(r.status, 'PASSED', JSON.stringify(r));
    assert.deepEqual([r.tables[0].sourceCount, r.tables[0].sinkCount], [25, 25]);
    assert.equal(await db.collection(collection).countDocuments({ amount: { $exists: true } }), 0, 'amount is excluded in MongoDB');
    // The filter really matters: a document outside it is an extra.
    await db.collection(collection).insertOne({ _id: Long.fromNumber(2) as never, id: Long.fromNumber(2), n: 2, note: 'row 2' });
    const f = await verify(d, streamId);
    assert.equal(f.status, 'FAILED');
    assert.deepEqual(f.tables[0].differences, [{ key: { id: '2' }, kind: 'extra' }]);
  });
});
