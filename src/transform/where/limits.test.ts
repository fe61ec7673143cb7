/**
 * The bounds of limits.ts (issue 22): a clause as deep as allowed compiles, evaluates
 * and regenerates its SQL even when the stack is already deep (as in the run loop);
 * deeper ones, and constants the databases refuse, are FILTER_CLAUSE_INVALID at compile.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { compileWhere } from './index';
import { parseWhere } from './parse';
import { SluiceError } from '../../errors';

const refused = (clause: string, dialect: 'postgresql' | 'mysql', reason: RegExp): void => {
  assert.throws(() => compileWhere(clause, { dialect }), (err: unknown) => err instanceof SluiceError && err.code === 'FILTER_CLAUSE_INVALID' && reason.test(String(err.detail.reason)), clause.slice(0, 80));
};

test('chains up to the depth bound work all the way, on a stack already 6,000 frames deep; longer ones are refused, not a stack overflow', () => {
  const chains = {
    plus: (n: number) => `id = ${Array(n).fill('1').join('+')}`,
    or: (n: number) => Array.from({ length: n }, (_, i) => `id = ${i}`).join(' OR '),
    and: (n: number) => Array.from({ length: n }, (_, i) => `id <> ${i}`).join(' AND '),
    not: (n: number) => `${'NOT '.repeat(n)}id = 1`,
  };
  for (const [name, chain] of Object.entries(chains)) {
    const w = compileWhere(chain(390), { dialect: 'postgresql' });
    const deep = (k: number): boolean => (k === 0 ? w.test({ id: 3 }) || w.sql((i) => `$${i}`).text.length > 0 : deep(k - 1));
    assert.equal(deep(6000), true, name);
    for (const n of [1000, 4900]) refused(chain(n), 'postgresql', /nests/);
  }
  refused(`${'('.repeat(3000)}id = 1${')'.repeat(3000)}`, 'postgresql', /nests too deeply/);
  refused(`id IN (${Array(3000).fill('(1)').join(',')}) AND ${'NOT '.repeat(500)}TRUE`, 'mysql', /nests/);
});

test('literals and constant parts the databases would refuse at start are refused at compile', () => {
  for (const d of ['postgresql', 'mysql'] as const) {
    refused('id = 1e999999', d, /range of a double/);
    refused('x = 1e308 * 10', d, /range of a double/);
    refused(d === 'mysql' ? 'at_ > NOW() - INTERVAL 1000000000 YEAR' : "at_ > NOW() - INTERVAL '1000000000 years'", d, /longer than/);
    refused(d === 'mysql' ? 'at_ > NOW() - INTERVAL 200000 YEAR - INTERVAL 200000 YEAR' : "at_ > NOW() - INTERVAL '100000 years'", d, /outside the range of dates/);
    assert.ok(compileWhere(d === 'mysql' ? 'at_ > NOW() - INTERVAL 30 DAY AND id < 1e308' : "at_ > NOW() - INTERVAL '30 days' AND id < 1e308", { dialect: d }));
  }
  // MySQL reads 1e3 as a number (node-sql-parser's grammar as a name); a quoted `1e3` stays a name.
  assert.deepEqual(parseWhere('x = 1e3 AND `1e3` = 2', { dialect: 'mysql' }), {
    k: 'and',
    l: { k: 'cmp', op: '=', l: { k: 'col', name: 'x', at: 'x' }, r: { k: 'num', text: '1e3', float: true } },
    r: { k: 'cmp', op: '=', l: { k: 'col', name: '1e3', at: '1e3' }, r: { k: 'num', text: '2', float: false } },
  });
});
