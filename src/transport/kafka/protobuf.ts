/**
 * Connect schemas to Protobuf (.proto text, proto3) and back, for the `protobuf` record
 * format (values: protobuf-values.ts), in the shapes Confluent's ProtobufConverter writes:
 * - a struct is a message named by the last part of its Connect name (Envelope, Value,
 *   Source, Key, VariableScaleDecimal), the rest of the name is the package; the first
 *   message of the file is the record's (message index 0);
 * - Decimal is `confluent.type.Decimal` (unscaled value as big-endian two's complement
 *   bytes, precision, scale); int8/int16 are int32; nullable scalars are proto3
 *   `optional`, so NULL and zero differ (messages have presence anyway);
 * - Connect's name, version and parameters (io.debezium.time.MicroTimestamp,
 *   io.debezium.data.Json, scale, …) are kept in `confluent.field_meta` params, so a
 *   consumer finds Debezium's logical types; a message keeps its Connect name in
 *   `confluent.message_meta`;
 * - an array column is a message `<Field>Array { repeated T items = 1; repeated uint32
 *   nulls = 2; }`: a NULL array is an absent message, and a NULL element is the type's
 *   zero value in `items` with its position listed in `nulls` (repeated fields cannot
 *   hold a null);
 * - a column whose name is not a plain identifier, or is a Protobuf keyword ("order id",
 *   "message"), gets a field name of letters, digits and "_" ("order_id", "message_";
 *   "_<number>" appended on a clash) and keeps its own name in the `sluice.column` param;
 * - a row message's (Value, Key) scalars are all proto3 `optional`, required ones marked
 *   in `connect.optional`: a NOT NULL change then changes no label.
 *
 * Field numbers of a row message are stable across table versions: they are derived
 * from the subject's previous version (`Numbering`, read back from the .proto the
 * registry holds, so it survives restarts): a column keeps its number and field name, a
 * new column takes one past every number ever used, and a dropped column's number and
 * name are `reserved`, so DROP COLUMN x then ADD COLUMN x gives x a new number (and field
 * name): records written before the drop do not decode their old x into the new one.
 * Numbering by ordinal position would not do: MariaDB renumbers the columns after a
 * dropped one. Other messages are numbered in field order.
 *
 * Pure: no I/O, so a sink worker can build it in another thread.
 */
import * as protobuf from 'protobufjs';
import type { ConnectSchema } from './columns';

const DECIMAL = 'org.apache.kafka.connect.data.Decimal';
export const DECIMAL_TYPE = 'confluent.type.Decimal';
/** Param keys sluice writes beside a Connect schema's own parameters. */
const META_KEYS = new Set(['connect.name', 'connect.version', 'connect.type', 'connect.optional', 'sluice.column']);

const KEYWORDS = new Set(
  (
    'syntax edition import weak public package option message enum service rpc returns stream extend extensions reserved to max oneof map repeated optional required group true false inf nan ' +
    'double float int32 int64 uint32 uint64 sint32 sint64 fixed32 fixed64 sfixed32 sfixed64 bool string bytes ' +
    // names that would shadow protobufjs's message members
    'constructor prototype toJSON toObject encode decode verify fromObject create hasOwnProperty __proto__'
  ).split(' '),
);
const IDENT = /^[A-Za-z_][A-Za-z0-9_]*$/;

/** The field numbers and names of a row message (Value or Key) in a registered version. */
export interface Numbering {
  /** Column name → field number. */
  fields: Map<string, number>;
  /** Column name → field name (the column's own, or adjusted). */
  names: Map<string, string>;
  /** Numbers and field names of dropped columns (never reused). */
  reserved: number[];
  reservedNames: string[];
}

export interface ProtoSchema {
  /** The .proto text to register. */
  text: string;
  /** The row message's numbering, for the subject's next version. */
  numbering: Numbering;
}

const SCALAR: Record<string, string> = { int8: 'int32', int16: 'int32', int32: 'int32', int64: 'int64', float: 'float', float32: 'float', double: 'double', float64: 'double', boolean: 'bool', string: 'string', bytes: 'bytes' };

const q = (s: string) => JSON.stringify(s);
const fieldName = (s: string) => (IDENT.test(s) && !KEYWORDS.has(s) ? s : (/^[0-9]/.test(s) ? '_' : '') + s.replace(/[^A-Za-z0-9_]/g, '_') + (KEYWORDS.has(s) ? '_' : ''));
const identPart = (s: string) => (/^[0-9]/.test(s) ? '_' : '') + s.replace(/[^A-Za-z0-9_]/g, '_') || '_';
const pascal = (s: string) => s.replace(/(^|_)([a-z])/g, (_m, _u, c: string) => c.toUpperCase());

/** The Debezium envelope (before, after, op, …), not a key struct that happens to have a column "after". */
const isEnvelope = (fields: ReadonlyArray<{ field?: string }>) => ['before', 'after', 'source', 'op'].every((n) => fields.some((f) => f.field === n));

/**
 * Numbers and field names for a row message's columns given the subject's previous
 * version (none: 1..n). A column keeps its number and field name; a new one takes the
 * next number past every one used or reserved, and its own name unless Protobuf refuses
 * it, it clashes with another column's, or a dropped column's name is reserved (then
 * "_<number>" is appended). Dropped columns' numbers and names become reserved, as
 * registries that check removals (Apicurio, protolock rules) require.
 */
export function numberColumns(columns: readonly string[], previous?: Numbering): Numbering {
  const fields = new Map<string, number>();
  const names = new Map<string, string>();
  const reserved = new Set(previous?.reserved ?? []);
  const reservedNames = new Set(previous?.reservedNames ?? []);
  let max = Math.max(0, ...reserved, ...(previous?.fields.values() ?? []));
  const taken = new Set<string>();
  for (const c of columns) {
    const was = previous?.fields.get(c);
    const name = previous?.names.get(c);
    if (was !== undefined && name !== undefined && !reserved.has(was)) {
      fields.set(c, was);
      names.set(c, name);
      taken.add(name);
    } else fields.set(c, ++max);
  }
  const literal = new Set(columns.filter((c) => fieldName(c) === c));
  for (const c of columns) {
    if (names.has(c)) continue;
    let name = fieldName(c);
    if ((name !== c && literal.has(name)) || taken.has(name) || reservedNames.has(name)) name = `${name}_${fields.get(c)}`;
    names.set(c, name);
    taken.add(name);
  }
  const used = new Set(fields.values());
  for (const [c, n] of previous?.fields ?? []) {
    if (used.has(n)) continue;
    reserved.add(n);
    const name = previous!.names.get(c);
    if (name !== undefined) reservedNames.add(name);
  }
  return { fields, names, reserved: [...reserved].sort((a, b) => a - b), reservedNames: [...reservedNames].sort() };
}

function metaOption(kind: 'field_meta' | 'message_meta', params: Record<string, string>): string {
  const entries = Object.entries(params);
  if (!entries.length) return '';
  return `(confluent.${kind}) = { ${entries.map(([k, v]) => `params: { key: ${q(k)}, value: ${q(v)} }`).join(' ')} }`;
}

function paramsOf(s: ConnectSchema, column: string, proto: string, presence: boolean): Record<string, string> {
  const p: Record<string, string> = { ...(s.parameters ?? {}) };
  if (s.name) p['connect.name'] = s.name;
  if (s.version !== undefined) p['connect.version'] = String(s.version);
  if (s.type === 'int8' || s.type === 'int16') p['connect.type'] = s.type;
  if (presence && s.optional === false) p['connect.optional'] = 'false';
  if (proto !== column) p['sluice.column'] = column;
  return p;
}

/**
 * A Connect schema (Envelope or Key) as .proto text. `previous` numbers the row
 * message's fields (see above); the row message is the Envelope's `after` struct, or
 * the Key itself.
 */
export function connectToProto(schema: ConnectSchema, previous?: Numbering): ProtoSchema {
  const full = schema.name ?? 'ConnectDefault';
  const dot = full.lastIndexOf('.');
  const pkg = dot > 0 ? full.slice(0, dot).split('.').map(identPart).join('.') : '';
  const rowStruct = (isEnvelope(schema.fields ?? []) && schema.fields!.find((f) => f.field === 'after')) || schema;
  const numbering = numberColumns((rowStruct.fields ?? []).map((f) => f.field ?? ''), previous);
  const messages: string[] = [];
  const names = new Map<string, string>(); // Connect struct name → message name
  let usesDecimal = false;

  const typeOf = (s: ConnectSchema, nested: string[], taken: Set<string>, hint: string): string => {
    if (s.type === 'struct') return message(s);
    if (s.name === DECIMAL) {
      usesDecimal = true;
      return DECIMAL_TYPE;
    }
    if (s.type === 'array') {
      let n = pascal(hint) + 'Array';
      for (let i = 2; taken.has(n); i++) n = pascal(hint) + 'Array' + i;
      taken.add(n);
      const item = s.items!;
      const itemType = typeOf(item, nested, taken, hint + '_item');
      const opt = metaOption('field_meta', paramsOf(item, 'items', 'items', false));
      nested.push(`  message ${n} {\n    repeated ${itemType} items = 1${opt ? ` [${opt}]` : ''};\n    repeated uint32 nulls = 2;\n  }`);
      return n;
    }
    const t = SCALAR[s.type];
    if (!t) throw new Error(`Connect type ${s.type} has no Protobuf form here`);
    return t;
  };

  const message = (s: ConnectSchema): string => {
    const connectName = s.name ?? 'ConnectDefault';
    const known = names.get(connectName);
    if (known) return known;
    let name = identPart(connectName.slice(connectName.lastIndexOf('.') + 1));
    const used = new Set(names.values());
    for (let i = 2; used.has(name); i++) name = `${name}${i}`;
    names.set(connectName, name);
    const at = messages.length;
    messages.push(''); // keep declaration order: the record's message first
    const isRow = s === rowStruct || (s.name !== undefined && s.name === rowStruct.name && s.type === 'struct');
    const plain = isRow ? undefined : numberColumns((s.fields ?? []).map((f) => f.field ?? ''));
    const taken = new Set<string>();
    const nested: string[] = [];
    const lines: string[] = [];
    (s.fields ?? []).forEach((f, i) => {
      const column = f.field ?? '';
      const number = isRow ? numbering.fields.get(column)! : i + 1;
      const proto = (isRow ? numbering : plain!).names.get(column)!;
      const t = typeOf(f, nested, taken, proto);
      const isMessage = f.type === 'struct' || f.type === 'array' || f.name === DECIMAL;
      // A row's scalars are all proto3 optional (required ones say so in connect.optional):
      // SET/DROP NOT NULL then changes no field label, which registries refuse.
      const opt = metaOption('field_meta', paramsOf(f, column, proto, isMessage || isRow));
      lines.push(`  ${!isMessage && (f.optional || isRow) ? 'optional ' : ''}${t} ${proto} = ${number}${opt ? ` [${opt}]` : ''};`);
    });
    if (isRow && numbering.reserved.length) lines.push(`  reserved ${numbering.reserved.join(', ')};`);
    if (isRow && numbering.reservedNames.length) lines.push(`  reserved ${numbering.reservedNames.map(q).join(', ')};`);
    const mopt = metaOption('message_meta', { 'connect.name': connectName, ...(s.version !== undefined ? { 'connect.version': String(s.version) } : {}) });
    messages[at] = `message ${name} {\n  option ${mopt};\n${[...lines, ...nested].join('\n')}\n}`;
    return name;
  };

  message(schema);
  const head = ['syntax = "proto3";', ...(pkg ? [`package ${pkg};`] : []), '', 'import "confluent/meta.proto";', ...(usesDecimal ? ['import "confluent/type/decimal.proto";'] : []), ''];
  return { text: head.join('\n') + '\n' + messages.join('\n\n') + '\n', numbering };
}

// ---- reading .proto text back ---------------------------------------------------------

/**
 * The imports sluice's schemas name, defined for protobufjs (which does not resolve
 * options, so meta.proto's extensions need not be there; a registry knows both files).
 */
const DEPENDENCIES = 'syntax = "proto3"; package confluent.type; message Decimal { bytes value = 1; uint32 precision = 2; int32 scale = 3; }';

/** The record's message type of a .proto (message index 0 unless `indexes` say otherwise). */
export function protoType(text: string, indexes: readonly number[] = [0]): protobuf.Type {
  const root = new protobuf.Root();
  protobuf.parse(DEPENDENCIES, root, { keepCase: true });
  const parsed = protobuf.parse(text, root, { keepCase: true });
  root.resolveAll();
  const pkg = parsed.package ? root.lookup(parsed.package) : root;
  let ns = pkg as protobuf.Namespace;
  let type: protobuf.Type | undefined;
  for (const i of indexes) {
    const t = ns.nestedArray.filter((x): x is protobuf.Type => x instanceof protobuf.Type && (ns !== root || x.name !== 'confluent'))[i];
    if (!t) throw new Error(`message index ${i} is not in the schema`);
    type = ns = t;
  }
  if (!type) throw new Error('the schema has no message');
  return type;
}

export function paramsOfField(f: protobuf.Field | protobuf.Type): Record<string, string> {
  const out: Record<string, string> = {};
  for (const o of (f.parsedOptions ?? []) as unknown[]) {
    const meta = (o as Record<string, unknown>)['(confluent.field_meta)'] ?? (o as Record<string, unknown>)['(confluent.message_meta)'];
    const params = (meta as { params?: unknown } | undefined)?.params;
    for (const p of Array.isArray(params) ? params : params ? [params] : []) {
      const { key, value } = p as { key?: unknown; value?: unknown };
      if (typeof key === 'string') out[key] = String(value ?? '');
    }
  }
  return out;
}

export const isArrayMessage = (t: protobuf.Type) => t.fieldsArray.length === 2 && t.fields.items?.repeated === true && t.fields.nulls?.repeated === true;

/** Where a row message's columns are numbered: the numbering the next version starts from. */
export function protoNumbering(text: string): Numbering {
  const top = protoType(text);
  const row = (isEnvelope(top.fieldsArray.map((f) => ({ field: f.name }))) && (top.fields.after!.resolvedType as protobuf.Type | null)) || top;
  const fields = new Map<string, number>();
  const names = new Map<string, string>();
  for (const f of row.fieldsArray) {
    const column = paramsOfField(f)['sluice.column'] ?? f.name;
    fields.set(column, f.id);
    names.set(column, f.name);
  }
  const reserved: number[] = [];
  const reservedNames: string[] = [];
  for (const r of row.reserved ?? []) {
    if (typeof r === 'string') reservedNames.push(r);
    else for (let n = r[0]!; n <= r[1]!; n++) reserved.push(n);
  }
  return { fields, names, reserved, reservedNames: reservedNames.sort() };
}

/** The Connect schema a protobuf message type stands for (sluice's, or ProtobufConverter's plainer ones). */
export function protoToConnect(type: protobuf.Type): ConnectSchema {
  const conv = (f: protobuf.Field, p: Record<string, string>, element = false): ConnectSchema => {
    const rt = f.resolvedType;
    let s: ConnectSchema;
    if (f.repeated && !element) s = { type: 'array', items: { ...conv(f, {}, true), optional: true } };
    else if (rt instanceof protobuf.Type && rt.fullName === '.' + DECIMAL_TYPE) s = { type: 'bytes', name: DECIMAL };
    else if (rt instanceof protobuf.Type && isArrayMessage(rt)) {
      const items = rt.fields.items!;
      s = { type: 'array', items: { ...conv(items, paramsOfField(items), true), optional: true } };
    } else if (rt instanceof protobuf.Type) s = struct(rt);
    else {
      const t = { int32: 'int32', sint32: 'int32', uint32: 'int64', fixed32: 'int64', sfixed32: 'int32', int64: 'int64', sint64: 'int64', uint64: 'int64', fixed64: 'int64', sfixed64: 'int64', float: 'float', double: 'double', bool: 'boolean', string: 'string', bytes: 'bytes' }[f.type];
      if (!t) throw new Error(`Protobuf type ${f.type} is not read`);
      s = { type: p['connect.type'] ?? t };
    }
    s.optional = p['connect.optional'] === 'false' ? false : rt instanceof protobuf.Type || Boolean(f.options?.proto3_optional);
    if (p['connect.name']) s.name = p['connect.name'];
    if (p['connect.version'] !== undefined) s.version = Number(p['connect.version']);
    const parameters = Object.fromEntries(Object.entries(p).filter(([k]) => !META_KEYS.has(k)));
    if (s.name === DECIMAL && parameters.scale === undefined) parameters.scale = '0';
    if (Object.keys(parameters).length) s.parameters = parameters;
    return s;
  };
  const struct = (t: protobuf.Type): ConnectSchema => {
    const mp = paramsOfField(t);
    const out: ConnectSchema = { type: 'struct', name: mp['connect.name'] ?? t.fullName.slice(1), fields: [] };
    if (mp['connect.version'] !== undefined) out.version = Number(mp['connect.version']);
    for (const f of t.fieldsArray) {
      const p = paramsOfField(f);
      out.fields!.push({ ...conv(f, p), field: p['sluice.column'] ?? f.name });
    }
    return out;
  };
  return { ...struct(type), optional: false };
}
