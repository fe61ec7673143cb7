/**
 * BIGINT UNSIGNED keys (Laravel's `$table->id()`) from MariaDB to FerretDB through the
 * daemon, snapshot and CDC (direct transport):
 * - bigintUnsignedHandling "long" (the default): the documents' _id is an int64 (Long), so
 *   `{_id: 7}` finds id 7. A value above 2^63-1 is a record error VALUE_OUT_OF_RANGE naming
 *   the table, key, column and value: SKIP dead-letters it (snapshot and CDC, key and
 *   non-key column), FAIL stops the stream with the code. Nothing wraps to a negative.
 * - "precise": exact decimals (FerretDB has no Decimal128: the exact text), 2^64-1 included.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { cdcRunning, createStream, E2E_ADMIN_KEY, mongoDb, start, streamStatus, uid } from '../helpers/pipeline';
import { myClient, myDatabase } from '../helpers/mysql-pipeline';
import { startDaemon, tmpDataDir } from '../helpers/daemon';
import { waitFor } from '../helpers/wait-for';

const MAX = '18446744073709551615'; // 2^64-1
const ABOVE = '9223372036854775808'; // 2^63
const SNAPSHOT_ROWS = [1, 2, 3, 7];

test('BIGINT UNSIGNED ids reach FerretDB as int64 (found by {_id: 7}); above 2^63-1 a VALUE_OUT_OF_RANGE record error under SKIP and FAIL; precise keeps exact decimals', { timeout: 300000 }, async () => {
  const tag = `bu_${uid()}`;
  const my = await myClient();
  const myDb = myDatabase();
  const mongo = await mongoDb(tag);
  const t = { skip: `${tag}_skip`, fail: `${tag}_fail`, precise: `${tag}_precise` };
  for (const table of Object.values(t)) {
    await my.query(`CREATE TABLE ${table} (id bigint unsigned PRIMARY KEY, ref bigint unsigned, note varchar(40))`);
    for (const id of SNAPSHOT_ROWS) await my.query(`INSERT INTO ${table} VALUES (?, ?, ?)`, [id, id * 10, `row ${id}`]);
  }
  // The snapshot's poison rows (the FAIL stream gets its own in CDC).
  for (const table of [t.skip, t.precise]) await my.query(`INSERT INTO ${table} VALUES (${MAX}, 1, 'max')`);

  const d = await startDaemon(tmpDataDir(), {}, { adminKey: E2E_ADMIN_KEY });
  const options = { heartbeatIntervalMs: 1000, snapshotChunkSize: 2 };
  const stream = async (name: string, table: string, extra: Record<string, unknown>) =>
    (await createStream(d, { name: `${tag}-${name}`, mongoDb: `${tag}_${name}`, tables: [`${myDb}.${table}`], mode: 'CDC', sourceKind: 'mysql', options: { ...options, ...extra } })).streamId;
  try {
    const skip = await stream('skip', t.skip, { errorHandling: 'SKIP', errorTolerance: 10 });
    const fail = await stream('fail', t.fail, { errorHandling: 'FAIL' });
    const precise = await stream('precise', t.precise, { bigintUnsignedHandling: 'precise' });
    for (const id of [skip, fail, precise]) await start(d, id);
    for (const id of [skip, fail, precise]) await cdcRunning(d, id);

    // CDC: a good row, an update, a key above 2^63-1 and a non-key column above it.
    for (const table of [t.skip, t.precise]) {
      await my.query(`INSERT INTO ${table} VALUES (8, 80, 'row 8')`);
      await my.query(`UPDATE ${table} SET note = 'seven' WHERE id = 7`);
      await my.query(`INSERT INTO ${table} VALUES (${ABOVE}, 2, 'above')`);
      await my.query(`INSERT INTO ${table} VALUES (9, ${MAX}, 'ref max')`);
      await my.query(`INSERT INTO ${table} VALUES (10, 100, 'row 10')`);
    }
    const coll = (name: keyof typeof t) => mongo.client.db(`${tag}_${name}`).collection(t[name]);

    // ---- long + SKIP ----
    await waitFor(async () => (await coll('skip').countDocuments({ _id: 10 as never })) === 1, { timeoutMs: 120000, intervalMs: 250, message: 'SKIP stream: row 10 written' });
    const docs = await coll('skip').find({}, { promoteLongs: false }).sort({ _id: 1 }).toArray();
    assert.deepEqual(docs.map((x) => String(x._id)), ['1', '2', '3', '7', '8', '10']);
    for (const doc of docs) {
      assert.equal((doc._id as { _bsontype?: string })._bsontype, 'Long', `_id ${String(doc._id)} is an int64`);
      assert.equal((doc.ref as { _bsontype?: string })._bsontype, 'Long', `ref of ${String(doc._id)} is an int64`);
    }
    const seven = await coll('skip').findOne({ _id: 7 as never });
    assert.deepEqual(seven && { id: Number(seven._id), ref: Number(seven.ref), note: seven.note }, { id: 7, ref: 70, note: 'seven' }, '{_id: 7} finds id 7');
    const s = await streamStatus(d, skip);
    assert.equal(s.state, 'STREAMING', JSON.stringify(s.failureError));
    assert.deepEqual({ failed: s.statistics.eventsFailed, dead: s.statistics.deadLettered }, { failed: 3, dead: 3 });
    const letters = (await d.api(`/api/v1/streams/${skip}/dead-letters?sort=id`)).body.items as Array<Record<string, any>>;
    assert.deepEqual(
      letters.map((l) => ({ table: l.table, key: l.key, field: l.field, errorCode: l.errorCode, stage: l.stage })),
      [
        { table: `${myDb}.${t.skip}`, key: { id: MAX }, field: 'id', errorCode: 'VALUE_OUT_OF_RANGE', stage: 'SNAPSHOT' },
        { table: `${myDb}.${t.skip}`, key: { id: ABOVE }, field: 'id', errorCode: 'VALUE_OUT_OF_RANGE', stage: 'CDC' },
        { table: `${myDb}.${t.skip}`, key: { id: '9' }, field: 'ref', errorCode: 'VALUE_OUT_OF_RANGE', stage: 'CDC' },
      ],
    );
    assert.match(letters[0]!.errorMessage, new RegExp(`integer ${MAX} is outside int64`));
    assert.match(letters[2]!.errorMessage, new RegExp(`field ref: integer ${MAX} is outside int64`));

    // ---- long + FAIL: a key above 2^63-1 in CDC stops the stream ----
    await my.query(`INSERT INTO ${t.fail} VALUES (${MAX}, 1, 'max')`);
    await waitFor(async () => (await streamStatus(d, fail)).state === 'FAILED', { timeoutMs: 120000, intervalMs: 250, message: 'FAIL stream fails' });
    const fe = (await streamStatus(d, fail)).failureError as { code: string; message: string; suggestion: string };
    assert.equal(fe.code, 'VALUE_OUT_OF_RANGE', fe.message);
    for (const re of [new RegExp(`${myDb}\\.${t.fail}`), new RegExp(`key \\{"id":"${MAX}"\\}`), new RegExp(`field id: integer ${MAX} is outside int64`)]) assert.match(fe.message, re);
    assert.match(fe.suggestion, /Column "id" .*bigintUnsignedHandling to "precise"/);
    assert.deepEqual((await coll('fail').find({}).sort({ _id: 1 }).toArray()).map((x) => Number(x._id)), SNAPSHOT_ROWS);

    // ---- precise: exact decimals, 2^64-1 included (FerretDB keeps decimals as their exact text) ----
    await waitFor(async () => (await coll('precise').countDocuments({ _id: '10' as never })) === 1, { timeoutMs: 120000, intervalMs: 250, message: 'precise stream: row 10 written' });
    const exact = await coll('precise').find({}).toArray();
    assert.deepEqual(exact.map((x) => x._id).sort(), ['1', '10', '2', '3', '7', '8', '9', ABOVE, MAX].sort());
    assert.deepEqual((await coll('precise').findOne({ _id: '9' as never }))?.ref, MAX);
    assert.equal((await streamStatus(d, precise)).statistics.eventsFailed, 0);
  } finally {
    await d.stop();
    await mongo.client.close();
    for (const table of Object.values(t)) await my.query(`DROP TABLE IF EXISTS ${table}`);
    await my.end();
  }
});
