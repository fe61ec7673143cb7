/**
 * The filter compiler against the databases themselves: for every clause of the
 * shared table (src/transform/where/testing.ts), the compiled predicate applied to
 * the rows as the source reads them must pick exactly the rows the database picks
 * for the operator's original clause, and the regenerated SQL pushed into the
 * snapshot must pick them too.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { ChangeEvent, Row, ColumnSpec } from '../../src/core';
import { compileWhere, type Dialect } from '../../src/transform/where';
import { clauseCases, createTableSql, literal, randomClauses, sampleRows } from '../../src/transform/where/testing';
import * as pg from '../../connectors/postgres/test-support';
import * as my from '../../connectors/mysql/test-support';
import { slotName } from '../../connectors/postgres/naming';

interface Db {
  ids(whereSql: string, params: unknown[]): Promise<number[]>;
}

async function compare(dialect: Dialect, db: Db, table: string, rows: Row[], columns: ColumnSpec[], placeholder: (i: number) => string): Promise<void> {
  const mismatches: string[] = [];
  let checked = 0;
  for (const c of clauseCases(dialect)) {
    // The reference: the database evaluating the clause exactly as the operator wrote it.
    const reference = await db.ids(c.clause, []);
    const compiled = compileWhere(c.clause, { dialect, table, columns });
    const frag = compiled.sql(placeholder);
    const pushed = await db.ids(frag.text, frag.params);
    const now = Date.now();
    const predicate = rows.filter((r) => compiled.test(r, now)).map((r) => Number(r.id)).sort((a, b) => a - b);
    const show = (ids: number[]): string => `[${ids.join(',')}]`;
    if (show(predicate) !== show(reference)) mismatches.push(`${c.clause}: predicate ${show(predicate)}, database ${show(reference)}`);
    if (show(pushed) !== show(reference)) mismatches.push(`${c.clause}: pushed-down SQL ${frag.text} ${show(pushed)}, database ${show(reference)}`);
    if (show(c.ids) !== show(reference)) mismatches.push(`${c.clause}: the table expects ${show(c.ids)}, database ${show(reference)}`);
    checked++;
  }
  assert.deepEqual(mismatches, []);
  assert.ok(checked >= 50, `only ${checked} clauses checked`);
  // Random well-typed clauses: the same three-way agreement.
  let nonTrivial = 0;
  const random: string[] = [];
  for (const clause of randomClauses(dialect, RANDOM_CLAUSES, 7)) {
    const reference = await db.ids(clause, []).catch((err: Error) => Promise.reject(new Error(`${clause}: ${err.message}`)));
    const compiled = compileWhere(clause, { dialect, table, columns });
    const frag = compiled.sql(placeholder);
    const pushed = await db.ids(frag.text, frag.params).catch((err: Error) => Promise.reject(new Error(`${frag.text}: ${err.message}`)));
    const now = Date.now();
    const predicate = rows.filter((r) => compiled.test(r, now)).map((r) => Number(r.id)).sort((a, b) => a - b);
    if (reference.length > 0 && reference.length < rows.length) nonTrivial++;
    if (predicate.join() !== reference.join()) random.push(`${clause}: predicate [${predicate}], database [${reference}]`);
    if (pushed.join() !== reference.join()) random.push(`${clause}: pushed-down SQL [${pushed}], database [${reference}]`);
  }
  assert.deepEqual(random, []);
  assert.ok(nonTrivial > RANDOM_CLAUSES / 5, `only ${nonTrivial} random clauses split the rows`);
}

const RANDOM_CLAUSES = Number(process.env.SLUICE_TEST_RANDOM_CLAUSES) || 400;

function sourceRows(events: ChangeEvent[]): { rows: Row[]; columns: ColumnSpec[] } {
  assert.ok(events.length > 0, 'the snapshot read no rows');
  return { rows: events.map((e) => e.after!), columns: events[0]!.schema!.columns };
}

test('PostgreSQL: the compiled predicate and the pushed-down SQL pick exactly the rows PostgreSQL picks', { skip: pg.skipReason(), timeout: 120_000 }, async () => {
  const db = await pg.admin();
  const id = pg.uniqueId('where');
  const t = `where_${slotName(id).slice(7)}`;
  await db.query(createTableSql('postgresql', t));
  const source = pg.makeSource(pg.streamSpec(id, [`public.${t}`]));
  try {
    const sample = sampleRows(Date.now());
    const cols = Object.keys(sample[0]!);
    await db.query(`INSERT INTO ${t} (${cols.join(', ')}) VALUES ${sample.map((r) => `(${cols.map((c) => literal(r[c], 'postgresql')).join(', ')})`).join(', ')}`);
    const events: ChangeEvent[] = [];
    for await (const b of source.snapshot({ tables: [{ schema: 'public', table: t }], resumeFrom: null }, pg.context(id))) events.push(...b.events);
    const { rows, columns } = sourceRows(events);
    assert.equal(rows.length, sample.length);
    const ids = async (where: string, params: unknown[]): Promise<number[]> =>
      (await db.query(`SELECT id FROM ${t} WHERE ${where} ORDER BY id`, params)).rows.map((r: { id: number }) => r.id);
    await compare('postgresql', { ids }, t, rows, columns, (i) => `$${i + 1}`);
  } finally {
    await pg.cleanup(source);
    await db.query(`DROP TABLE IF EXISTS ${t}`);
    await db.end();
  }
});

test('MariaDB: the compiled predicate and the pushed-down SQL pick exactly the rows MariaDB picks', { skip: my.skipReason(), timeout: 120_000 }, async () => {
  const db = await my.admin();
  const t = my.tableName('where');
  const id = my.uniqueId('where');
  await db.query(createTableSql('mysql', `\`${t}\``));
  const source = my.makeSource(my.streamSpec(id, [t]));
  try {
    const sample = sampleRows(Date.now());
    const cols = Object.keys(sample[0]!);
    await db.query(`INSERT INTO \`${t}\` (${cols.join(', ')}) VALUES ${sample.map((r) => `(${cols.map((c) => literal(r[c], 'mysql')).join(', ')})`).join(', ')}`);
    const events: ChangeEvent[] = [];
    for await (const b of source.snapshot({ tables: [{ schema: my.database(), table: t }], resumeFrom: null }, my.context(id))) events.push(...b.events);
    const { rows, columns } = sourceRows(events);
    assert.equal(rows.length, sample.length);
    const ids = async (where: string, params: unknown[]): Promise<number[]> =>
      (await db.query<{ id: number }>(`SELECT id FROM \`${t}\` WHERE ${where} ORDER BY id`, params)).map((r) => Number(r.id));
    await compare('mysql', { ids }, t, rows, columns, () => '?');
  } finally {
    await source.close().catch(() => undefined);
    await db.query(`DROP TABLE IF EXISTS \`${t}\``);
    await db.end();
  }
});
