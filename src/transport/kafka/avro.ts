/**
 * Connect schemas and values to Avro and back, as Confluent's AvroData (and so
 * Debezium's AvroConverter, connect.meta.data=true) maps them: structs are records named
 * by their Connect name, optional fields `["null", T]` with default null, int8/int16 ints
 * with "connect.type", semantic types keep "connect.name", "connect.version" and
 * "connect.parameters", Decimal is bytes with logicalType decimal, scale and precision.
 * Names Avro refuses ("-" in a topic prefix, a column "order id") are adjusted as
 * Debezium's schema.name.adjustment.mode=avro does ("_"); a field keeps its column name
 * in "sluice.column".
 *
 * Pure: no I/O, so a sink worker can build it in another thread.
 */
import * as avsc from 'avsc';
import type { ConnectSchema } from './columns';

type AvroSchema = string | AvroSchema[] | { [k: string]: unknown };

const validName = (s: string) => /^[A-Za-z_][A-Za-z0-9_]*$/.test(s);
const adjust = (s: string) => (validName(s) ? s : (/^[0-9]/.test(s) ? '_' : '') + s.replace(/[^A-Za-z0-9_]/g, '_'));

const PRIMITIVE: Record<string, string> = { int8: 'int', int16: 'int', int32: 'int', int64: 'long', float32: 'float', float: 'float', float64: 'double', double: 'double', boolean: 'boolean', string: 'string', bytes: 'bytes' };

/** A Connect schema (envelope or key struct) as the Avro schema AvroData writes. */
export function connectToAvro(schema: ConnectSchema): AvroSchema {
  const defined = new Set<string>();
  const conv = (s: ConnectSchema): AvroSchema => {
    let t: AvroSchema;
    if (s.type === 'struct') {
      const full = (s.name ?? 'ConnectDefault').split('.').map(adjust).join('.');
      if (defined.has(full)) t = full;
      else {
        defined.add(full);
        const dot = full.lastIndexOf('.');
        const rec: Record<string, unknown> = { type: 'record', name: full.slice(dot + 1) };
        if (dot > 0) rec.namespace = full.slice(0, dot);
        rec.fields = (s.fields ?? []).map((f) => {
          const name = f.field ?? '';
          const field: Record<string, unknown> = { name: adjust(name), type: optional(f, conv(f)) };
          if (f.optional) field.default = null;
          if (!validName(name)) field['sluice.column'] = name;
          return field;
        });
        meta(rec, s);
        t = rec;
      }
    } else if (s.type === 'array') {
      t = { type: 'array', items: optional(s.items!, conv(s.items!)) };
      meta(t, s);
    } else {
      const prim = PRIMITIVE[s.type];
      if (!prim) throw new Error(`Connect type ${s.type} has no Avro form here`);
      const o: Record<string, unknown> = { type: prim };
      if (s.type === 'int8' || s.type === 'int16') o['connect.type'] = s.type;
      meta(o, s);
      if (s.name === 'org.apache.kafka.connect.data.Decimal') {
        o.logicalType = 'decimal';
        o.scale = Number(s.parameters?.scale ?? 0);
        o.precision = Number(s.parameters?.['connect.decimal.precision'] ?? 64);
      }
      t = Object.keys(o).length === 1 ? prim : o;
    }
    return t;
  };
  return conv(schema);
}

function optional(s: ConnectSchema, t: AvroSchema): AvroSchema {
  return s.optional ? ['null', t] : t;
}

function meta(o: Record<string, unknown>, s: ConnectSchema): void {
  if (s.version !== undefined) o['connect.version'] = s.version;
  if (s.parameters && Object.keys(s.parameters).length) o['connect.parameters'] = s.parameters;
  if (s.name) o['connect.name'] = s.name;
}

/** An Avro schema (sluice's or Debezium's AvroConverter's) back to the Connect schema it came from. */
export function avroToConnect(schema: AvroSchema): ConnectSchema {
  const named = new Map<string, ConnectSchema>();
  const conv = (a: AvroSchema, ns: string | undefined): ConnectSchema => {
    if (Array.isArray(a)) {
      const rest = a.filter((x) => x !== 'null');
      if (rest.length !== 1) throw new Error('Avro unions other than [null, T] are not Connect schemas');
      return { ...conv(rest[0]!, ns), optional: true };
    }
    if (typeof a === 'string') {
      const ref = named.get(a) ?? named.get(ns ? `${ns}.${a}` : a);
      if (ref) return { ...ref };
      return conv({ type: a }, ns);
    }
    const o = a as Record<string, unknown>;
    const out: ConnectSchema = { type: 'string', optional: false };
    const type = o.type as AvroSchema;
    if (typeof type !== 'string') return conv(type, ns);
    switch (type) {
      case 'record': {
        const n = String(o.name);
        const space = n.includes('.') ? undefined : ((o.namespace as string | undefined) ?? ns);
        const full = space ? `${space}.${n}` : n;
        out.type = 'struct';
        out.fields = [];
        named.set(full, out);
        for (const f of o.fields as Array<Record<string, unknown>>) {
          const fs = conv(f.type as AvroSchema, space);
          out.fields.push({ ...fs, field: (f['sluice.column'] as string | undefined) ?? String(f.name) });
        }
        out.name = (o['connect.name'] as string | undefined) ?? full;
        break;
      }
      case 'array':
        out.type = 'array';
        out.items = conv(o.items as AvroSchema, ns);
        break;
      case 'int':
        out.type = (o['connect.type'] as string | undefined) ?? 'int32';
        break;
      case 'long':
        out.type = 'int64';
        break;
      case 'float':
        out.type = 'float';
        break;
      case 'double':
        out.type = 'double';
        break;
      case 'boolean':
      case 'string':
      case 'bytes':
        out.type = type;
        break;
      case 'map':
        out.type = 'map';
        break;
      default:
        throw new Error(`Avro type ${type} is not read`);
    }
    if (o['connect.name'] && type !== 'record') out.name = o['connect.name'] as string;
    if (o['connect.version'] !== undefined) out.version = Number(o['connect.version']);
    const params = { ...((o['connect.parameters'] as Record<string, string> | undefined) ?? {}) };
    if (o.logicalType === 'decimal') {
      out.name ??= 'org.apache.kafka.connect.data.Decimal';
      params.scale ??= String(o.scale ?? 0);
      if (o.precision !== undefined) params['connect.decimal.precision'] ??= String(o.precision);
    }
    if (Object.keys(params).length) out.parameters = params;
    return out;
  };
  return conv(schema, undefined);
}

/** Avro longs as bigint both ways, so int64 keeps all its digits. */
const BigLong = avsc.types.LongType.__with({
  fromBuffer: (buf: Buffer) => buf.readBigInt64LE(),
  toBuffer: (n: bigint | number) => {
    const buf = Buffer.alloc(8);
    buf.writeBigInt64LE(BigInt(n));
    return buf;
  },
  fromJSON: (v: unknown) => BigInt(v as number),
  toJSON: (n: bigint) => Number(n),
  isValid: (n: unknown) => typeof n === 'bigint' || (typeof n === 'number' && Number.isInteger(n)),
  compare: (a: bigint, b: bigint) => (a < b ? -1 : a > b ? 1 : 0),
});

export function avroType(schema: AvroSchema): avsc.Type {
  // typeHook, not registry: a long with attributes ({"type":"long","connect.name":…}) bypasses the registry.
  const typeHook = (s: avsc.Schema): avsc.Type | undefined => (s === 'long' || (s as { type?: unknown }).type === 'long' ? BigLong : undefined);
  return avsc.Type.forSchema(schema as avsc.Schema, { typeHook, wrapUnions: false });
}

/** A JsonConverter payload (bytes base64, int64 digits) to the Avro datum of `s`. */
export function toDatum(s: ConnectSchema, v: unknown): unknown {
  if (v === null || v === undefined) return null;
  switch (s.type) {
    case 'struct': {
      const o = v as Record<string, unknown>;
      const out: Record<string, unknown> = {};
      for (const f of s.fields ?? []) out[adjust(f.field ?? '')] = toDatum(f, o[f.field ?? '']);
      return out;
    }
    case 'array':
      return (v as unknown[]).map((x) => toDatum(s.items!, x));
    case 'bytes':
      return Buffer.from(v as string, 'base64');
    case 'int64':
      return typeof v === 'bigint' ? v : BigInt(v as number | string);
    case 'float':
    case 'double':
      return Number(v);
    default:
      return v;
  }
}

/** An Avro datum back to a JsonConverter-style payload (bytes base64; int64 stays bigint). */
export function fromDatum(s: ConnectSchema, v: unknown): unknown {
  if (v === null || v === undefined) return null;
  switch (s.type) {
    case 'struct': {
      const o = v as Record<string, unknown>;
      const out: Record<string, unknown> = {};
      for (const f of s.fields ?? []) out[f.field ?? ''] = fromDatum(f, o[adjust(f.field ?? '')]);
      return out;
    }
    case 'array':
      return (v as unknown[]).map((x) => fromDatum(s.items!, x));
    case 'bytes':
      return (v as Buffer).toString('base64');
    default:
      return v;
  }
}
