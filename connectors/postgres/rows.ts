/** Row and key decoding shared by the snapshot and the change stream. */
import type { Row, SourceInfo } from '../../src/core';
import type { TypeLookup } from './types';
import { decodeText } from './types';
import type { ColumnMeta } from './catalog';
import { SluiceError } from '../../src/errors';

/** Decodes text values by column; `undefined` (unchanged TOAST) is kept, never turned into null. */
export function decodeRow(
  columns: ReadonlyArray<Pick<ColumnMeta, 'name' | 'typeOid'>>,
  valueOf: (name: string, index: number) => string | null | undefined,
  types: TypeLookup,
  table: string,
): Row {
  const row: Row = {};
  columns.forEach((c, i) => {
    const text = valueOf(c.name, i);
    try {
      row[c.name] = decodeText(text, types(c.typeOid), types);
    } catch (err) {
      throw new SluiceError('SOURCE_TYPE_UNSUPPORTED', `cannot read column ${table}.${c.name} (${types(c.typeOid).name}): ${(err as Error).message}`, {
        table,
        column: c.name,
      }, { cause: err });
    }
  });
  return row;
}


export function sourceInfo(base: Pick<SourceInfo, 'name' | 'db'>, schema: string, table: string, extra: Partial<SourceInfo>): SourceInfo {
  return { connector: 'postgresql', name: base.name, db: base.db, schema, table, ts_ms: Date.now(), snapshot: false, ...extra };
}
