/**
 * Connect schemas to JSON Schema and back, as Confluent's JsonSchemaData (and so
 * Debezium with the JsonSchemaConverter) maps them: structs are objects titled by their
 * Connect name with "connect.index" on each property, optional values
 * `oneOf [{"type":"null"}, T]`, integers and floats with "connect.type", bytes (and
 * Decimal, base64) strings with "connect.type": "bytes", semantic types with
 * "connect.name"/"title", "connect.version" and "connect.parameters". The payload is
 * JsonConverter's (serde.ts), so this maps schemas only. Pure, no I/O.
 */
import type { ConnectSchema } from './columns';

type Json = Record<string, unknown>;

const NUMERIC: Record<string, string> = { int8: 'integer', int16: 'integer', int32: 'integer', int64: 'integer', float: 'number', float32: 'number', double: 'number', float64: 'number' };
const CONNECT_TYPE: Record<string, string> = { float: 'float32', double: 'float64' };

export function connectToJsonSchema(schema: ConnectSchema): Json {
  const conv = (s: ConnectSchema): Json => {
    let o: Json;
    if (s.type === 'struct') {
      const properties: Json = {};
      (s.fields ?? []).forEach((f, i) => (properties[f.field ?? ''] = { ...opt(f, conv(f)), 'connect.index': i }));
      // Closed content model: adding an optional column is then BACKWARD-compatible.
      o = { type: 'object', properties, additionalProperties: false };
      if (s.name) o.title = s.name;
    } else if (s.type === 'array') o = { type: 'array', items: opt(s.items!, conv(s.items!)) };
    else if (NUMERIC[s.type]) o = { type: NUMERIC[s.type], 'connect.type': CONNECT_TYPE[s.type] ?? s.type };
    else if (s.type === 'bytes') o = { type: 'string', 'connect.type': 'bytes' };
    else if (s.type === 'boolean' || s.type === 'string') o = { type: s.type };
    else o = {};
    if (s.name && s.type !== 'struct') Object.assign(o, { title: s.name });
    if (s.version !== undefined) o['connect.version'] = s.version;
    if (s.parameters && Object.keys(s.parameters).length) o['connect.parameters'] = s.parameters;
    return o;
  };
  return conv(schema);
}

function opt(s: ConnectSchema, o: Json): Json {
  return s.optional ? { oneOf: [{ type: 'null' }, o] } : o;
}

export function jsonSchemaToConnect(schema: Json): ConnectSchema {
  const conv = (j: Json): ConnectSchema => {
    const one = j.oneOf as Json[] | undefined;
    if (one) {
      const rest = one.filter((x) => x.type !== 'null');
      if (rest.length !== 1) throw new Error('oneOf other than [null, T] is not a Connect schema');
      const { oneOf: _o, ...outer } = j;
      return { ...conv({ ...outer, ...rest[0] }), optional: true };
    }
    const out: ConnectSchema = { type: 'string', optional: false };
    const ct = j['connect.type'] as string | undefined;
    switch (j.type) {
      case 'object': {
        out.type = 'struct';
        const props = Object.entries((j.properties ?? {}) as Record<string, Json>);
        props.sort((a, b) => Number(a[1]['connect.index'] ?? 0) - Number(b[1]['connect.index'] ?? 0));
        out.fields = props.map(([name, p]) => ({ ...conv(p), field: name }));
        break;
      }
      case 'array':
        out.type = 'array';
        out.items = conv(j.items as Json);
        break;
      case 'integer':
        out.type = ct ?? 'int64';
        break;
      case 'number':
        out.type = ct === 'float32' ? 'float' : ct === 'bytes' ? 'bytes' : 'double';
        break;
      case 'string':
        out.type = ct === 'bytes' ? 'bytes' : 'string';
        break;
      case 'boolean':
        out.type = 'boolean';
        break;
      default:
        out.type = 'map';
    }
    if (typeof j.title === 'string') out.name = j.title;
    if (j['connect.version'] !== undefined) out.version = Number(j['connect.version']);
    if (j['connect.parameters']) out.parameters = j['connect.parameters'] as Record<string, string>;
    return out;
  };
  return conv(schema);
}
