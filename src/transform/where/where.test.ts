import { test } from 'node:test';
import assert from 'node:assert/strict';
import { SluiceError } from '../../errors';
import { compileWhere, type Dialect } from './index';
import { clauseCases, COLUMNS, sampleRows } from './testing';

const NOW = Date.now();

for (const dialect of ['postgresql', 'mysql'] as Dialect[]) {
  test(`${dialect}: every clause of the table picks the expected rows (three-valued logic, dialect rules)`, () => {
    const rows = sampleRows(NOW);
    const failures: string[] = [];
    for (const c of clauseCases(dialect)) {
      let w;
      try {
        w = compileWhere(c.clause, { dialect, table: 't', columns: COLUMNS });
      } catch (err) {
        failures.push(`${c.clause}: ${(err as Error).message}`);
        continue;
      }
      const got = rows.filter((r) => w.test(r, NOW)).map((r) => r.id as number);
      if (JSON.stringify(got) !== JSON.stringify(c.ids)) failures.push(`${c.clause}: got [${got}] want [${c.ids}]`);
    }
    assert.deepEqual(failures, []);
  });
}

test('rows without a schema: values are read by their JS type', () => {
  const w = compileWhere('n > 1 AND amt < 100', { dialect: 'postgresql' });
  const [a, b] = sampleRows(NOW);
  assert.equal(w.test(a!, NOW), false);
  assert.equal(w.test(b!, NOW), true);
});

function refusal(clause: string, dialect: Dialect = 'postgresql'): SluiceError {
  try {
    compileWhere(clause, { dialect, table: 't', columns: COLUMNS });
  } catch (err) {
    assert.ok(err instanceof SluiceError, `${clause}: ${String(err)}`);
    return err;
  }
  assert.fail(`${clause} compiled`);
}

test('statements, subqueries and comment tricks are refused with FILTER_CLAUSE_INVALID naming the part', () => {
  const cases: Array<[string, Dialect, RegExp]> = [
    ['n = 1; DROP TABLE t', 'postgresql', /single expression/],
    ['n = 1) UNION SELECT * FROM other WHERE (1 = 1', 'postgresql', /single expression|not a valid/],
    ['n IN (SELECT id FROM other)', 'postgresql', /subqueries/],
    ['n = (SELECT max(id) FROM other)', 'postgresql', /subqueries/],
    ['EXISTS (SELECT 1 FROM other)', 'postgresql', /subqueries|not supported/],
    ['n = 1 -- AND secret', 'postgresql', /comments/],
    ['n = 1 /* x */', 'mysql', /comments/],
    ['n = 1 # x', 'mysql', /comments/],
    ['other.n = 1', 'postgresql', /another table/],
    ['pg_sleep(10) IS NULL', 'postgresql', /pg_sleep/],
    ['SLEEP(1) = 0', 'mysql', /SLEEP/],
    ['DATEDIFF(CURRENT_DATE, d) < 2', 'postgresql', /DATEDIFF/],
    ['n::text = \'1\'', 'postgresql', /casts/],
    ["name = $$x$$", 'postgresql', /dollar/],
    ['n >', 'postgresql', /not a valid/],
    ['', 'postgresql', /empty/],
  ];
  for (const [clause, dialect, reason] of cases) {
    const err = refusal(clause, dialect);
    assert.equal(err.code, 'FILTER_CLAUSE_INVALID', clause);
    assert.match(err.message, reason, clause);
    assert.equal(err.status, 400);
  }
  // The message points at the offending part, not only at the clause.
  const e = refusal("n > 1 AND lower(name) = 'a' AND md5(name) = 'x'");
  assert.equal(e.detail.part, "md5(name)");
  assert.match(e.message, /md5/);
  assert.ok(typeof e.detail.offset === 'number' && e.detail.offset > 20);
});

test('PostgreSQL: a bare column named at is a column (node-sql-parser alone reads AT TIME ZONE), offsets still point into the clause', () => {
  for (const clause of ['at > NOW()', 'AT IS NULL', 't.at > ts', '(at) = ts', 'NOT at IS NULL']) {
    assert.deepEqual([...compileWhere(clause, { dialect: 'postgresql', table: 't', columns: COLUMNS }).columns].sort(), clause.includes('ts') ? ['at', 'ts'] : ['at'], clause);
  }
  assert.equal(compileWhere('at > NOW() AND "at" < ts', { dialect: 'postgresql', table: 't', columns: COLUMNS }).sql((i) => `$${i}`).text, '(("at" > CURRENT_TIMESTAMP) AND ("at" < "ts"))');
  // Inside a string literal it stays text; the part named by an error is the clause's own text.
  assert.equal(compileWhere("name = 'at'", { dialect: 'postgresql', table: 't', columns: COLUMNS }).test({ name: 'at' }), true);
  const e = refusal("at > NOW() AND md5(name) = 'x'");
  assert.equal(e.detail.part, 'md5(name)');
  assert.equal(e.detail.offset, "at > NOW() AND ".length);
  // AT TIME ZONE itself is refused, never silently dropped.
  assert.match(refusal("ts AT TIME ZONE 'UTC' > NOW()").message, /AT TIME ZONE is not supported/);
});

test('a column the table does not have is FILTER_COLUMN_UNKNOWN; MySQL resolves names in any case, PostgreSQL folds unquoted names', () => {
  const e = refusal('nope = 1');
  assert.equal(e.code, 'FILTER_COLUMN_UNKNOWN');
  assert.equal(e.detail.column, 'nope');
  assert.equal(refusal('"N" = 1').code, 'FILTER_COLUMN_UNKNOWN');
  assert.equal(compileWhere('N = 1', { dialect: 'postgresql', columns: COLUMNS }).columns.has('n'), true);
  assert.deepEqual([...compileWhere('NAME = 1 AND `Flag`', { dialect: 'mysql', columns: COLUMNS }).columns], ['name', 'flag']);
  const json = refusal('doc IS NULL');
  assert.equal(json.code, 'FILTER_COLUMN_UNKNOWN');
  const jsonCol = [...COLUMNS, { name: 'doc', type: 'json' as const, sourceType: 'jsonb', optional: true }];
  assert.throws(() => compileWhere('doc IS NULL', { dialect: 'postgresql', columns: jsonCol }), /jsonb, which a filter cannot read/);
});

test('the pushed-down SQL is regenerated: quoted identifiers, strings as parameters, nothing of the original text', () => {
  const pg = compileWhere(`name = 'x'' OR 1=1' AND "n" > -1 AND ts > NOW() - INTERVAL '1 day'`, { dialect: 'postgresql', columns: COLUMNS }).sql((i) => `$${i + 3}`);
  assert.equal(pg.text, `((("name" = $3) AND ("n" > (-1))) AND ("ts" > (CURRENT_TIMESTAMP - INTERVAL '0 months 1 days 0 microseconds')))`);
  assert.deepEqual(pg.params, ["x' OR 1=1"]);
  const my = compileWhere("name LIKE 'a\\_%' AND d > CURDATE() - INTERVAL 1 MONTH", { dialect: 'mysql', columns: COLUMNS }).sql(() => '?');
  assert.equal(my.text, '((`name` LIKE ?) AND (`d` > (CURRENT_DATE - INTERVAL 1 MONTH)))');
  assert.deepEqual(my.params, ['a\\_%']);
  // Positional placeholders: parameters come in the order they stand in the text.
  const esc = compileWhere("name LIKE '%!%' ESCAPE '!' AND name <> 'x'", { dialect: 'mysql', columns: COLUMNS }).sql(() => '?');
  assert.deepEqual(esc.params, ['%!%', '!', 'x']);
});

test('NOW() and CURRENT_DATE are evaluated at the time the event is tested', () => {
  const w = compileWhere("ts > NOW() - INTERVAL '1 hour'", { dialect: 'postgresql', columns: COLUMNS });
  const row = { ts: new Date(Date.UTC(2026, 0, 1, 12)) };
  assert.equal(w.test(row, Date.UTC(2026, 0, 1, 12, 30)), true);
  assert.equal(w.test(row, Date.UTC(2026, 0, 1, 13, 30)), false);
});

test('month arithmetic clamps to the end of the month in both directions', () => {
  const w = compileWhere("d + INTERVAL '1 month' = DATE '2023-02-28'", { dialect: 'postgresql', columns: COLUMNS });
  assert.equal(w.test({ d: new Date(Date.UTC(2023, 0, 31)) }), true);
  const m = compileWhere("d - INTERVAL 1 YEAR = '2023-02-28'", { dialect: 'mysql', columns: COLUMNS });
  assert.equal(m.test({ d: new Date(Date.UTC(2024, 1, 29)) }), true);
});

test('AND binds tighter than OR, whatever grouping the parser returns; parentheses are kept', () => {
  const t = (clause: string, row: Record<string, unknown>, dialect: Dialect = 'mysql'): boolean => compileWhere(clause, { dialect }).test(row);
  for (const dialect of ['mysql', 'postgresql'] as Dialect[]) {
    assert.equal(t('a OR b AND c', { a: true, b: false, c: false }, dialect), true);
    assert.equal(t('(a OR b) AND c', { a: true, b: false, c: false }, dialect), false);
    assert.equal(t('a AND b OR c AND d', { a: false, b: false, c: true, d: true }, dialect), true);
    assert.equal(t('a AND b IS NULL OR c', { a: false, b: null, c: true }, dialect), true);
    assert.equal(t('a OR b BETWEEN 1 AND 2 AND c', { a: true, b: 5, c: false }, dialect), true);
    assert.equal(t('NOT (a OR b) AND c', { a: false, b: false, c: true }, dialect), true);
  }
});

test('common column names that are keywords elsewhere parse in both dialects', () => {
  for (const dialect of ['mysql', 'postgresql'] as Dialect[]) {
    for (const clause of ['status IS NULL', 'type = 1 AND level > 2', "value = 'x' OR data IS NOT NULL", 'year = 2024']) {
      assert.doesNotThrow(() => compileWhere(clause, { dialect }), `${dialect}: ${clause}`);
    }
  }
});

test('any text at all either compiles or is refused with a catalogue code: never another exception', () => {
  const tokens = ['n', 'name', 'amt', '"n"', '`n`', '1', '-2.5', "'x'", "'it''s'", "'\\\\'", 'NULL', 'TRUE', '(', ')', ',', 'AND', 'OR', 'NOT', 'IN', 'BETWEEN', 'LIKE', 'IS', '=', '<>', '<', '+', '*', '/', '%', 'CASE', 'WHEN', 'THEN', 'ELSE', 'END', 'COALESCE(', 'LOWER(', 'NOW()', 'INTERVAL', "'1 day'", 'DAY', 'SELECT', 'FROM', ';', '--', '/*', '#', '$$', '::', 'date', 'ESCAPE', '?', '$1', '@x', '\u0000', 'é'];
  let seed = 42;
  const rnd = (n: number): number => {
    seed = (seed * 1103515245 + 12345) % 2147483648;
    return seed % n;
  };
  let compiled = 0;
  for (let i = 0; i < 3000; i++) {
    const clause = Array.from({ length: 1 + rnd(9) }, () => tokens[rnd(tokens.length)]).join(' ');
    for (const dialect of ['postgresql', 'mysql'] as Dialect[]) {
      try {
        const w = compileWhere(clause, { dialect, columns: COLUMNS });
        compiled++;
        w.test(sampleRows(NOW)[0]!, NOW);
        w.sql((k) => `$${k + 1}`);
      } catch (err) {
        assert.ok(err instanceof SluiceError && (err.code === 'FILTER_CLAUSE_INVALID' || err.code === 'FILTER_COLUMN_UNKNOWN'), `${dialect} ${JSON.stringify(clause)}: ${String(err)}`);
      }
    }
  }
  assert.ok(compiled > 50, `only ${compiled} random clauses compiled`);
});
