/**
 * The `protobuf` format's values: a JsonConverter payload (as serde.ts writes it: bytes
 * base64, int64 digits) to the plain object protobufjs encodes for a message type of
 * protobuf.ts's schemas, and a decoded message back; a check of the wire structure
 * before decoding; Confluent's message-index array. Pure, no I/O.
 */
import * as protobuf from 'protobufjs';
import { DECIMAL_TYPE, isArrayMessage, paramsOfField } from './protobuf';

type Kind = 'plain' | 'int64' | 'float' | 'bytes' | 'decimal' | 'struct' | 'array';
interface FieldPlan {
  proto: string;
  column: string;
  kind: Kind;
  /** proto3 `optional`: absent means null (protobufjs gives an absent optional int64 a zero Long). */
  presence?: boolean;
  struct?: FieldPlan[];
  item?: FieldPlan;
  zero?: unknown;
  precision?: number;
  scale?: number;
}

const plans = new WeakMap<protobuf.Type, FieldPlan[]>();

/** How each field of `type` maps to a JsonConverter payload field; built once per type. */
function planOf(type: protobuf.Type): FieldPlan[] {
  let plan = plans.get(type);
  if (plan) return plan;
  const fieldPlan = (f: protobuf.Field, column: string, repeated: boolean): FieldPlan => {
    const rt = f.resolvedType;
    const p = paramsOfField(f);
    if (repeated && !(rt instanceof protobuf.Type && isArrayMessage(rt))) {
      // a plain `repeated T` (ProtobufConverter's arrays): no NULL elements.
      return { proto: f.name, column, kind: 'array', item: { ...fieldPlan(f, 'items', false), proto: 'items' } };
    }
    if (rt instanceof protobuf.Type) {
      if (rt.fullName === '.' + DECIMAL_TYPE) return { proto: f.name, column, kind: 'decimal', precision: Number(p['connect.decimal.precision'] ?? 0), scale: Number(p.scale ?? 0), zero: {} };
      if (isArrayMessage(rt)) return { proto: f.name, column, kind: 'array', item: fieldPlan(rt.fields.items!, 'items', false) };
      return { proto: f.name, column, kind: 'struct', struct: planOf(rt), zero: {} };
    }
    if (f.long) return { proto: f.name, column, kind: 'int64', zero: 0 };
    if (f.type === 'float' || f.type === 'double') return { proto: f.name, column, kind: 'float', zero: 0 };
    if (f.type === 'bytes') return { proto: f.name, column, kind: 'bytes', zero: '' };
    return { proto: f.name, column, kind: 'plain', zero: f.type === 'bool' ? false : f.type === 'string' ? '' : 0 };
  };
  plan = type.fieldsArray.map((f) => ({ ...fieldPlan(f, paramsOfField(f)['sluice.column'] ?? f.name, f.repeated), presence: Boolean(f.partOf) }));
  plans.set(type, plan);
  return plan;
}

function toValue(f: FieldPlan, v: unknown): unknown {
  switch (f.kind) {
    case 'int64':
      return typeof v === 'bigint' ? v.toString() : v;
    case 'float':
      return Number(v); // "NaN", "Infinity" as Jackson writes them
    case 'decimal':
      return { value: v, precision: f.precision, scale: f.scale };
    case 'struct':
      return toObject(f.struct!, v as Record<string, unknown>);
    case 'array': {
      const a = v as unknown[];
      const it = f.item!;
      if (it.kind === 'array') throw new Error(`nested arrays have no Protobuf form (field ${f.column})`);
      const items = new Array<unknown>(a.length);
      const nulls: number[] = [];
      for (let i = 0; i < a.length; i++) {
        const x = a[i];
        if (x === null || x === undefined) {
          nulls.push(i);
          items[i] = it.zero;
        } else items[i] = toValue(it, x);
      }
      return { items, nulls };
    }
    default:
      return v; // bytes: the payload's base64 text, which protobufjs writes as bytes
  }
}

/** A JsonConverter payload (bytes base64, int64 digits) as the plain object protobufjs encodes for `type`. */
function toObject(plan: FieldPlan[], o: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const f of plan) {
    const v = o[f.column];
    if (v !== null && v !== undefined) out[f.proto] = toValue(f, v);
  }
  return out;
}

function fromValue(f: FieldPlan, v: unknown): unknown {
  if (v === null || v === undefined) return null;
  switch (f.kind) {
    case 'int64':
      return BigInt(String(v)); // a Long or a number
    case 'bytes':
      return Buffer.from(v as Uint8Array).toString('base64');
    case 'decimal':
      return Buffer.from((v as { value: Uint8Array }).value).toString('base64');
    case 'struct':
      return fromObject(f.struct!, v as Record<string, unknown>);
    case 'array': {
      const m = v as { items?: unknown[]; nulls?: number[] } | unknown[];
      const items = Array.isArray(m) ? m : (m.items ?? []);
      const out = items.map((x) => fromValue(f.item!, x));
      if (!Array.isArray(m)) for (const i of m.nulls ?? []) if (i < out.length) out[i] = null;
      return out;
    }
    default:
      return v;
  }
}

/** A decoded message back to a JsonConverter-style payload (bytes base64, int64 bigint). */
function fromObject(plan: FieldPlan[], m: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const f of plan) out[f.column] = f.presence && !Object.prototype.hasOwnProperty.call(m, f.proto) ? null : fromValue(f, m[f.proto]);
  return out;
}

/** Encoder and decoder of one message type between its wire bytes and JsonConverter payloads. */
export interface ProtoCodec {
  type: protobuf.Type;
  encode(payload: Record<string, unknown>): Uint8Array;
  decode(bytes: Uint8Array): Record<string, unknown>;
}

export function protoCodec(type: protobuf.Type): ProtoCodec {
  const plan = planOf(type);
  return {
    type,
    encode: (payload) => type.encode(toObject(plan, payload)).finish(),
    decode: (bytes) => {
      checkWire(bytes, 0, bytes.length, type);
      return fromObject(plan, type.decode(bytes) as unknown as Record<string, unknown>);
    },
  };
}

const VARINT_TYPES = new Set(['int32', 'int64', 'uint32', 'uint64', 'sint32', 'sint64', 'bool', 'enum']);

/**
 * Checks the wire structure of a message (every varint ends, every length fits) before
 * protobufjs decodes it: protobufjs 7 reads a varint cut short after its fourth byte as
 * if it were whole, so a truncated record would decode to other numbers. A record cut
 * exactly between two fields is a shorter valid message; no Protobuf reader can tell.
 */
function checkWire(buf: Uint8Array, start: number, end: number, type: protobuf.Type): void {
  const c = { at: start };
  while (c.at < end) {
    const tag = varint(buf, c, end);
    const id = tag >>> 3;
    if (id === 0) throw new Error('the Protobuf bytes hold field number 0');
    const field = type.fieldsById[id];
    switch (tag & 7) {
      case 0:
        varint(buf, c, end);
        break;
      case 1:
      case 5:
        c.at += (tag & 7) === 1 ? 8 : 4;
        if (c.at > end) throw new Error('the Protobuf bytes are cut short (a fixed-size field)');
        break;
      case 2: {
        const len = varint(buf, c, end);
        if (len > end - c.at) throw new Error(`the Protobuf bytes are cut short (field ${id} says ${len} bytes, ${end - c.at} are left)`);
        const stop = c.at + len;
        const rt = field?.resolvedType;
        if (rt instanceof protobuf.Type && !field!.map) checkWire(buf, c.at, stop, rt);
        else if (field?.repeated && VARINT_TYPES.has(field.type)) while (c.at < stop) varint(buf, c, stop);
        c.at = stop;
        break;
      }
      default:
        throw new Error(`the Protobuf bytes hold wire type ${tag & 7}, which sluice does not read`);
    }
  }
}

/** A varint at c.at (advanced past it), ending before `end`; values past 2^32 come back inexact (only lengths and tags are used). */
function varint(buf: Uint8Array, c: { at: number }, end: number): number {
  let n = 0;
  for (let shift = 0; shift < 70; shift += 7) {
    if (c.at >= end) throw new Error('the Protobuf bytes are cut short (a varint does not end)');
    const b = buf[c.at++]!;
    n += (b & 0x7f) * 2 ** shift;
    if (!(b & 0x80)) return n;
  }
  throw new Error('the Protobuf bytes hold a varint longer than 10 bytes');
}

// ---- Confluent's message indexes ------------------------------------------------------

/** The message-index array after the schema id: one zero byte for the file's first message. */
export const FIRST_MESSAGE = Buffer.from([0]);

/** Reads the message-index array (zigzag varints; a lone 0 means [0]) at `at`; returns the indexes and where the message starts. */
export function readMessageIndexes(buf: Buffer, at: number): { indexes: number[]; start: number } {
  const c = { at };
  const zigzag = () => {
    const n = varint(buf, c, buf.length);
    return n % 2 ? -(n + 1) / 2 : n / 2;
  };
  const count = zigzag();
  if (count === 0) return { indexes: [0], start: c.at };
  if (count < 0 || count > 64) throw new Error(`the message-index array says ${count} indexes`);
  const indexes: number[] = [];
  for (let i = 0; i < count; i++) indexes.push(zigzag());
  return { indexes, start: c.at };
}
