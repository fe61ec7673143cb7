import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Decimal, type ConnectionSpec } from '../../src/core';
import postgresConnector from './index';
import { admin, logger, postgresUrl, skipReason } from './test-support';
import { errorCode as code } from '../../test/helpers/source-driver';

const skip = skipReason();
const conn = (url = postgresUrl()!): ConnectionSpec => ({ id: 'pg', name: 'pg', kind: 'postgresql', url, options: {} });

test('describeTable: columns with types, nullability, composite primary key and foreign keys; readRows pages, filters and sorts', { skip, timeout: 60_000 }, async () => {
  const pg = await admin();
  const s = `browse_${process.pid}_${Date.now().toString(36)}`;
  try {
    await pg.query(`CREATE SCHEMA ${s}`);
    await pg.query(`CREATE TABLE ${s}.parent (a int, b text, label varchar(20) NOT NULL, PRIMARY KEY (a, b))`);
    await pg.query(`CREATE TABLE ${s}.child (id bigint PRIMARY KEY, pa int, pb text, amount numeric(12,2), at timestamptz,
                      CONSTRAINT child_parent FOREIGN KEY (pa, pb) REFERENCES ${s}.parent (a, b))`);
    await pg.query(`CREATE TABLE ${s}.nokey (x int, y text)`);
    await pg.query(`INSERT INTO ${s}.parent SELECT i % 3, 'k' || (i / 3), 'p' || i FROM generate_series(0, 8) i`);
    await pg.query(`INSERT INTO ${s}.child SELECT i, i % 3, 'k0', i * 1.25, '2024-01-01T00:00:00Z'::timestamptz + i * interval '1 hour' FROM generate_series(1, 25) i`);
    await pg.query(`INSERT INTO ${s}.nokey VALUES (1, 'a'), (2, NULL)`);

    const parent = await postgresConnector.describeTable!(conn(), { schema: s, table: 'parent' }, logger);
    assert.deepEqual(parent, {
      schema: s,
      table: 'parent',
      columns: [
        { name: 'a', type: 'integer', nullable: false, primaryKey: true },
        { name: 'b', type: 'text', nullable: false, primaryKey: true },
        { name: 'label', type: 'character varying(20)', nullable: false, primaryKey: false },
      ],
      primaryKey: ['a', 'b'],
      foreignKeys: [],
    });
    const child = await postgresConnector.describeTable!(conn(), { schema: s, table: 'child' }, logger);
    assert.deepEqual(child!.primaryKey, ['id']);
    assert.deepEqual(child!.columns.find((c) => c.name === 'amount'), { name: 'amount', type: 'numeric(12,2)', nullable: true, primaryKey: false });
    assert.deepEqual(child!.foreignKeys, [{ name: 'child_parent', columns: ['pa', 'pb'], references: { schema: s, table: 'parent', columns: ['a', 'b'] } }]);
    const nokey = await postgresConnector.describeTable!(conn(), { schema: s, table: 'nokey' }, logger);
    assert.deepEqual(nokey!.primaryKey, []);
    assert.equal(await postgresConnector.describeTable!(conn(), { schema: s, table: 'nope' }, logger), null);
    assert.equal(await postgresConnector.describeTable!(conn(), { schema: '', table: 'nope_at_all' }, logger), null);

    // Default order is the key; values decoded as the snapshot decodes them.
    const page1 = await postgresConnector.readRows!(conn(), { schema: s, table: 'child' }, { limit: 10, offset: 0 }, logger);
    assert.deepEqual(page1.rows.map((r) => r.id), [1n, 2n, 3n, 4n, 5n, 6n, 7n, 8n, 9n, 10n]);
    assert.deepEqual(page1.rows[1], { id: 2n, pa: 2, pb: 'k0', amount: new Decimal('2.50'), at: new Date('2024-01-01T02:00:00Z') });
    assert.deepEqual(page1.schema.key, ['id']);
    assert.equal(page1.schema.columns.find((c) => c.name === 'amount')!.type, 'decimal');
    const page3 = await postgresConnector.readRows!(conn(), { schema: s, table: 'child' }, { limit: 10, offset: 20 }, logger);
    assert.deepEqual(page3.rows.map((r) => r.id), [21n, 22n, 23n, 24n, 25n]);

    // where (with a string parameter) and sort, descending, and a column subset.
    const filtered = await postgresConnector.readRows!(
      conn(),
      { schema: s, table: 'child' },
      { limit: 100, offset: 0, where: "pa = 1 AND pb = 'k0' AND amount > 5", sort: [{ column: 'amount', desc: true }], columns: ['id', 'amount'] },
      logger,
    );
    assert.deepEqual(filtered.rows.map((r) => r.id), [25n, 22n, 19n, 16n, 13n, 10n, 7n]);
    assert.deepEqual(Object.keys(filtered.rows[0]!), ['id', 'amount']);
    assert.deepEqual(filtered.schema.columns.map((c) => c.name), ['id', 'amount']);
    // An injection attempt is a string parameter, not SQL.
    const none = await postgresConnector.readRows!(conn(), { schema: s, table: 'child' }, { limit: 100, offset: 0, where: "pb = 'x'' OR ''1''=''1'" }, logger);
    assert.equal(none.rows.length, 0);
    // Composite key order: (a, b).
    const parents = await postgresConnector.readRows!(conn(), { schema: s, table: 'parent' }, { limit: 4, offset: 0 }, logger);
    assert.deepEqual(parents.rows.map((r) => [r.a, r.b]), [[0, 'k0'], [0, 'k1'], [0, 'k2'], [1, 'k0']]);
    // The limit is capped.
    const capped = await postgresConnector.readRows!(conn(), { schema: s, table: 'child' }, { limit: 1_000_000, offset: 0 }, logger);
    assert.equal(capped.rows.length, 25);
    const nk = await postgresConnector.readRows!(conn(), { schema: s, table: 'nokey' }, { limit: 10, offset: 0, sort: [{ column: 'x' }] }, logger);
    assert.deepEqual(nk.rows, [{ x: 1, y: 'a' }, { x: 2, y: null }]);

    // Refusals, each with its code.
    const read = (q: Partial<Parameters<NonNullable<typeof postgresConnector.readRows>>[2]>, table = 'child', url?: string) =>
      postgresConnector.readRows!(conn(url), { schema: s, table }, { limit: 10, offset: 0, ...q }, logger);
    await assert.rejects(read({ where: 'amount >' }), code('FILTER_CLAUSE_INVALID'));
    await assert.rejects(read({ where: 'amount; DROP TABLE x' }), code('FILTER_CLAUSE_INVALID'));
    await assert.rejects(read({ where: 'nosuch = 1' }), code('FILTER_COLUMN_UNKNOWN', { column: 'nosuch' }));
    await assert.rejects(read({ where: "amount = 'abc'" }), code('FILTER_CLAUSE_INVALID'));
    await assert.rejects(read({ sort: [{ column: 'nosuch' }] }), code('VALIDATION_FAILED', { field: 'sort', column: 'nosuch' }));
    await assert.rejects(read({ columns: ['id', 'nosuch'] }), code('VALIDATION_FAILED', { field: 'columns', column: 'nosuch' }));
    await assert.rejects(read({}, 'nope'), code('SOURCE_TABLE_NOT_FOUND'));
    await assert.rejects(read({}, 'child', 'postgresql://u:p@127.0.0.1:1/db'), code('SOURCE_UNREACHABLE'));
    await assert.rejects(postgresConnector.describeTable!(conn('postgresql://u:p@127.0.0.1:1/db'), { schema: s, table: 'child' }, logger), code('SOURCE_UNREACHABLE'));
  } finally {
    await pg.query(`DROP SCHEMA IF EXISTS ${s} CASCADE`);
    await pg.end();
  }
});
