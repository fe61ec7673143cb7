import { test } from 'node:test';
import assert from 'node:assert/strict';
import { compileWhere } from '../transform/where';
import { keysWhere, whereIdent, whereLiteral } from './mapping-preview';
import { Decimal } from './values';

const NASTY = {
  // in the clause, then not
  postgresql: [["it's", "''", 'a"b', "'); DROP TABLE x; --", 'x`y'], ['%_', ' ', 'its', "'"]],
  mysql: [["it's", 'back\\slash', "\\'", "''", 'a"b'], ['x`y', '%_', ' ', 'its', 'backslash', "'"]],
} as const;

for (const dialect of ['postgresql', 'mysql'] as const) {
  test(`keysWhere (${dialect}): the clause selects exactly the rows holding one of the keys, whatever the strings hold`, () => {
    const [inside, outside] = NASTY[dialect];
    const clause = keysWhere(['code'], inside.map((s) => [s]), dialect)!;
    const w = compileWhere(clause, { dialect });
    for (const s of inside) assert.equal(w.test({ code: s }), true, `${JSON.stringify(s)} in ${clause}`);
    for (const s of outside) assert.equal(w.test({ code: s }), false, `${JSON.stringify(s)} not in ${clause}`);
    // Values travel as bind parameters, never in the SQL text.
    const sql = w.sql((i) => `$${i + 1}`);
    assert.doesNotMatch(JSON.stringify(sql), /it''s/);
  });

  test(`keysWhere (${dialect}): composite keys, numbers, bigints, decimals, and quoted column names`, () => {
    const clause = keysWhere(['order', 'line no'], [[1n, new Decimal('2.50')], [3, 4]], dialect)!;
    const w = compileWhere(clause, { dialect });
    assert.equal(w.test({ order: 1n, 'line no': new Decimal('2.5') }), true);
    assert.equal(w.test({ order: 3, 'line no': 4 }), true);
    assert.equal(w.test({ order: 1, 'line no': 4 }), false);
    assert.equal(w.test({ order: 3, 'line no': new Decimal('2.50') }), false);
  });
}

test('values the where language cannot spell give no clause (the preview then filters in memory)', () => {
  assert.equal(whereLiteral(new Date(0), 'postgresql'), undefined);
  assert.equal(whereLiteral(Buffer.from('x'), 'postgresql'), undefined);
  assert.equal(whereLiteral('a\0b', 'mysql'), undefined);
  assert.equal(whereLiteral('a\\b', 'postgresql'), undefined);
  assert.equal(whereLiteral('a\\b', 'mysql'), "'a\\\\b'");
  assert.equal(whereLiteral(Number.NaN, 'mysql'), undefined);
  assert.equal(keysWhere(['k'], [[1], [new Date(0)]], 'postgresql'), undefined);
  assert.equal(keysWhere(['k'], [], 'postgresql'), undefined);
  assert.equal(whereIdent('a"b', 'postgresql'), '"a""b"');
  assert.equal(whereIdent('a`b', 'mysql'), '`a``b`');
});
