/**
 * The envelope's `source` block: Debezium's Source struct for PostgreSQL and MySQL
 * (so tooling that reads lsn/file/pos finds them where Debezium puts them), plus the
 * few fields sluice needs to rebuild its SourceInfo. Other connectors get a generic
 * struct with the same names.
 */
import type { SourceInfo } from '../../core';
import { VERSION } from '../../version';
import { rejected, toBigInt, type ConnectSchema } from './columns';

type Kind = 'postgresql' | 'mysql' | 'other';

function kindOf(connector: string): Kind {
  if (connector === 'postgresql' || connector === 'postgres') return 'postgresql';
  if (connector === 'mysql' || connector === 'mariadb') return 'mysql';
  return 'other';
}

const f = (field: string, type: string, optional: boolean, extra: Partial<ConnectSchema> = {}): ConnectSchema =>
  ({ type, optional, ...extra, field }) as ConnectSchema;

const COMMON = [
  f('version', 'string', false),
  f('connector', 'string', false),
  f('name', 'string', false),
  f('ts_ms', 'int64', false),
  f('snapshot', 'string', true, { name: 'io.debezium.data.Enum', version: 1, parameters: { allowed: 'true,last,false,incremental' } }),
  f('db', 'string', false),
  f('sequence', 'string', true),
];

const FIELDS: Record<Kind, ConnectSchema[]> = {
  postgresql: [...COMMON, f('schema', 'string', false), f('table', 'string', false), f('txId', 'int64', true), f('lsn', 'int64', true), f('xmin', 'int64', true)],
  mysql: [
    ...COMMON,
    f('table', 'string', true),
    f('server_id', 'int64', false),
    f('gtid', 'string', true),
    f('file', 'string', false),
    f('pos', 'int64', false),
    f('row', 'int32', false),
    f('thread', 'int64', true),
    f('query', 'string', true),
    // sluice's own: MySQL has no schema apart from db, and Debezium keeps txId elsewhere.
    f('schema', 'string', true),
    f('txId', 'string', true),
  ],
  other: [...COMMON, f('schema', 'string', false), f('table', 'string', false), f('lsn', 'string', true), f('file', 'string', true), f('pos', 'int64', true), f('gtid', 'string', true), f('txId', 'string', true)],
};

export function sourceSchema(connector: string): ConnectSchema {
  const kind = kindOf(connector);
  const name = kind === 'other' ? `io.debezium.connector.${connector.replace(/[^A-Za-z0-9_]/g, '_')}.Source` : `io.debezium.connector.${kind}.Source`;
  return { type: 'struct', fields: FIELDS[kind], optional: false, name } as ConnectSchema;
}

const s = JSON.stringify as (v: unknown) => string;
const optStr = (v: unknown) => (v === null || v === undefined ? 'null' : s(String(v)));
const optInt = (v: unknown) => (v === null || v === undefined ? 'null' : toBigInt(v).toString());

function snapshotText(v: SourceInfo['snapshot']): string {
  return v === true ? 'true' : v === false ? 'false' : v;
}

/** "16/B374D848" → its 64-bit value, as Debezium writes PostgreSQL LSNs. */
function lsnToInt(lsn: string | undefined): string {
  if (lsn === undefined || lsn === null) return 'null';
  const m = /^([0-9A-Fa-f]{1,8})\/([0-9A-Fa-f]{1,8})$/.exec(lsn);
  if (m) return ((BigInt('0x' + m[1]) << 32n) | BigInt('0x' + m[2])).toString();
  if (/^\d+$/.test(lsn)) return lsn;
  throw rejected(`source lsn "${lsn}" is neither X/Y nor a number`, { lsn });
}

function intToLsn(v: unknown): string {
  const n = toBigInt(v);
  return `${(n >> 32n).toString(16).toUpperCase()}/${(n & 0xffffffffn).toString(16).toUpperCase()}`;
}

export function encodeSource(src: SourceInfo, connector: string): string {
  const head =
    '{"version":' + s(VERSION) + ',"connector":' + s(src.connector) + ',"name":' + s(src.name) + ',"ts_ms":' + Math.trunc(src.ts_ms) +
    ',"snapshot":"' + snapshotText(src.snapshot) + '","db":' + s(src.db) + ',"sequence":null';
  switch (kindOf(connector)) {
    case 'postgresql':
      return head + ',"schema":' + s(src.schema) + ',"table":' + s(src.table) + ',"txId":' + optInt(src.txId) + ',"lsn":' + lsnToInt(src.lsn) + ',"xmin":null}';
    case 'mysql':
      return (
        head + ',"table":' + s(src.table) + ',"server_id":0,"gtid":' + optStr(src.gtid) + ',"file":' + s(src.file ?? '') + ',"pos":' + optInt(src.pos ?? 0) +
        ',"row":0,"thread":null,"query":null,"schema":' + s(src.schema) + ',"txId":' + optStr(src.txId) + '}'
      );
    default:
      return (
        head + ',"schema":' + s(src.schema) + ',"table":' + s(src.table) + ',"lsn":' + optStr(src.lsn) + ',"file":' + optStr(src.file) +
        ',"pos":' + optInt(src.pos) + ',"gtid":' + optStr(src.gtid) + ',"txId":' + optStr(src.txId) + '}'
      );
  }
}

/**
 * Back to SourceInfo. Absent or null optional fields are left out; `snapshot` comes
 * back in its string form; a PostgreSQL lsn comes back as upper-case "X/Y" text.
 */
export function decodeSource(raw: Record<string, unknown> | null | undefined): SourceInfo {
  if (!raw || typeof raw !== 'object') throw new Error('envelope has no source block');
  const connector = String(raw.connector ?? '');
  const kind = kindOf(connector);
  const out: SourceInfo = {
    connector,
    name: String(raw.name ?? ''),
    db: String(raw.db ?? ''),
    schema: String(raw.schema ?? (kind === 'mysql' ? (raw.db ?? '') : '')),
    table: String(raw.table ?? ''),
    ts_ms: Number(raw.ts_ms ?? 0),
    snapshot: (raw.snapshot === true ? 'true' : raw.snapshot === false || raw.snapshot == null ? 'false' : String(raw.snapshot)) as SourceInfo['snapshot'],
  };
  if (raw.lsn != null) out.lsn = kind === 'postgresql' ? intToLsn(raw.lsn) : String(raw.lsn);
  if (raw.file != null && !(kind === 'mysql' && raw.file === '')) out.file = String(raw.file);
  if (raw.pos != null && !(kind === 'mysql' && raw.file === '')) out.pos = Number(raw.pos);
  if (raw.gtid != null) out.gtid = String(raw.gtid);
  if (raw.txId != null) out.txId = typeof raw.txId === 'bigint' ? (raw.txId <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(raw.txId) : raw.txId.toString()) : (raw.txId as string | number);
  return out;
}
