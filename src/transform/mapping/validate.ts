/**
 * Checks a mapping spec: its shape without touching any database (stream create and
 * replace, and run start), and its column names against a table's schema (when the
 * sink first sees the table, and in previews). Every refusal is MAPPING_INVALID with
 * detail naming the table and the field of the spec.
 */
import { SluiceError } from '../../errors';
import type { StreamSpec, TableSchema } from '../../core';
import type { MappingSpec, TableMapping } from './spec';
import { FIELD_TYPES } from './types';
import { embedField, childrenOf } from './embed';
import { keyFieldOf } from './rows';

const invalid = (message: string, detail: { table?: string; field?: string } & Record<string, unknown>): never => {
  throw new SluiceError('MAPPING_INVALID', `mapping: ${message}`, detail);
};

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
const plainName = (v: unknown): v is string => typeof v === 'string' && v !== '' && !v.includes('.') && !v.startsWith('$');

function only(obj: Record<string, unknown>, allowed: string[], table: string, where: string): void {
  for (const k of Object.keys(obj)) if (!allowed.includes(k)) invalid(`${where} has an unknown member "${k}"`, { table, field: `${where}.${k}` });
}

function stringList(v: unknown, table: string, field: string, nonEmpty: boolean): string[] {
  if (!Array.isArray(v) || (nonEmpty && v.length === 0) || !v.every((c) => typeof c === 'string' && c !== '')) {
    invalid(`${field} must be a${nonEmpty ? ' non-empty' : 'n'} array of column names`, { table, field });
  }
  return v as string[];
}

function checkTable(table: string, tm: unknown): void {
  const at = `tables["${table}"]`;
  if (!/^[^.]+\.[^.]+$/.test(table)) invalid(`table names are "schema.table": ${JSON.stringify(table)}`, { table, field: at });
  if (!isObject(tm)) return invalid(`${at} must be an object`, { table, field: at });
  only(tm, ['collection', 'newDocuments', 'fields', 'nulls', 'id', 'embed'], table, at);
  if (tm.collection !== undefined && (typeof tm.collection !== 'string' || tm.collection === '' || tm.collection.includes('$') || tm.collection.startsWith('system.'))) {
    invalid(`${at}.collection must be a collection name (not empty, no "$", not system.*)`, { table, field: `${at}.collection` });
  }
  if (tm.newDocuments !== undefined && typeof tm.newDocuments !== 'boolean') invalid(`${at}.newDocuments must be true or false`, { table, field: `${at}.newDocuments` });
  if (tm.nulls !== undefined && tm.nulls !== 'keep' && tm.nulls !== 'omit') invalid(`${at}.nulls must be "keep" or "omit"`, { table, field: `${at}.nulls` });
  const names = new Map<string, string>();
  if (tm.fields !== undefined) {
    if (!isObject(tm.fields)) invalid(`${at}.fields must be an object of column → rule`, { table, field: `${at}.fields` });
    for (const [column, rule] of Object.entries(tm.fields as Record<string, unknown>)) {
      const f = `${at}.fields.${column}`;
      if (!isObject(rule)) return invalid(`${f} must be an object`, { table, field: f, column });
      only(rule, ['name', 'include', 'type'], table, f);
      if (rule.name !== undefined && !plainName(rule.name)) invalid(`${f}.name must be a field name without "." and not starting with "$"`, { table, field: `${f}.name`, column });
      if (rule.include !== undefined && typeof rule.include !== 'boolean') invalid(`${f}.include must be true or false`, { table, field: `${f}.include`, column });
      if (rule.type !== undefined && !FIELD_TYPES.includes(rule.type as never)) {
        invalid(`${f}.type must be one of ${FIELD_TYPES.join(', ')}`, { table, field: `${f}.type`, column });
      }
      if (rule.include !== false && typeof rule.name === 'string') {
        const other = names.get(rule.name);
        if (other !== undefined) invalid(`${f}.name: columns ${other} and ${column} both become field "${rule.name}"`, { table, field: `${f}.name`, column });
        names.set(rule.name, column);
        if (rule.name === '_id') invalid(`${f}.name: "_id" is the document's identity, set by the id strategy`, { table, field: `${f}.name`, column });
      }
    }
  }
  if (tm.id !== undefined) {
    const f = `${at}.id`;
    if (!isObject(tm.id)) return invalid(`${f} must be {"strategy": "key"} or {"strategy": "objectId", "keyField": …}`, { table, field: f });
    only(tm.id, ['strategy', 'keyField'], table, f);
    if (tm.id.strategy !== 'key' && tm.id.strategy !== 'objectId') invalid(`${f}.strategy must be "key" or "objectId"`, { table, field: `${f}.strategy` });
    if (tm.id.keyField !== undefined && (tm.id.strategy !== 'objectId' || !plainName(tm.id.keyField) || tm.id.keyField === '_id')) {
      invalid(`${f}.keyField goes with the objectId strategy and is a field name (no ".", not "$…", not "_id")`, { table, field: `${f}.keyField` });
    }
  }
  if (tm.embed !== undefined) {
    const f = `${at}.embed`;
    const e = tm.embed;
    if (!isObject(e)) return invalid(`${f} must be an object`, { table, field: f });
    only(e, ['into', 'kind', 'field', 'foreignKey', 'references', 'sort'], table, f);
    if (typeof e.into !== 'string' || !/^[^.]+\.[^.]+$/.test(e.into)) invalid(`${f}.into must name the parent table as "schema.table"`, { table, field: `${f}.into` });
    if (e.into === table) invalid(`${f}.into: a table cannot be embedded into itself`, { table, field: `${f}.into` });
    if (e.kind !== 'array' && e.kind !== 'document' && e.kind !== 'merge') invalid(`${f}.kind must be "array", "document" or "merge"`, { table, field: `${f}.kind` });
    if (e.field !== undefined && !plainName(e.field)) invalid(`${f}.field must be a field name without "." and not starting with "$"`, { table, field: `${f}.field` });
    const fk = stringList(e.foreignKey, table, `${f}.foreignKey`, true);
    if (e.references !== undefined) {
      const refs = stringList(e.references, table, `${f}.references`, true);
      if (refs.length !== fk.length) invalid(`${f}.references must name as many parent columns as foreignKey has (${fk.length})`, { table, field: `${f}.references` });
    } else if (fk.length > 1) {
      invalid(`${f}.references is needed for a composite foreign key: the parent's key columns, in the same order`, { table, field: `${f}.references` });
    }
    if (e.sort !== undefined) {
      if (!Array.isArray(e.sort)) invalid(`${f}.sort must be an array of {"field", "desc"}`, { table, field: `${f}.sort` });
      (e.sort as unknown[]).forEach((s, i) => {
        if (!isObject(s) || typeof s.field !== 'string' || s.field === '' || (s.desc !== undefined && typeof s.desc !== 'boolean')) {
          invalid(`${f}.sort[${i}] must be {"field": name, "desc": true|false}`, { table, field: `${f}.sort[${i}]` });
        }
        only(s as Record<string, unknown>, ['field', 'desc'], table, `${f}.sort[${i}]`);
      });
      if (e.kind === 'merge') invalid(`${f}.sort does not apply to a merge`, { table, field: `${f}.sort` });
    }
  } else if (tm.newDocuments === false) {
    invalid(`${at}: newDocuments false without embed writes this table nowhere`, { table, field: `${at}.newDocuments` });
  }
}

/**
 * Checks the shape of a resolved mapping spec. `streamTables` (the stream's `tables`)
 * is used when they are plain names: every mapped table and every parent must be one.
 * A `{mappingId}` reference is checked by the mapping resource, not here.
 */
export function validateMapping(mapping: unknown, streamTables?: readonly string[]): MappingSpec {
  if (mapping === undefined || mapping === null) return {};
  if (!isObject(mapping)) return invalid('must be an object {"tables": {…}}', { field: 'mapping' });
  // A reference to a mapping resource: checked there, and again here once resolved into tables.
  if ('mappingId' in mapping && mapping.tables === undefined) return {};
  only(mapping, ['tables', 'mappingId'], '', 'mapping');
  if (mapping.tables === undefined) return {};
  if (!isObject(mapping.tables)) return invalid('mapping.tables must be an object of "schema.table" → rules', { field: 'mapping.tables' });
  const tables = mapping.tables as Record<string, unknown>;
  for (const [t, tm] of Object.entries(tables)) checkTable(t, tm);
  const plain = streamTables && streamTables.length > 0 && streamTables.every((t) => /^[^.*?]+\.[^*?]+$/.test(t)) ? new Set(streamTables) : undefined;
  // A mapping resource is shared: its rules for tables this stream does not read are left
  // out (a stream's own rules must name its tables: there an unknown table is a typo).
  const shared = 'mappingId' in mapping;
  const spec: MappingSpec =
    shared && plain ? { ...(mapping as MappingSpec), tables: Object.fromEntries(Object.entries(tables as Record<string, TableMapping>).filter(([t]) => plain.has(t))) } : (mapping as MappingSpec);
  const all = spec.tables!;
  for (const [t, tm] of Object.entries(all)) {
    if (plain && !plain.has(t)) invalid(`tables["${t}"] is not one of the stream's tables`, { table: t, field: `tables["${t}"]` });
    const e = tm.embed;
    if (!e) continue;
    const at = `tables["${t}"].embed.into`;
    if (plain && !plain.has(e.into)) invalid(`${at}: the parent ${e.into} is not one of the stream's tables`, { table: t, field: at });
    const parent: TableMapping | undefined = all[e.into];
    if (parent?.newDocuments === false) invalid(`${at}: the parent ${e.into} writes no documents of its own (newDocuments false)`, { table: t, field: at });
    if (parent?.embed) invalid(`${at}: the parent ${e.into} is itself embedded; one level of embedding is supported`, { table: t, field: at });
  }
  // Two children cannot write the same parent field.
  const parents = new Set(Object.values(all).flatMap((tm) => (tm.embed ? [tm.embed.into] : [])));
  for (const p of parents) {
    const seen = new Map<string, string>();
    for (const [child, rule] of childrenOf(spec, p)) {
      if (rule.kind === 'merge') continue;
      const field = embedField(rule, child);
      if (field === keyFieldOf(all[p]) || field === '_id') invalid(`tables["${child}"].embed.field "${field}" is the parent's key field`, { table: child, field: `tables["${child}"].embed.field` });
      const other = seen.get(field);
      if (other !== undefined) invalid(`tables["${child}"].embed.field: ${other} and ${child} both embed into ${p}.${field}`, { table: child, field: `tables["${child}"].embed.field` });
      seen.set(field, child);
    }
  }
  return spec;
}

/** Checks the column names a table's rules use against its schema. */
export function validateTableColumns(spec: MappingSpec, table: string, schema: TableSchema): void {
  const tm = spec.tables?.[table];
  if (!tm) return;
  const columns = new Set(schema.columns.map((c) => c.name));
  for (const column of Object.keys(tm.fields ?? {})) {
    if (!columns.has(column)) invalid(`tables["${table}"].fields.${column}: the table has no column ${column}`, { table, field: `tables["${table}"].fields.${column}`, column });
  }
  for (const column of tm.embed?.foreignKey ?? []) {
    if (!columns.has(column)) invalid(`tables["${table}"].embed.foreignKey: the table has no column ${column}`, { table, field: `tables["${table}"].embed.foreignKey`, column });
  }
  // A table embedded into a parent with references: they must be the parent's columns (checked on the parent).
  for (const [child, rule] of childrenOf(spec, table)) {
    for (const column of rule.references ?? []) {
      if (!columns.has(column)) invalid(`tables["${child}"].embed.references: ${table} has no column ${column}`, { table: child, field: `tables["${child}"].embed.references`, column });
    }
    if (rule.references && schema.key.length > 0 && rule.references.join('\u0000') !== schema.key.join('\u0000')) {
      invalid(`tables["${child}"].embed.references must be ${table}'s key columns in key order (${schema.key.join(', ')})`, { table: child, field: `tables["${child}"].embed.references` });
    }
    if (!rule.references && schema.key.some((c) => tm.fields?.[c]?.type !== undefined)) {
      invalid(`tables["${child}"].embed.references is needed: ${table}'s key has a type override, which the lookup must apply too`, { table: child, field: `tables["${child}"].embed.references` });
    }
    if (!rule.references && schema.key.length > 1) {
      invalid(`tables["${child}"].embed.references is needed: ${table} has a composite key (${schema.key.join(', ')})`, { table: child, field: `tables["${child}"].embed.references` });
    }
  }
}

/**
 * validateMapping for a stream spec, plus what depends on the rest of the spec: the
 * foreign-key columns of an embedded table must leave the source (not dropped by its
 * includeColumns / excludeColumns), or no child would find its parent.
 */
export function validateStreamMapping(stream: Pick<StreamSpec, 'mapping' | 'tables' | 'relationalTableFilters'>): MappingSpec {
  const spec = validateMapping(stream.mapping, stream.tables);
  for (const [table, tm] of Object.entries(spec.tables ?? {})) {
    if (!tm.embed) continue;
    const [schema, name] = table.split('.') as [string, string];
    const filter = stream.relationalTableFilters?.[schema]?.[name];
    for (const column of tm.embed.foreignKey) {
      const dropped = filter?.excludeColumns?.includes(column) || (filter?.includeColumns !== undefined && !filter.includeColumns.includes(column));
      if (dropped) {
        invalid(`tables["${table}"].embed.foreignKey: column ${column} is left out by the stream's column filter, so no row would find its parent`, { table, field: `tables["${table}"].embed.foreignKey`, column });
      }
    }
  }
  return spec;
}
