/**
 * Debezium-compatible JSON, as Kafka Connect's JsonConverter writes it with
 * schemas.enable=true: `{"schema":…,"payload":…}` for key and value.
 *
 * Speed: a table version's Connect schema text and column codecs are built once
 * (WeakMap on the TableSchema object sources share), messages are built by string
 * concatenation, and decode skips re-parsing a schema it has seen on the topic.
 *
 * Beyond Debezium (documented for consumers):
 * - values a column's Connect type cannot carry in band (an unavailable, i.e.
 *   unchanged TOASTed, value of a non-text type; a NaN/±Infinity decimal) are written
 *   as null plus an entry in `payload.sluice.{before|after}.<column>` holding the
 *   placeholder or "NaN"/"Infinity"/"-Infinity". Consumers that ignore unknown payload
 *   fields (JsonConverter, the MongoDB sink connector) see a null.
 * - text, bytes and text/bytes/int arrays carry Debezium's in-band placeholders.
 *
 * `json-payload` (JsonConverter's schemas.enable=false form) writes the payload alone.
 * What payload-only JSON cannot say is carried so that sluice's sink reads the same
 * values back: decimals as exact strings ("12.340", "NaN"; Debezium's
 * decimal.handling.mode=string), times in Debezium's encodings (MicroTimestamp
 * microseconds, ZonedTimestamp ISO text, Date days), and `payload.sluice.types` maps each
 * column that is not a plain string to its type ({"price":"decimal","at":"timestamp"}).
 *
 * The registry formats (registry-serde.ts) reuse this class's Connect schemas and
 * payloads (`connectOf`, `fromConnect`) and convert them to and from their wire form.
 */
import { parse as losslessParse, isInteger, isSafeNumber } from 'lossless-json';
import { Decimal, type ChangeEvent, type Op, type Row, type ColumnSpec, type TableSchema } from '../../core';
import { SluiceError } from '../../errors';
import { columnCodec, isDecimalSpecial, UNAVAILABLE, type ColumnCodec, type ConnectSchema } from './columns';
import { columnFromSchema, foreignDecoder } from './connect-schema';
import { encodeSource, sourceSchema, decodeSource } from './source';

export { UNAVAILABLE } from './columns';

interface Encoder {
  connector: string;
  valuePrefix: string; // '{"schema":<envelope>,"payload":{"before":' (json-payload: '{"before":')
  keyPrefix: string; // '{"schema":<key>,"payload":' (json-payload: '')
  keySuffix: string; // '}' (json-payload: '')
  /** json-payload: ',"types":{…}' inside payload.sluice; '' otherwise. */
  types: string;
  cols: { name: string; json: string; codec: ColumnCodec }[];
  key: { name: string; json: string; codec: ColumnCodec }[];
  envelope: ConnectSchema;
  keySchema: ConnectSchema;
}

export type JsonFormat = 'json' | 'json-payload';

interface Decoder {
  schema: TableSchema;
  cols: { name: string; decode: (v: unknown) => unknown; isPlaceholder: (v: unknown) => boolean }[];
}

export interface Where {
  topic: string;
  partition?: number;
  offset?: string;
}

const OPS = new Set(['c', 'u', 'd', 'r']);

export class DebeziumSerde {
  readonly #prefix: string;
  readonly #encoders = new WeakMap<TableSchema, Encoder>();
  // Decode caches: the schema prefix last seen per topic (and per topic key), and
  // schema text → decoder for topics that alternate between schema versions.
  readonly #lastBySlot = new Map<string, { prefix: Buffer; decoder: Decoder }>();
  readonly #decoders = new Map<string, Decoder>();

  readonly #payloadOnly: boolean;
  readonly format: JsonFormat;

  constructor(topicPrefix: string, format: JsonFormat = 'json') {
    this.#prefix = topicPrefix;
    this.format = format;
    this.#payloadOnly = format === 'json-payload';
  }

  /** Nothing to prepare: JSON needs no registry. */
  prepare(): undefined {
    return undefined;
  }
  prepareDecode(): undefined {
    return undefined;
  }

  /** The Kafka record key bytes' text: same key, same text (partitioning depends on it). */
  encodeKey(event: ChangeEvent): string {
    const enc = this.#encoder(event);
    let out = enc.keyPrefix + '{';
    for (let i = 0; i < enc.key.length; i++) {
      const k = enc.key[i]!;
      let v = event.key[k.name];
      if (v === undefined) v = (event.after ?? event.before ?? {})[k.name];
      out += (i ? ',' : '') + k.json + (v === null || v === undefined ? 'null' : k.codec.encode(v));
    }
    return out + '}' + enc.keySuffix;
  }

  encodeValue(event: ChangeEvent): string {
    const enc = this.#encoder(event);
    return enc.valuePrefix + this.#payloadBody(enc, event) + (this.#payloadOnly ? '' : '}');
  }

  /** The event's key or value in the Connect model: the table version's schema (same object each time) and the JsonConverter payload text. */
  connectOf(event: ChangeEvent, part: 'key' | 'value'): { schema: ConnectSchema; payload: string } {
    const enc = this.#encoder(event);
    if (part === 'value') return { schema: enc.envelope, payload: '{"before":' + this.#payloadBody(enc, event) };
    const key = this.encodeKey(event);
    return { schema: enc.keySchema, payload: key.slice(enc.keyPrefix.length, key.length - enc.keySuffix.length) };
  }

  /** The table version's Envelope and Key schemas, without encoding anything. */
  schemasOf(event: ChangeEvent): { value: ConnectSchema; key: ConnectSchema } {
    const enc = this.#encoder(event);
    return { value: enc.envelope, key: enc.keySchema };
  }

  // The payload after its '{"before":'.
  #payloadBody(enc: Encoder, event: ChangeEvent): string {
    const side: { before?: Record<string, string>; after?: Record<string, string> } = {};
    const before = event.before ? row(enc, event.before, 'before', side, this.#payloadOnly) : 'null';
    const after = event.after ? row(enc, event.after, 'after', side, this.#payloadOnly) : 'null';
    let out = before + ',"after":' + after + ',"source":' + encodeSource(event.source, enc.connector);
    out += ',"op":"' + event.op + '","ts_ms":' + Math.trunc(event.ts_ms);
    if (side.before || side.after || enc.types) {
      const sideText = side.before || side.after ? JSON.stringify(side) : '{}';
      out += ',"sluice":' + (enc.types ? (sideText === '{}' ? '{' + enc.types.slice(1) : sideText.slice(0, -1) + enc.types) + '}' : sideText);
    }
    return out + '}';
  }

  #encoder(event: ChangeEvent): Encoder {
    const ts = event.schema ?? inferSchema(event);
    const cached = this.#encoders.get(ts);
    if (cached && cached.connector === event.source.connector) return cached;
    const name = [this.#prefix, event.table.schema, event.table.table].filter(Boolean).join('.');
    const codecOf = this.#payloadOnly ? payloadCodec : columnCodec;
    const codecs = ts.columns.map((c) => ({ name: c.name, json: JSON.stringify(c.name) + ':', codec: codecOf(c) }));
    const byName = new Map(codecs.map((c) => [c.name, c]));
    const key = ts.key.map((k) => {
      const c = byName.get(k);
      if (!c) throw new SluiceError('SINK_RECORD_REJECTED', `key column ${k} is not a column of ${name}`, { table: name });
      return { ...c, codec: codecOf({ ...ts.columns.find((x) => x.name === k)!, optional: false }) };
    });
    const rowSchema = (field: string): ConnectSchema => ({ type: 'struct', fields: codecs.map((c) => c.codec.schema), optional: true, name: `${name}.Value`, field } as ConnectSchema);
    const envelope = {
      type: 'struct',
      fields: [
        rowSchema('before'),
        rowSchema('after'),
        { ...sourceSchema(event.source.connector), field: 'source' },
        { type: 'string', optional: false, field: 'op' },
        { type: 'int64', optional: true, field: 'ts_ms' },
      ],
      optional: false,
      name: `${name}.Envelope`,
      version: 1,
    };
    const keySchema = { type: 'struct', fields: key.map((k) => k.codec.schema), optional: false, name: `${name}.Key` };
    const typed = this.#payloadOnly ? typesOf(ts.columns) : {};
    const enc: Encoder = {
      connector: event.source.connector,
      valuePrefix: this.#payloadOnly ? '{"before":' : '{"schema":' + JSON.stringify(envelope) + ',"payload":{"before":',
      keyPrefix: this.#payloadOnly ? '' : '{"schema":' + JSON.stringify(keySchema) + ',"payload":',
      keySuffix: this.#payloadOnly ? '' : '}',
      types: Object.keys(typed).length ? ',"types":' + JSON.stringify(typed) : '',
      cols: codecs,
      key,
      envelope: envelope as ConnectSchema,
      keySchema: keySchema as ConnectSchema,
    };
    this.#encoders.set(ts, enc);
    return enc;
  }

  /**
   * A record back to a ChangeEvent; null for a tombstone. Throws KAFKA_DECODE_FAILED
   * (with topic/partition/offset) for anything that is not a change event we can read.
   */
  decode(where: Where, key: Buffer | string | null, value: Buffer | string | null): ChangeEvent | null {
    if (value === null || value.length === 0) return null;
    try {
      return this.#decode(where.topic, key === null ? null : toBuf(key), toBuf(value));
    } catch (err) {
      throw decodeFailed(where, err);
    }
  }

  /**
   * Splits `{"schema":S,"payload":P}` into S's decoder and parsed P. When S is the
   * schema last seen under `slot`, a memcmp on the raw bytes replaces parsing it.
   */
  #split(slot: string, buf: Buffer): { decoder: Decoder | undefined; payload: unknown } {
    const last = this.#lastBySlot.get(slot);
    const n = last?.prefix.length ?? 0;
    if (last && buf.length > n && buf.compare(last.prefix, 0, n, 0, n) === 0 && buf[buf.length - 1] === 0x7d) {
      return { decoder: last.decoder, payload: parseJson(buf.toString('utf8', n, buf.length - 1)) };
    }
    const msg = parseJson(buf.toString('utf8')) as Record<string, unknown>;
    if (!msg || typeof msg !== 'object' || Array.isArray(msg)) throw new Error('not a JSON object');
    // schemas.enable=false: the envelope itself, values as they are.
    if (!('payload' in msg && 'schema' in msg)) return { decoder: undefined, payload: msg };
    if (!msg.schema) return { decoder: undefined, payload: msg.payload };
    const schemaText = JSON.stringify(msg.schema, bigintReplacer);
    let decoder = this.#decoders.get(schemaText);
    if (!decoder) {
      decoder = decoderFor(msg.schema as ConnectSchema);
      if (this.#decoders.size > 1000) this.#decoders.clear();
      this.#decoders.set(schemaText, decoder);
    }
    this.#lastBySlot.set(slot, { prefix: Buffer.from('{"schema":' + schemaText + ',"payload":'), decoder });
    return { decoder, payload: msg.payload };
  }

  #decode(topic: string, keyBuf: Buffer | null, valueBuf: Buffer): ChangeEvent {
    const value = this.#split(topic, valueBuf);
    const key = keyBuf && keyBuf.length ? this.#split('key:' + topic, keyBuf) : undefined;
    return this.#event(value.decoder, value.payload, key);
  }

  /**
   * A change event from Connect schemas and parsed JsonConverter payloads (the registry
   * formats decode to these); decoders are cached per schema object.
   */
  fromConnect(value: { schema: ConnectSchema; payload: unknown }, key?: { schema: ConnectSchema; payload: unknown }): ChangeEvent {
    return this.#event(cachedDecoder(value.schema), value.payload, key && { decoder: cachedDecoder(key.schema), payload: key.payload });
  }

  #event(valueDecoder: Decoder | undefined, p: unknown, k: { decoder: Decoder | undefined; payload: unknown } | undefined): ChangeEvent {
    let decoder = valueDecoder;
    const payload = p as Record<string, unknown>;
    if (!payload || typeof payload !== 'object' || !OPS.has(payload.op as string)) {
      throw new Error(`no Debezium envelope with op c/u/d/r (op=${String(payload?.op)})`);
    }
    const side = (payload.sluice ?? {}) as { before?: Record<string, string>; after?: Record<string, string>; types?: Record<string, string> };
    if (!decoder && side.types) decoder = typedDecoder(side.types, (payload.after ?? payload.before) as Record<string, unknown> | null);
    const before = decodeRow(decoder, payload.before, side.before);
    const after = decodeRow(decoder, payload.after, side.after);
    const source = decodeSource(payload.source as Record<string, unknown>);
    const event: ChangeEvent = {
      table: { schema: source.schema, table: source.table },
      op: payload.op as Op,
      key: {},
      before,
      after,
      source,
      ts_ms: Number(payload.ts_ms ?? source.ts_ms),
    };
    if (k) {
      if (!k.payload || typeof k.payload !== 'object') throw new Error('key payload is not an object');
      // json-payload: the key's types are the value's.
      event.key = (k.decoder ? decodeRow(k.decoder, k.payload, undefined) : decoder ? decodeKey(decoder, k.payload as Record<string, unknown>) : (k.payload as Row)) ?? {};
      if (decoder && !k.decoder && decoder.schema.key.length === 0) decoder.schema.key = Object.keys(k.payload);
      // The key schema names the table's key columns; the value schema cannot.
      if (decoder && k.decoder && decoder.schema.key.length === 0) decoder.schema.key = k.decoder.schema.columns.map((c) => c.name);
    }
    if (decoder) event.schema = decoder.schema;
    return event;
  }
}

/** Any error decoding a record as KAFKA_DECODE_FAILED naming where it was read. */
export function decodeFailed(where: Where, err: unknown): SluiceError {
  if (err instanceof SluiceError && err.code === 'KAFKA_DECODE_FAILED') return err;
  return new SluiceError(
    'KAFKA_DECODE_FAILED',
    `record at ${where.topic}/${where.partition ?? '?'}@${where.offset ?? '?'} is not a readable change event: ${(err as Error).message}`,
    { topic: where.topic, partition: where.partition, offset: where.offset },
    { cause: err },
  );
}

export const toBuf = (b: Buffer | string): Buffer => (typeof b === 'string' ? Buffer.from(b) : b);

function row(enc: Encoder, r: Row, sideName: 'before' | 'after', side: { before?: Record<string, string>; after?: Record<string, string> }, payloadOnly: boolean): string {
  let out = '{';
  const cols = enc.cols;
  for (let i = 0; i < cols.length; i++) {
    const c = cols[i]!;
    const v = r[c.name];
    out += (i ? ',' : '') + c.json;
    if (v === null) out += 'null';
    else if (v === undefined) {
      if (c.codec.placeholder !== null) out += c.codec.placeholder;
      else {
        out += 'null';
        (side[sideName] ??= {})[c.name] = UNAVAILABLE;
      }
    } else if (!payloadOnly && isDecimalSpecial(v)) {
      out += 'null';
      (side[sideName] ??= {})[c.name] = (v as Decimal).text;
    } else out += c.codec.encode(v);
  }
  return out + '}';
}

function decodeRow(decoder: Decoder | undefined, raw: unknown, side: Record<string, string> | undefined): Row | null {
  if (raw === null || raw === undefined) return null;
  if (typeof raw !== 'object') throw new Error('row image is not an object');
  const src = raw as Record<string, unknown>;
  if (!decoder) return src;
  const out: Row = {};
  for (const c of decoder.cols) {
    const v = src[c.name];
    out[c.name] = v === null || v === undefined ? (v as null) ?? null : c.isPlaceholder(v) ? undefined : c.decode(v);
  }
  if (side) for (const [name, s] of Object.entries(side)) out[name] = s === UNAVAILABLE ? undefined : new Decimal(s);
  return out;
}

// ---- json-payload ------------------------------------------------------------------

/** json-payload's codec: decimals (and decimal arrays) as exact strings, the rest as in json. */
function payloadCodec(col: ColumnSpec): ColumnCodec {
  const c = columnCodec(col);
  const text = (v: unknown) => JSON.stringify(v instanceof Decimal ? v.text : String(v));
  const dec = (v: unknown) => new Decimal(typeof v === 'string' ? v : String(v));
  if (col.type === 'decimal') return { ...c, encode: text, decode: dec, isPlaceholder: () => false };
  if (col.type === 'array' && col.elementType === 'decimal') {
    return {
      ...c,
      encode: (v) => '[' + (v as unknown[]).map((x) => (x === null || x === undefined ? 'null' : text(x))).join(',') + ']',
      decode: (v) => (v as unknown[]).map((x) => (x === null ? null : dec(x))),
    };
  }
  return c;
}

/** payload.sluice.types: each column that is not a plain string, by its type ("array<decimal>", "timetz"). */
function typesOf(columns: readonly ColumnSpec[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (const c of columns) {
    if (c.type === 'string') continue;
    if (c.type === 'array') out[c.name] = `array<${c.elementType ?? 'string'}>`;
    else if (c.type === 'time' && /^(timetz|time\b.*\bwith time zone)/i.test(c.sourceType)) out[c.name] = 'timetz';
    else out[c.name] = c.type;
  }
  return out;
}

const typedDecoders = new Map<string, Decoder>();

/** The decoder of a json-payload record: its columns (in the row's order) typed by payload.sluice.types. */
function typedDecoder(types: Record<string, string>, rowImage: Record<string, unknown> | null): Decoder {
  const names = rowImage && typeof rowImage === 'object' ? Object.keys(rowImage) : Object.keys(types);
  const sig = names.join(',') + '|' + JSON.stringify(types);
  let d = typedDecoders.get(sig);
  if (d) return d;
  const columns: ColumnSpec[] = names.map((name) => {
    const t = types[name] ?? 'string';
    const arr = /^array<(.+)>$/.exec(t);
    const spec: ColumnSpec = { name, type: (arr ? 'array' : t === 'timetz' ? 'time' : t) as ColumnSpec['type'], sourceType: t === 'timetz' ? 'timetz' : 'json-payload', optional: true };
    if (arr) spec.elementType = arr[1] as ColumnSpec['type'];
    return spec;
  });
  const cols = columns.map((c) => {
    const codec = payloadCodec(c);
    return { name: c.name, decode: codec.decode, isPlaceholder: codec.isPlaceholder };
  });
  d = { schema: { columns, key: [] }, cols };
  if (typedDecoders.size > 1000) typedDecoders.clear();
  typedDecoders.set(sig, d);
  return d;
}

/** A key's columns through the value's decoder (json-payload keys carry no types of their own). */
function decodeKey(decoder: Decoder, raw: Record<string, unknown>): Row {
  const out: Row = {};
  for (const [name, v] of Object.entries(raw)) {
    const c = decoder.cols.find((x) => x.name === name);
    out[name] = v === null || v === undefined || !c ? (v as null) : c.decode(v);
  }
  return out;
}

const connectDecoders = new WeakMap<ConnectSchema, Decoder>();

function cachedDecoder(schema: ConnectSchema): Decoder {
  let d = connectDecoders.get(schema);
  if (!d) connectDecoders.set(schema, (d = decoderFor(schema)));
  return d;
}

function decoderFor(schema: ConnectSchema): Decoder {
  // A value schema is the Envelope (take its `after` struct); a key schema is the row struct itself.
  const rowStruct = schema.fields?.find((f) => f.field === 'after') ?? schema;
  if (rowStruct.type !== 'struct' || !rowStruct.fields) throw new Error('schema has no row struct');
  const columns: ColumnSpec[] = rowStruct.fields.map(columnFromSchema);
  const cols = rowStruct.fields.map((f, i) => {
    const codec = columnCodec(columns[i]!);
    return { name: columns[i]!.name, decode: foreignDecoder(f) ?? codec.decode, isPlaceholder: codec.isPlaceholder };
  });
  return { schema: { columns, key: [] }, cols };
}

const bigintReplacer = (_k: string, v: unknown) => (typeof v === 'bigint' ? Number(v) : v);

// Integers past 2^53 keep their digits as bigint; everything else parses as usual.
const parseNumber = (s: string): number | bigint => (isInteger(s) && !isSafeNumber(s) ? BigInt(s) : parseFloat(s));

/** JSON.parse when no number could lose digits (no run of 16+ digits anywhere), else lossless-json. */
export function parseJson(text: string): unknown {
  return /\d{16}/.test(text) ? losslessParse(text, null, parseNumber) : JSON.parse(text);
}

// Inferred schemas are shared per shape so the encoder cache still hits.
const inferred = new Map<string, TableSchema>();

/** For events without a TableSchema (e.g. test connectors): types read off the values. */
function inferSchema(event: ChangeEvent): TableSchema {
  const names = new Set([...Object.keys(event.key), ...Object.keys(event.after ?? {}), ...Object.keys(event.before ?? {})]);
  const columns: ColumnSpec[] = [...names].map((name) => {
    const v = event.after?.[name] ?? event.before?.[name] ?? event.key[name];
    return { name, type: inferType(v), sourceType: 'inferred', optional: true };
  });
  const key = Object.keys(event.key);
  const sig = key.join(',') + '|' + columns.map((c) => c.name + ':' + c.type).join(',');
  let ts = inferred.get(sig);
  if (!ts) {
    if (inferred.size > 1000) inferred.clear();
    inferred.set(sig, (ts = { columns, key }));
  }
  return ts;
}

function inferType(v: unknown): ColumnSpec['type'] {
  if (typeof v === 'bigint') return 'int64';
  if (typeof v === 'number') return 'float64';
  if (typeof v === 'boolean') return 'boolean';
  if (v instanceof Decimal) return 'decimal';
  if (Buffer.isBuffer(v)) return 'bytes';
  if (v instanceof Date) return 'timestamptz';
  if (v !== null && typeof v === 'object') return 'json';
  return 'string';
}

