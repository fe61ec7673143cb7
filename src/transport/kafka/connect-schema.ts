/**
 * Reading Connect schemas back: a field schema (ours, or one Debezium wrote) to a
 * ColumnSpec, and decoders for the Debezium encodings sluice itself never writes.
 */
import type { ColumnSpec, LogicalType } from '../../core';
import { asString, floorDiv, MS_PER_DAY, SOURCE_LENGTH, SOURCE_SCALE, SOURCE_TYPE, toBigInt, type ConnectSchema } from './columns';

/** Rebuilds a ColumnSpec from a Connect field schema (ours or Debezium's). */
export function columnFromSchema(f: ConnectSchema): ColumnSpec {
  const p = f.parameters ?? {};
  const spec: ColumnSpec = { name: f.field ?? '', type: 'string', sourceType: p[SOURCE_TYPE] ?? f.name ?? f.type, optional: f.optional !== false };
  const t = logicalOf(f);
  spec.type = t.type;
  if (t.elementType) spec.elementType = t.elementType;
  const scale = p.scale ?? f.items?.parameters?.scale ?? p[SOURCE_SCALE];
  if ((t.type === 'decimal' || t.elementType === 'decimal') && (f.name ?? f.items?.name) !== 'io.debezium.data.VariableScaleDecimal' && scale !== undefined) spec.scale = Number(scale);
  const prec = p['connect.decimal.precision'] ?? f.items?.parameters?.['connect.decimal.precision'] ?? p[SOURCE_LENGTH];
  if (prec !== undefined && (t.type === 'decimal' || t.elementType === 'decimal')) spec.precision = Number(prec);
  const allowed = p.allowed ?? f.items?.parameters?.allowed;
  if (allowed !== undefined) spec.enumValues = allowed === '' ? [] : allowed.split(',');
  return spec;
}

function logicalOf(f: ConnectSchema): { type: LogicalType; elementType?: LogicalType } {
  switch (f.name) {
    case 'org.apache.kafka.connect.data.Decimal':
    case 'io.debezium.data.VariableScaleDecimal':
      return { type: 'decimal' };
    case 'io.debezium.data.Uuid':
      return { type: 'uuid' };
    case 'io.debezium.data.Enum':
      return { type: 'enum' };
    case 'io.debezium.data.Json':
      return { type: 'json' };
    case 'io.debezium.time.Date':
    case 'org.apache.kafka.connect.data.Date':
      return { type: 'date' };
    case 'io.debezium.time.MicroTimestamp':
    case 'io.debezium.time.Timestamp':
    case 'io.debezium.time.NanoTimestamp':
    case 'org.apache.kafka.connect.data.Timestamp':
      return { type: 'timestamp' };
    case 'io.debezium.time.ZonedTimestamp':
      return { type: 'timestamptz' };
    case 'io.debezium.time.MicroTime':
    case 'io.debezium.time.ZonedTime':
      return { type: 'time' };
    case 'io.debezium.time.Interval':
      return { type: 'interval' };
  }
  switch (f.type) {
    case 'boolean':
      return { type: 'boolean' };
    case 'int8':
    case 'int16':
      return { type: 'int16' };
    case 'int32':
      return { type: 'int32' };
    case 'int64':
      return { type: 'int64' };
    case 'float':
      return { type: 'float32' };
    case 'double':
      return { type: 'float64' };
    case 'bytes':
      return { type: 'bytes' };
    case 'array':
      return { type: 'array', elementType: f.items ? logicalOf(f.items).type : 'string' };
    case 'string':
      return { type: 'string' };
    default:
      // maps and unknown structs (geometry, …) keep their JSON shape.
      return { type: 'json' };
  }
}

/**
 * Decoders for Debezium's other time encodings, chosen by the Connect semantic name
 * when the schema is not ours (Timestamp in ms, NanoTimestamp, NanoTime, Connect's
 * own Date/Timestamp types).
 */
export function foreignDecoder(f: ConnectSchema): ((v: unknown) => unknown) | null {
  switch (f.name) {
    case 'io.debezium.time.Timestamp':
    case 'org.apache.kafka.connect.data.Timestamp':
      return (v) => new Date(Number(v));
    case 'io.debezium.time.NanoTimestamp':
      return (v) => new Date(Number(floorDiv(toBigInt(v), 1_000_000n)));
    case 'org.apache.kafka.connect.data.Date':
      return (v) => new Date(Number(v) * MS_PER_DAY);
    case 'io.debezium.time.ZonedTime':
      return asString;
    default:
      if (f.type === 'map' || (f.type === 'struct' && f.name !== 'io.debezium.data.VariableScaleDecimal')) return (v) => v;
      return null;
  }
}
