/** Row and key decoding shared by the snapshot and the binlog stream. */
import { keyOf, sameKey, type ChangeEvent, type Row, type SourceInfo } from '../../src/core';
import { SluiceError } from '../../src/errors';
import type { TableMeta } from './catalog';
import { toValue } from './types';
import type { ZongJiEvent } from './zongji';

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

/** The change events of one binlog row event (`writerows`, `updaterows`, `deleterows`) of table `t`. */
export function rowEvents(t: TableMeta, kind: string, rows: NonNullable<ZongJiEvent['rows']>, source: SourceInfo): ChangeEvent[] {
  const key = t.key;
  const event = (op: ChangeEvent['op'], k: Row, before: Row | null, after: Row | null): ChangeEvent => ({
    table: t.ref,
    op,
    key: k,
    before,
    after,
    source,
    ts_ms: Date.now(),
    schema: t.schema,
  });
  const decode = (r: Record<string, unknown>): Row => decodeRow(t, (name) => r[name]);
  const out: ChangeEvent[] = [];
  for (const r of rows) {
    if (kind === 'writerows') {
      const after = decode(r as Record<string, unknown>);
      out.push(event('c', keyOf(key, after), null, after));
    } else if (kind === 'deleterows') {
      const before = decode(r as Record<string, unknown>);
      out.push(event('d', keyOf(key, before), before, null));
    } else {
      const pair = r as { before: Record<string, unknown>; after: Record<string, unknown> };
      const before = decode(pair.before);
      const after = decode(pair.after);
      if (!sameKey(before, after, key)) {
        // A key change is a different document: remove the old, create the new.
        out.push(event('d', keyOf(key, before), before, null), event('c', keyOf(key, after), null, after));
      } else {
        out.push(event('u', keyOf(key, after), before, after));
      }
    }
  }
  return out;
}
