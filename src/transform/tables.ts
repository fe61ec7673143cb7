/**
 * Table selection by name or pattern: a stream's `tables` may hold glob patterns
 * (`public.order_*`, `*.audit_?`, a bare `order_*` meaning the source's default
 * schema) and `excludeTables` removes tables by the same rules. Pure: the runner
 * resolves the patterns against the list of tables the source connector reports.
 */
import { SluiceError } from '../errors';
import type { TableRef } from '../core';

export const isPattern = (name: string): boolean => /[*?]/.test(name);

function globRegex(glob: string): RegExp {
  return new RegExp(`^${glob.replace(/[\\^$.+()[\]{}|/-]/g, '\\$&').replace(/\*/g, '.*').replace(/\?/g, '.')}$`);
}

function matcher(name: string, defaultSchema: string): (t: TableRef) => boolean {
  const dot = name.indexOf('.');
  const schema = dot < 0 ? defaultSchema : name.slice(0, dot);
  const table = dot < 0 ? name : name.slice(dot + 1);
  const s = globRegex(schema);
  const t = globRegex(table);
  return (ref) => s.test(ref.schema) && t.test(ref.table);
}

/** Whether the spec needs the source's table list to be resolved. */
export function needsTableList(tables: readonly string[], excludeTables: readonly string[] | undefined): boolean {
  return tables.some(isPattern) || (excludeTables?.length ?? 0) > 0;
}

/**
 * The stream's tables, as "schema.table" names: each name or pattern of `tables`
 * in order (a pattern expands to its matches, sorted), minus `excludeTables`, without
 * duplicates. A pattern that matches nothing is an error: a typo would otherwise
 * start a stream over nothing.
 */
export function resolveTables(tables: readonly string[], excludeTables: readonly string[] | undefined, available: readonly TableRef[], defaultSchema: string): string[] {
  const out: string[] = [];
  const seen = new Set<string>();
  const excluded = (excludeTables ?? []).map((x) => matcher(x, defaultSchema));
  const add = (ref: TableRef): void => {
    const n = `${ref.schema}.${ref.table}`;
    if (seen.has(n) || excluded.some((m) => m(ref))) return;
    seen.add(n);
    out.push(n);
  };
  for (const name of tables) {
    if (!isPattern(name)) {
      const dot = name.indexOf('.');
      add(dot < 0 ? { schema: defaultSchema, table: name } : { schema: name.slice(0, dot), table: name.slice(dot + 1) });
      continue;
    }
    const m = matcher(name, defaultSchema);
    const hits = available.filter(m).sort((a, b) => `${a.schema}.${a.table}`.localeCompare(`${b.schema}.${b.table}`));
    if (hits.length === 0) {
      throw new SluiceError('SOURCE_TABLE_NOT_FOUND', `the table pattern ${JSON.stringify(name)} matches no table of the source`, { pattern: name, field: 'tables' });
    }
    hits.forEach(add);
  }
  if (out.length === 0 && tables.length > 0) {
    throw new SluiceError('SOURCE_TABLE_NOT_FOUND', 'excludeTables removes every table of the stream', { field: 'excludeTables' });
  }
  return out;
}
