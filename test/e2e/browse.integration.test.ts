/**
 * Browsing connections through the real daemon's API, against the stack's
 * PostgreSQL and MariaDB: tables (list conventions), columns (types, keys,
 * foreign keys), row previews (paging, where, sort) and every refusal's envelope.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { E2E_ADMIN_KEY, pgClient, uid } from '../helpers/pipeline';
import { myClient, myDatabase } from '../helpers/mysql-pipeline';
import { startDaemon, tmpDataDir, type RunningDaemon } from '../helpers/daemon';
import { stackUrls } from '../helpers/stack';

const err = (r: { status: number; body: any }, status: number, code: string) => {
  assert.equal(r.status, status, JSON.stringify(r.body));
  assert.equal(r.body.error.code, code, JSON.stringify(r.body));
  assert.equal(typeof r.body.error.suggestion, 'string');
  return r.body.error;
};

async function connection(d: RunningDaemon, name: string, kind: string, url: string): Promise<string> {
  const r = await d.api('/api/v1/connections', { method: 'POST', body: { name, kind, url } });
  assert.equal(r.status, 201, JSON.stringify(r.body));
  return r.body.id;
}

test('browse a PostgreSQL and a MariaDB source over the API: tables, columns, row previews, refusals', { timeout: 120_000 }, async () => {
  const id = uid();
  const pg = await pgClient();
  const my = await myClient();
  const s = `browse_${id}`;
  const myParent = `bp_${id}`;
  const myChild = `bc_${id}`;
  const d = await startDaemon(tmpDataDir(), {}, { adminKey: E2E_ADMIN_KEY });
  try {
    await pg.query(`CREATE SCHEMA ${s}`);
    await pg.query(`CREATE TABLE ${s}.parent (a int, b text, PRIMARY KEY (a, b))`);
    await pg.query(`CREATE TABLE ${s}.child (id bigint PRIMARY KEY, pa int, pb text, amount numeric(12,2), data bytea, CONSTRAINT fk_child FOREIGN KEY (pa, pb) REFERENCES ${s}.parent (a, b))`);
    await pg.query(`INSERT INTO ${s}.parent VALUES (1, 'x'), (2, 'y')`);
    await pg.query(`INSERT INTO ${s}.child SELECT i, 1 + i % 2, CASE WHEN i % 2 = 0 THEN 'x' ELSE 'y' END, i * 1.5, '\\x0102'::bytea FROM generate_series(1, 30) i`);
    await my.query(`CREATE TABLE ${myParent} (a int, b varchar(5), PRIMARY KEY (a, b))`);
    await my.query(`CREATE TABLE ${myChild} (id int PRIMARY KEY, pa int NOT NULL, pb varchar(5) NOT NULL, big bigint, FOREIGN KEY (pa, pb) REFERENCES ${myParent} (a, b))`);
    await my.query(`INSERT INTO ${myParent} VALUES (1, 'x')`);
    await my.query(`INSERT INTO ${myChild} VALUES (1, 1, 'x', 9223372036854775807), (2, 1, 'x', NULL), (3, 1, 'x', -1)`);

    const pgId = await connection(d, `pg-${id}`, 'postgresql', stackUrls().postgres);
    const myId = await connection(d, `my-${id}`, 'mysql', stackUrls().mysql);
    const mongoId = await connection(d, `mongo-${id}`, 'mongodb', `${stackUrls().mongodb}/x${id}`);
    const downId = await connection(d, `down-${id}`, 'postgresql', 'postgresql://u:p@127.0.0.1:1/db');
    const viewer = (await d.api('/api/v1/api-keys', { method: 'POST', body: { name: `v-${id}`, role: 'viewer' } })).body.key as string;

    // Tables: list conventions (field filter, sort, paging); a viewer may list.
    const tables = await d.api(`/api/v1/connections/${pgId}/tables?schema=${s}&sort=-table`, { key: viewer });
    assert.equal(tables.status, 200, JSON.stringify(tables.body));
    assert.deepEqual(tables.body.items.map((t: any) => t.name), [`${s}.parent`, `${s}.child`]);
    assert.equal(tables.body.total, 2);
    assert.equal(tables.body.defaultSchema, 'public');
    // X-Connection-Password only supplies what the store lacks: it never overrides a saved
    // password, so a viewer cannot try passwords against the database through the daemon.
    const overridden = await d.api(`/api/v1/connections/${pgId}/tables?schema=${s}`, { key: viewer, headers: { 'x-connection-password': 'not-the-password' } });
    assert.equal(overridden.status, 200, JSON.stringify(overridden.body));
    const paged = await d.api(`/api/v1/connections/${pgId}/tables?schema=${s}&limit=1&offset=1&sort=table`);
    assert.deepEqual(paged.body.items.map((t: any) => t.table), ['parent']);
    assert.equal(paged.body.total, 2);
    err(await d.api(`/api/v1/connections/${pgId}/tables?sort=nope`), 400, 'VALIDATION_FAILED');
    const myTables = await d.api(`/api/v1/connections/${myId}/tables?table=${myChild}`);
    assert.deepEqual(myTables.body.items, [{ schema: myDatabase(), table: myChild, name: `${myDatabase()}.${myChild}` }]);

    // Columns, with composite key and foreign key; the viewer may read the schema.
    const cols = await d.api(`/api/v1/connections/${pgId}/tables/${s}.child/columns`, { key: viewer });
    assert.equal(cols.status, 200, JSON.stringify(cols.body));
    assert.deepEqual(cols.body.primaryKey, ['id']);
    assert.deepEqual(cols.body.columns[0], { name: 'id', type: 'bigint', nullable: false, primaryKey: true });
    assert.deepEqual(cols.body.foreignKeys, [{ name: 'fk_child', columns: ['pa', 'pb'], references: { schema: s, table: 'parent', columns: ['a', 'b'] } }]);
    const parentCols = await d.api(`/api/v1/connections/${pgId}/tables/${s}.parent/columns`);
    assert.deepEqual(parentCols.body.primaryKey, ['a', 'b']);
    const myCols = await d.api(`/api/v1/connections/${myId}/tables/${myChild}/columns`);
    assert.equal(myCols.status, 200, JSON.stringify(myCols.body));
    assert.deepEqual(myCols.body.columns.find((c: any) => c.name === 'big'), { name: 'big', type: 'bigint(20)', nullable: true, primaryKey: false });
    assert.deepEqual(myCols.body.foreignKeys[0].references, { schema: myDatabase(), table: myParent, columns: ['a', 'b'] });
    err(await d.api(`/api/v1/connections/${pgId}/tables/${s}.nope/columns`), 400, 'SOURCE_TABLE_NOT_FOUND');

    // Rows: operator and up (customer data), JSON-safe values, paging, where, sort.
    err(await d.api(`/api/v1/connections/${pgId}/tables/${s}.child/rows`, { key: viewer }), 403, 'FORBIDDEN_ROLE');
    const rows = await d.api(`/api/v1/connections/${pgId}/tables/${s}.child/rows?limit=5&offset=10`);
    assert.equal(rows.status, 200, JSON.stringify(rows.body));
    assert.deepEqual(rows.body.rows.map((r: any) => r.id), ['11', '12', '13', '14', '15']);
    assert.deepEqual(rows.body.rows[0], { id: '11', pa: 2, pb: 'y', amount: '16.50', data: 'AQI=' });
    assert.deepEqual(rows.body.key, ['id']);
    assert.equal(rows.body.columns.find((c: any) => c.name === 'amount').type, 'decimal');
    const where = encodeURIComponent("pb = 'x' AND amount >= 30");
    const filtered = await d.api(`/api/v1/connections/${pgId}/tables/${s}.child/rows?where=${where}&sort=-amount&columns=id,amount&limit=3`);
    assert.equal(filtered.status, 200, JSON.stringify(filtered.body));
    assert.deepEqual(filtered.body.rows, [{ id: '30', amount: '45.00' }, { id: '28', amount: '42.00' }, { id: '26', amount: '39.00' }]);
    const myRows = await d.api(`/api/v1/connections/${myId}/tables/${myDatabase()}.${myChild}/rows?sort=-id`);
    assert.deepEqual(myRows.body.rows.map((r: any) => r.big), ['-1', null, '9223372036854775807']);

    const bad = err(await d.api(`/api/v1/connections/${pgId}/tables/${s}.child/rows?where=${encodeURIComponent('amount >')}`), 400, 'FILTER_CLAUSE_INVALID');
    assert.ok(bad.detail.part !== undefined || bad.detail.clause !== undefined, JSON.stringify(bad));
    err(await d.api(`/api/v1/connections/${pgId}/tables/${s}.child/rows?where=${encodeURIComponent('nosuch = 1')}`), 400, 'FILTER_COLUMN_UNKNOWN');
    err(await d.api(`/api/v1/connections/${myId}/tables/${myChild}/rows?where=${encodeURIComponent("id = 1 OR")}`), 400, 'FILTER_CLAUSE_INVALID');
    assert.equal(err(await d.api(`/api/v1/connections/${pgId}/tables/${s}.child/rows?sort=nosuch`), 400, 'VALIDATION_FAILED').detail.field, 'sort');
    err(await d.api(`/api/v1/connections/${pgId}/tables/${s}.child/rows?limit=1001`), 400, 'VALIDATION_FAILED');
    err(await d.api(`/api/v1/connections/${pgId}/tables/${s}.nope/rows`), 400, 'SOURCE_TABLE_NOT_FOUND');
    err(await d.api(`/api/v1/connections/${downId}/tables/t/rows`), 502, 'SOURCE_UNREACHABLE');
    err(await d.api(`/api/v1/connections/${downId}/tables`), 502, 'SOURCE_UNREACHABLE');
    err(await d.api(`/api/v1/connections/${mongoId}/tables`), 400, 'CONNECTOR_ROLE_UNSUPPORTED');
    err(await d.api(`/api/v1/connections/nope/tables/t/columns`), 404, 'CONNECTION_NOT_FOUND');

    // Documented in OpenAPI.
    const spec = (await (await fetch(`${d.base}/openapi.json`)).json()) as any;
    for (const p of ['/api/v1/connections/{id}/tables', '/api/v1/connections/{id}/tables/{table}/columns', '/api/v1/connections/{id}/tables/{table}/rows']) {
      assert.ok(spec.paths[p]?.get, `${p} in /openapi.json`);
      assert.ok(spec.paths[p].get.responses['502'], `${p} documents 502`);
    }
  } finally {
    await d.stop('SIGTERM');
    await pg.query(`DROP SCHEMA IF EXISTS ${s} CASCADE`).catch(() => undefined);
    await my.query(`DROP TABLE IF EXISTS ${myChild}, ${myParent}`).catch(() => undefined);
    await pg.end();
    await my.end();
  }
});
