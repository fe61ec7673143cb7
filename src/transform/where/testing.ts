/**
 * The clause table the filter tests share: the unit test checks the compiled
 * predicate against expected ids, the integration test checks the same clauses
 * against what PostgreSQL and MariaDB select from the same rows.
 */
import { Decimal, type ColumnSpec, type Row } from '../../core';
import type { Dialect } from './ir';

const DAY = 86_400_000;
const HOUR = 3_600_000;

export const COLUMNS: ColumnSpec[] = [
  { name: 'id', type: 'int32', sourceType: 'integer', optional: false },
  { name: 'n', type: 'int32', sourceType: 'integer', optional: true },
  { name: 'amt', type: 'decimal', sourceType: 'numeric(10,2)', optional: true, precision: 10, scale: 2 },
  { name: 'f', type: 'float64', sourceType: 'double precision', optional: true },
  { name: 'name', type: 'string', sourceType: 'varchar(40)', optional: true },
  { name: 'flag', type: 'boolean', sourceType: 'boolean', optional: true },
  { name: 'd', type: 'date', sourceType: 'date', optional: true },
  { name: 'ts', type: 'timestamp', sourceType: 'timestamp', optional: true },
  // named like PostgreSQL's AT TIME ZONE keyword, which node-sql-parser takes it for; same values as ts
  { name: 'at', type: 'timestamp', sourceType: 'timestamp', optional: true },
];

/** DDL of the same table per dialect. */
export function createTableSql(dialect: Dialect, qualifiedName: string): string {
  const ts = dialect === 'mysql' ? 'DATETIME(3)' : 'timestamp(3)';
  const dbl = dialect === 'mysql' ? 'DOUBLE' : 'double precision';
  const text = dialect === 'mysql' ? 'VARCHAR(40) CHARACTER SET utf8mb4 COLLATE utf8mb4_general_ci' : 'varchar(40)';
  return `CREATE TABLE ${qualifiedName} (id integer PRIMARY KEY, n integer, amt numeric(10,2), f ${dbl}, name ${text}, flag boolean, d date, ts ${ts}, at ${ts})`;
}

const midnight = (ms: number): number => Math.floor(ms / DAY) * DAY;

/**
 * The rows, as the sources produce them (src/core/values.ts). Dates that matter
 * to NOW()/CURRENT_DATE sit relative to today's midnight (UTC), far enough from every
 * boundary that the clauses pick the same rows at any time of day.
 */
export function sampleRows(now: number): Row[] {
  const today = midnight(now);
  const row = (id: number, n: number | null, amt: string | null, f: number | null, name: string | null, flag: boolean | null, d: number | null, ts: number | null): Row => ({
    id,
    n,
    amt: amt === null ? null : new Decimal(amt),
    f,
    name,
    flag,
    d: d === null ? null : new Date(d),
    ts: ts === null ? null : new Date(ts),
    at: ts === null ? null : new Date(ts),
  });
  return [
    row(1, 1, '10.50', 1.5, 'Alice', true, Date.UTC(2024, 0, 15), Date.UTC(2024, 0, 15, 10)),
    row(2, 2, '0.10', -2.25, 'bob', false, Date.UTC(2024, 1, 29), today + 1),
    row(3, null, null, null, null, null, null, null),
    row(4, -5, '99999.99', 0, 'alice ', true, Date.UTC(2023, 11, 31), today - 3 * DAY - HOUR),
    row(5, 10, '-3.00', 1e10, 'Ünïcode_%', false, today, now + DAY),
    row(6, 0, '0.00', 0.1, "O'Brien", true, today - DAY, Date.UTC(2000, 1, 29, 23, 59, 59)),
    row(7, 3, '2.62', 2.625, 'Éclair', null, Date.UTC(2024, 11, 31), today - 1),
  ];
}

/** SQL literal of a row's value, for the integration test's INSERT (values are ours, not user input). */
export function literal(v: unknown, dialect: Dialect): string {
  if (v === null || v === undefined) return 'NULL';
  if (typeof v === 'boolean') return v ? 'TRUE' : 'FALSE';
  if (typeof v === 'number') return String(v);
  if (v instanceof Decimal) return v.text;
  if (v instanceof Date) return `'${v.toISOString().slice(0, 23).replace('T', ' ')}'`;
  const s = String(v).replace(/'/g, "''");
  return dialect === 'mysql' ? `'${s.replace(/\\/g, '\\\\')}'` : `'${s}'`;
}

export interface ClauseCase {
  clause: string;
  /** The ids the clause selects from sampleRows (as both databases select them). */
  ids: number[];
}

/** Clauses valid in both dialects, and each dialect's own; `ids` per dialect where they differ. */
export function clauseCases(dialect: Dialect): ClauseCase[] {
  const my = dialect === 'mysql';
  const iv = (n: number, unit: string): string => (my ? `INTERVAL ${n} ${unit.toUpperCase()}` : `INTERVAL '${n} ${unit}'`);
  const cases: Array<[string, number[]] | [string, number[], number[]]> = [
    ['n > 1', [2, 5, 7]],
    ['n <> 2', [1, 4, 5, 6, 7]],
    ["n = 1 OR name = 'bob'", [1, 2]],
    ['NOT (n > 1)', [1, 4, 6]],
    ['NOT (n > 1 AND flag)', [1, 2, 4, 5, 6]],
    ['n > 1 OR flag', [1, 2, 4, 5, 6, 7]],
    ['flag', [1, 4, 6]],
    ['NOT flag', [2, 5]],
    ['n IN (1, 2, NULL)', [1, 2]],
    ['n NOT IN (1, NULL)', []],
    ['n NOT IN (1, 2)', [4, 5, 6, 7]],
    ['n BETWEEN 0 AND 2', [1, 2, 6]],
    ['amt NOT BETWEEN 0 AND 10', [1, 4, 5]],
    ["name LIKE 'a%'", [4], [1, 4]],
    ["name LIKE '%\\_%'", [5]],
    ["name NOT LIKE '_ob'", [1, 4, 5, 6, 7]],
    ["name LIKE 'O''%'", [6]],
    ['name IS NULL', [3]],
    ['name IS NOT NULL', [1, 2, 4, 5, 6, 7]],
    ['flag IS TRUE', [1, 4, 6]],
    ['flag IS NOT FALSE', [1, 3, 4, 6, 7]],
    ['(n + 2) * 3 > 9', [2, 5, 7]],
    ['n % 2 = 0', [2, 6, 5]],
    ['amt * 2 >= 21', [1, 4]],
    ['amt / 4 > 2.6', [1, 4]],
    ['n / 4 = 0', [1, 2, 6, 7], [6]],
    ['-n < 0', [1, 2, 5, 7]],
    ['f > 1', [1, 5, 7]],
    ['f < amt', [1, 2, 4]],
    ['f = 2.625', [7]],
    ['amt = 10.5', [1]],
    ["amt = '10.50'", [1]],
    ["CASE WHEN n > 1 THEN 'big' WHEN n IS NULL THEN 'none' ELSE 'small' END = 'big'", [2, 5, 7]],
    ["CASE WHEN n > 1 THEN 'big' WHEN n IS NULL THEN 'none' ELSE 'small' END = 'none'", [3]],
    ['CASE n WHEN 1 THEN TRUE WHEN 2 THEN NULL ELSE FALSE END', [1]],
    ['COALESCE(n, 0) = 0', [3, 6]],
    ["COALESCE(name, 'x') = 'x'", [3]],
    ["LOWER(name) = 'alice'", [1], [1, 4]],
    ["UPPER(name) LIKE 'A%'", [1, 4]],
    ["name = 'alice'", [], [1, 4]],
    ["name > 'B'", [2, 4, 5, 6, 7], [2, 5, 6, 7]],
    ["name = 'O''Brien'", [6]],
    ["name = 'eclair'", [], [7]],
    ["d >= '2024-01-01'", [1, 2, 5, 6, 7]],
    ["d BETWEEN DATE '2024-01-01' AND DATE '2024-12-31'", [1, 2, 7]],
    ["ts >= '2024-01-15 10:00:00'", [1, 2, 4, 5, 7]],
    [`ts > NOW() - ${iv(1, 'day')}`, [2, 5, 7]],
    [`ts < NOW() + ${iv(1, 'month')} AND ts > NOW()`, [5]],
    [`d >= CURRENT_DATE - ${iv(1, 'day')}`, [5, 6]],
    ['d = CURRENT_DATE', [5]],
    ['ts < CURRENT_DATE', [1, 4, 6, 7]],
    [`d + ${iv(1, 'month')} = '2024-03-29'`, [2]],
    [`d - ${iv(2, 'month')} < '2023-11-01'`, [4]],
    [`ts BETWEEN CURRENT_DATE - ${iv(3, 'day')} AND CURRENT_DATE`, [7]],
    ['n > 0 AND name IS NULL OR flag AND amt > 1', [1, 4]],
    ["n IN (1, '2')", [1, 2]],
    ["name LIKE '%!%' ESCAPE '!'", [5]],
    ['NOT (n BETWEEN NULL AND 5)', [5]],
    ['COALESCE(n, amt) > 5', [5]],
    ["UPPER(name) = 'BOB'", [2]],
    ['n * 1.5 > 4', [5, 7]],
    ['amt + f > 11', [1, 4, 5]],
    ['CASE WHEN flag THEN n ELSE -n END > 0', [1]],
    ['n / 2.0 > 1', [5, 7]],
    ['n - 1 IS NULL', [3]],
    ['at > NOW()', [5]],
    ['AT IS NULL OR at < ts', [3]],
    [`(at) >= NOW() - ${iv(1, 'day')} AND n > 1`, [2, 5, 7]],
  ];
  if (my) {
    cases.push(
      ['DATEDIFF(CURDATE(), d) <= 1', [5, 6]],
      ['DATEDIFF(NOW(), ts) >= 3', [1, 4, 6]],
      ['DATEDIFF(CURDATE(), ts) = 1', [7]],
      ["name LIKE 'ü%'", [5]],
    );
  } else {
    cases.push(['CURRENT_DATE - d <= 1', [5, 6]], ["name ILIKE 'a%'", [1, 4]], ['"n" > 1', [2, 5, 7]], ['"at" > NOW()', [5]], ["d > '2024-01-01'::date", [1, 2, 5, 6, 7]]);
  }
  return cases.map(([clause, pg, mysql]) => ({ clause, ids: [...(my && mysql ? mysql : pg)].sort((a, b) => a - b) }));
}

/**
 * Random well-typed clauses over COLUMNS, deterministic for a seed: the integration
 * test holds the compiler to the databases on these too, beyond the hand-written table.
 * Division and float equality are left out (rounding rules differ by design, see README).
 */
export function randomClauses(dialect: Dialect, count: number, seed = 1): string[] {
  let s = seed;
  const rnd = (n: number): number => {
    s = (s * 1103515245 + 12345) % 2147483648;
    return Math.floor((s / 2147483648) * n);
  };
  const pick = <T>(xs: readonly T[]): T => xs[rnd(xs.length)]!;
  const iv = (n: number, unit: string): string => (dialect === 'mysql' ? `INTERVAL ${n} ${unit.toUpperCase()}` : `INTERVAL '${n} ${unit}'`);
  const num = (depth: number): string => {
    if (depth <= 0 || rnd(3) === 0) return pick(['n', 'amt', 'f', 'id', String(rnd(12) - 3), `${rnd(200) / 4}`, `COALESCE(n, ${rnd(5)})`]);
    const op = pick(['+', '-', '*', '+']);
    if (rnd(6) === 0) return `(n % ${1 + rnd(4)})`;
    if (rnd(8) === 0) return `CASE WHEN ${bool(depth - 1)} THEN ${num(depth - 1)} ELSE ${num(depth - 1)} END`;
    return `(${num(depth - 1)} ${op} ${num(depth - 1)})`;
  };
  const text = (): string => pick(['name', "'bob'", "'Alice'", "'alice '", `LOWER(name)`, `UPPER(name)`, `COALESCE(name, 'none')`, "'O''Brien'", "'éclair'"]);
  const time = (): string =>
    pick(['d', 'ts', "'2024-02-29'", 'CURRENT_DATE', 'NOW()', `(d + ${iv(1 + rnd(3), pick(['month', 'day']))})`, `(ts - ${iv(1 + rnd(5), pick(['day', 'hour']))})`, "DATE '2024-01-15'"]);
  const cmp = (): string => pick(['=', '<>', '<', '<=', '>', '>=']);
  const bool = (depth: number): string => {
    const leaf = (): string => {
      switch (rnd(9)) {
        case 0:
          return `${num(1)} ${cmp()} ${num(1)}`;
        case 1:
          return `${text()} ${cmp()} ${text()}`;
        case 2:
          return `${time()} ${cmp()} ${time()}`;
        case 3:
          return `${pick(['n', 'name', 'd', 'flag', 'amt'])} IS ${pick(['', 'NOT '])}NULL`;
        case 4:
          return `n ${pick(['', 'NOT '])}IN (${[rnd(5), rnd(12) - 5, pick(['NULL', '3'])].join(', ')})`;
        case 5:
          return `${num(1)} ${pick(['', 'NOT '])}BETWEEN ${num(0)} AND ${num(0)}`;
        case 6:
          return `${text()} ${pick(['', 'NOT '])}LIKE '${pick(['a%', '%e%', '_ob', '%', 'O%', '%\\_%', 'É%'])}'`;
        case 7:
          return pick(['flag', 'flag IS TRUE', 'flag IS NOT FALSE', 'NOT flag']);
        default:
          return `${num(2)} ${cmp()} ${num(2)}`;
      }
    };
    if (depth <= 0 || rnd(3) === 0) return leaf();
    switch (rnd(4)) {
      case 0:
        return `NOT (${bool(depth - 1)})`;
      case 1:
        return `${bool(depth - 1)} OR ${bool(depth - 1)}`;
      default:
        return `${bool(depth - 1)} AND ${bool(depth - 1)}`;
    }
  };
  return Array.from({ length: count }, () => bool(3));
}
