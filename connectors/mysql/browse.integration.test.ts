import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Decimal, type ConnectionSpec, type RowQuery } from '../../src/core';
import { mysqlConnector } from '.';
import { admin, database, logger, mysqlUrl, skipReason, tableName } from './test-support';
import { errorCode as code } from '../../test/helpers/source-driver';

const skip = skipReason();
const conn = (url = mysqlUrl()!): ConnectionSpec => ({ id: 'my', name: 'my', kind: 'mysql', url, options: {} });

test('describeTable: columns with types, nullability, composite primary key and foreign keys; readRows pages, filters and sorts (MariaDB)', { skip, timeout: 60_000 }, async () => {
  const db = await admin();
  const parent = tableName('bp');
  const child = tableName('bc');
  const nokey = tableName('bn');
  const dbName = database();
  try {
    await db.query(`CREATE TABLE ${parent} (a int, b varchar(10), label varchar(20) NOT NULL, PRIMARY KEY (a, b)) ENGINE=InnoDB`);
    await db.query(`CREATE TABLE ${child} (id bigint PRIMARY KEY, pa int, pb varchar(10), amount decimal(12,2), flag tinyint(1),
                      CONSTRAINT fk_${child} FOREIGN KEY (pa, pb) REFERENCES ${parent} (a, b)) ENGINE=InnoDB`);
    await db.query(`CREATE TABLE ${nokey} (x int, y text)`);
    const prow: string[] = [];
    for (let i = 0; i <= 8; i++) prow.push(`(${i % 3}, 'k${Math.floor(i / 3)}', 'p${i}')`);
    await db.query(`INSERT INTO ${parent} VALUES ${prow.join(', ')}`);
    const crow: string[] = [];
    for (let i = 1; i <= 25; i++) crow.push(`(${i}, ${i % 3}, 'k0', ${i * 1.25}, ${i % 2})`);
    await db.query(`INSERT INTO ${child} VALUES ${crow.join(', ')}`);
    await db.query(`INSERT INTO ${nokey} VALUES (1, 'a'), (2, NULL)`);

    assert.deepEqual(await mysqlConnector.describeTable!(conn(), { schema: dbName, table: parent }, logger), {
      schema: dbName,
      table: parent,
      columns: [
        { name: 'a', type: 'int(11)', nullable: false, primaryKey: true },
        { name: 'b', type: 'varchar(10)', nullable: false, primaryKey: true },
        { name: 'label', type: 'varchar(20)', nullable: false, primaryKey: false },
      ],
      primaryKey: ['a', 'b'],
      foreignKeys: [],
    });
    // A bare table is in the connection's database.
    const c = await mysqlConnector.describeTable!(conn(), { schema: '', table: child }, logger);
    assert.equal(c!.schema, dbName);
    assert.deepEqual(c!.columns.find((x) => x.name === 'amount'), { name: 'amount', type: 'decimal(12,2)', nullable: true, primaryKey: false });
    assert.deepEqual(c!.foreignKeys, [{ name: `fk_${child}`, columns: ['pa', 'pb'], references: { schema: dbName, table: parent, columns: ['a', 'b'] } }]);
    assert.deepEqual((await mysqlConnector.describeTable!(conn(), { schema: '', table: nokey }, logger))!.primaryKey, []);
    assert.equal(await mysqlConnector.describeTable!(conn(), { schema: '', table: 'nope_nope' }, logger), null);

    const read = (q: Partial<RowQuery>, table = child, url?: string) => mysqlConnector.readRows!(conn(url), { schema: '', table }, { limit: 10, offset: 0, ...q }, logger);
    const page1 = await read({});
    assert.deepEqual(page1.rows.map((r) => r.id), [1n, 2n, 3n, 4n, 5n, 6n, 7n, 8n, 9n, 10n]);
    assert.deepEqual(page1.rows[1], { id: 2n, pa: 2, pb: 'k0', amount: new Decimal('2.50'), flag: false });
    assert.deepEqual((await read({ offset: 20 })).rows.map((r) => r.id), [21n, 22n, 23n, 24n, 25n]);
    const filtered = await read({ limit: 100, where: "pa = 1 AND pb = 'k0' AND amount > 5", sort: [{ column: 'amount', desc: true }], columns: ['id', 'amount'] });
    assert.deepEqual(filtered.rows.map((r) => r.id), [25n, 22n, 19n, 16n, 13n, 10n, 7n]);
    assert.deepEqual(Object.keys(filtered.rows[0]!), ['id', 'amount']);
    assert.equal((await read({ where: "pb = 'x'' OR ''1''=''1'" })).rows.length, 0);
    assert.deepEqual((await read({ limit: 4 }, parent)).rows.map((r) => [r.a, r.b]), [[0, 'k0'], [0, 'k1'], [0, 'k2'], [1, 'k0']]);
    assert.equal((await read({ limit: 1_000_000 })).rows.length, 25);
    assert.deepEqual((await read({ sort: [{ column: 'x' }] }, nokey)).rows, [{ x: 1, y: 'a' }, { x: 2, y: null }]);

    await assert.rejects(read({ where: 'amount >' }), code('FILTER_CLAUSE_INVALID'));
    await assert.rejects(read({ where: 'nosuch = 1' }), code('FILTER_COLUMN_UNKNOWN', { column: 'nosuch' }));
    await assert.rejects(read({ sort: [{ column: 'nosuch' }] }), code('VALIDATION_FAILED', { field: 'sort' }));
    await assert.rejects(read({ columns: ['nosuch'] }), code('VALIDATION_FAILED', { field: 'columns' }));
    await assert.rejects(read({}, 'nope_nope'), code('SOURCE_TABLE_NOT_FOUND'));
    await assert.rejects(read({}, child, 'mysql://u:p@127.0.0.1:1/db'), code('SOURCE_UNREACHABLE'));
  } finally {
    await db.query(`DROP TABLE IF EXISTS ${child}, ${parent}, ${nokey}`);
    await db.end();
  }
});
