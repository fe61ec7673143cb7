/** Row and key decoding shared by the snapshot and the binlog stream. */
import type { Row, SourceInfo } from '../../src/core';
import { SluiceError } from '../../src/errors';
import type { TableMeta } from './catalog';
import { toValue } from './types';

/** Decodes one row image (values by column name) into canonical values. */
export function decodeRow(t: TableMeta, valueOf: (name: string, index: number) => unknown): Row {
  const row: Row = {};
  t.columns.forEach((c, i) => {
    const spec = t.schema.columns[i]!;
    try {
      row[c.name] = toValue(c, spec.type, valueOf(c.name, i));
    } catch (err) {
      const table = `${t.ref.schema}.${t.ref.table}`;
      throw new SluiceError('SOURCE_TYPE_UNSUPPORTED', `cannot read column ${table}.${c.name} (${c.columnType}): ${(err as Error).message}`, {
        table,
        column: c.name,
      }, { cause: err });
    }
  });
  return row;
}


export function sourceInfo(base: { name: string; db: string }, schema: string, table: string, extra: Partial<SourceInfo>): SourceInfo {
  return { connector: 'mysql', name: base.name, db: schema || base.db, schema, table, ts_ms: Date.now(), snapshot: false, ...extra };
}
