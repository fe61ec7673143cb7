/**
 * The per-table part of `POST /validate`, shared by the SQL connectors: each table's
 * lookup (the connector's own catalogue code, the one its start path uses) becomes a
 * check, and its whereClause is compiled against the real columns. A failure is a
 * failed check with the error's code and suggestion, never an exception.
 */
import type { CheckResult, ColumnSpec, SqlDialect, StreamSpec, TableRef } from '../core';
import { isSluiceError } from '../errors';
import { tableWhere } from '../transform/filters';

export interface TableLookup {
  meta: { columns: readonly ColumnSpec[]; message: string };
  /** Privileges the user lacks on this table (e.g. "SELECT ON public.t"). */
  missing: string[];
}

const failure = (name: string, err: unknown, detail: Record<string, unknown>): CheckResult => ({
  name,
  ok: false,
  message: err instanceof Error ? err.message : String(err),
  ...(isSluiceError(err) ? { suggestion: err.suggestion, detail: { code: err.code, ...detail } } : { detail }),
});

export async function tableChecks(
  stream: Pick<StreamSpec, 'relationalTableFilters'>,
  dialect: SqlDialect,
  tables: TableRef[],
  lookup: (ref: TableRef) => Promise<TableLookup>,
): Promise<CheckResult[]> {
  const checks: CheckResult[] = [];
  for (const ref of tables) {
    const name = `${ref.schema}.${ref.table}`;
    const hasFilter = stream.relationalTableFilters?.[ref.schema]?.[ref.table]?.whereClause !== undefined;
    let found: TableLookup;
    try {
      found = await lookup(ref);
    } catch (err) {
      checks.push(failure(`table ${name}`, err, { table: name }));
      if (hasFilter) checks.push({ name: `filter ${name}`, ok: false, skipped: true, message: `skipped: the table ${name} could not be checked` });
      continue;
    }
    checks.push(
      found.missing.length === 0
        ? { name: `table ${name}`, ok: true, message: `${name} exists, ${found.meta.message}`, detail: { table: name } }
        : {
            name: `table ${name}`,
            ok: false,
            message: `the connection user lacks ${found.missing.join(', ')}`,
            suggestion: `GRANT SELECT ON ${name} TO <user>;`,
            detail: { table: name, missing: found.missing },
          },
    );
    if (hasFilter) {
      try {
        tableWhere(stream, ref, dialect, found.meta.columns);
        checks.push({ name: `filter ${name}`, ok: true, message: `the whereClause of ${name} compiles against its columns` });
      } catch (err) {
        checks.push(failure(`filter ${name}`, err, { table: name }));
      }
    }
  }
  return checks;
}
