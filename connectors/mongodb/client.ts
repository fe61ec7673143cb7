/**
 * The MongoDB connection: its URL and options, the client, and what kind of server
 * answers (MongoDB or FerretDB, replica set or not), which decides the write concern
 * and how decimals are stored.
 */
import { MongoClient, type MongoClientOptions, type WriteConcernSettings } from 'mongodb';
import { SluiceError } from '../../src/errors';
import type { DecimalMode } from './bson';
import { readOptions } from '../../src/options';
import { mongodbOptions, type MongoConnectionOptions } from './options';
import { parseConnectionUrl } from '../../src/connection-url';
import { probeSeeds, type ProbeResult } from './wire-probe';
import type { TlsOptions } from '../../src/connection-tls';

export interface MongoSinkOptions {
  /** Explicit write concern; default `{w:'majority'}` on a replica set, `{w:1}` otherwise. */
  writeConcern?: WriteConcernSettings;
  /** 'auto': Decimal128 where the server stores it, exact decimal text where it does not (FerretDB v1). */
  decimals: 'auto' | DecimalMode;
  /** How long one attempt waits for a server; short, so retries see the stream's abort signal. */
  serverSelectionTimeoutMS: number;
  /**
   * How long one write (or read, or index build) attempt may wait for the server's
   * answer before it counts as a transient failure and is retried: a server that
   * accepts connections but never answers must not stall the stream silently.
   */
  writeTimeoutMs: number;
  retry: { initialDelayMs: number; maxDelayMs: number };
  /** options.tls (files already read by the store): TLS on, with these CAs and client certificate. */
  tls?: TlsOptions;
}

/** What createClient needs of the options. */
export type ClientOptions = Pick<MongoSinkOptions, 'serverSelectionTimeoutMS' | 'tls'> & { writeTimeoutMs?: number };

/**
 * The sink's settings from a connection's `options` (declared in options.ts): defaults
 * applied by the one parser; w:"0" (a tag the schema cannot tell from "majority") is
 * refused here, as w:0 is there.
 */
export function parseOptions(raw: Record<string, unknown> | undefined): MongoSinkOptions {
  const o = readOptions<MongoConnectionOptions>(mongodbOptions.connection, raw ?? {});
  const w = (raw?.writeConcern as { w?: unknown } | undefined)?.w;
  if (w === 0 || w === '0') {
    // Offsets are committed and source positions acknowledged on the strength of the
    // server's acknowledgement; w:0 would make that a guess.
    throw new SluiceError('CONFIG_INVALID', 'writeConcern.w must be at least 1 (or "majority"): sluice only acknowledges what MongoDB acknowledged.', { key: 'options.writeConcern.w' });
  }
  return {
    ...(o.writeConcern ? { writeConcern: o.writeConcern as WriteConcernSettings } : {}),
    decimals: o.decimals,
    serverSelectionTimeoutMS: o.serverSelectionTimeoutMS,
    writeTimeoutMs: o.writeTimeoutMs,
    retry: { initialDelayMs: o.retry.initialDelayMs, maxDelayMs: Math.max(o.retry.initialDelayMs, o.retry.maxDelayMs) },
    ...(o.tls ? { tls: o.tls } : {}),
  };
}

// Characters MongoDB forbids in database names.
const BAD_DB_CHARS = /[/\\. "$*<>:|?\0]/;

/** The target database named by the URL's path; a SluiceError saying how to fix it when absent. */
export function databaseFromUrl(url: string): string {
  const m = /^mongodb(?:\+srv)?:\/\/([^/?#]*)(\/[^?#]*)?/.exec(url);
  if (!m) {
    throw new SluiceError('SINK_DATABASE_MISSING', 'The MongoDB connection string must start with mongodb:// or mongodb+srv:// and name the database: mongodb://host:port/<database>.', {});
  }
  let db = (m[2] ?? '').replace(/^\//, '');
  try {
    db = decodeURIComponent(db);
  } catch {
    // keep it undecoded; the character check below reports it
  }
  if (db === '') {
    throw new SluiceError('SINK_DATABASE_MISSING', `The MongoDB connection string names no database; add it as the path, e.g. mongodb://${redactHosts(m[1] ?? 'host:port')}/mydb.`, {});
  }
  if (BAD_DB_CHARS.test(db) || Buffer.byteLength(db) > 63) {
    throw new SluiceError('SINK_DATABASE_MISSING', `"${db}" is not a valid MongoDB database name (at most 63 bytes, none of / \\ . " $ * < > : | ? or space); name one in the path: mongodb://host:port/<database>.`, { database: db });
  }
  return db;
}

/** host list without credentials, for messages. */
export function redactHosts(authority: string): string {
  const at = authority.lastIndexOf('@');
  return at >= 0 ? authority.slice(at + 1) : authority;
}

export function describeUrl(url: string): string {
  const m = /^(mongodb(?:\+srv)?:\/\/)([^/?#]*)/.exec(url);
  return m ? `${m[1]}${redactHosts(m[2] ?? '')}` : '(unparseable MongoDB URL)';
}

/**
 * The seeds' wire probe (wire-probe.ts): CONNECTION_PROTOCOL_MISMATCH when a seed answers
 * with bytes that are not MongoDB's, so the driver never reads them; the per-host
 * results otherwise.
 */
export async function probeMongoUrl(url: string, timeoutMs?: number, tls = false): Promise<ProbeResult[]> {
  const results = await probeSeeds(parseConnectionUrl(url, 'mongodb'), timeoutMs, tls);
  const wrong = results.find((r) => r.outcome === 'wrong');
  if (wrong && wrong.outcome === 'wrong') {
    throw new SluiceError('CONNECTION_PROTOCOL_MISMATCH', `${wrong.host} is not a MongoDB server: ${wrong.reason}.`, { host: wrong.host, kind: 'mongodb' });
  }
  return results;
}

/** createClient behind the wire probe: what every path that talks to a user's MongoDB uses. */
export async function guardedClient(url: string, opts: ClientOptions): Promise<MongoClient> {
  await probeMongoUrl(url, undefined, opts.tls !== undefined);
  return createClient(url, opts);
}

/** Margin of the driver's socket timeout over the sink's own per-attempt timer. */
const SOCKET_TIMEOUT_MARGIN_MS = 1000;

export function createClient(url: string, opts: ClientOptions): MongoClient {
  const t = opts.tls;
  const options: MongoClientOptions = {
    appName: 'sluice',
    serverSelectionTimeoutMS: opts.serverSelectionTimeoutMS,
    connectTimeoutMS: Math.max(1000, opts.serverSelectionTimeoutMS),
    // Driver 6.x has no working operation timeout (timeoutMS "has no effect"), so the
    // sink times each attempt itself; socketTimeoutMS, a little longer, then closes the
    // connection the abandoned attempt still holds, so hung sockets do not pile up.
    ...(opts.writeTimeoutMs ? { socketTimeoutMS: opts.writeTimeoutMs + SOCKET_TIMEOUT_MARGIN_MS } : {}),
    // options.tls: as tls=true in the URL, plus the PEM text the store read; the driver verifies chain and host name.
    ...(t
      ? { tls: true, ...(t.ca ? { ca: t.ca } : {}), ...(t.cert ? { cert: t.cert } : {}), ...(t.key ? { key: t.key } : {}), ...(t.servername ? { servername: t.servername } : {}) }
      : {}),
  };
  return new MongoClient(url, options);
}

export interface ServerInfo {
  product: 'MongoDB' | 'FerretDB';
  version: string;
  /** MongoDB-compatible version FerretDB claims, or MongoDB's own. */
  wireVersion: string;
  replicaSet: string | null;
  /** Whether Decimal128 values can be stored (false on FerretDB v1). */
  decimal128: boolean;
  /** Whether NaN/±Infinity doubles can be stored (false on FerretDB v1). */
  nonFiniteDoubles: boolean;
  /** Largest document the server takes. */
  maxDocumentBytes: number;
  /**
   * Most updates/deletes to send in one command, or null for the driver's own split.
   * FerretDB v1's update handler keeps each matched update's backend query open until
   * the whole command ends (a `defer` inside its loop), so one command that replaces
   * ≥ 50 existing documents exhausts its PostgreSQL pool (50) and hangs forever
   * (measured on v1.24.2). 8 leaves room for several writers at once: the Kafka
   * consumer writes up to 3 partitions concurrently, and streams share the server.
   */
  maxOpsPerCommand: number | null;
}

/** Asks the server what it is; FerretDB says so in buildInfo.ferretdbVersion. */
export async function detectServer(client: MongoClient): Promise<ServerInfo> {
  const admin = client.db('admin');
  const build = await admin.command({ buildInfo: 1 });
  const hello = await admin.command({ hello: 1 });
  const ferret = typeof build.ferretdbVersion === 'string' ? build.ferretdbVersion : null;
  const version = String(build.version ?? 'unknown');
  const ferretV1 = ferret !== null && /^v?1\./.test(ferret);
  return {
    product: ferret ? 'FerretDB' : 'MongoDB',
    version: ferret ?? version,
    wireVersion: version,
    replicaSet: typeof hello.setName === 'string' ? hello.setName : null,
    // FerretDB v1 cannot take Decimal128 or non-finite doubles: it drops the
    // connection (measured on v1.24.2, see index.ts). v2 runs on DocumentDB, which can.
    decimal128: !ferretV1,
    nonFiniteDoubles: !ferretV1,
    maxDocumentBytes: typeof hello.maxBsonObjectSize === 'number' ? hello.maxBsonObjectSize : 16 * 1024 * 1024,
    maxOpsPerCommand: ferretV1 ? 8 : null,
  };
}

export function serverLabel(info: ServerInfo): string {
  return info.product === 'FerretDB' ? `FerretDB ${info.version} (MongoDB ${info.wireVersion} compatible)` : `MongoDB ${info.version}`;
}

export function effectiveWriteConcern(opts: MongoSinkOptions, info: ServerInfo): WriteConcernSettings {
  if (opts.writeConcern) return opts.writeConcern;
  return info.replicaSet ? { w: 'majority' } : { w: 1 };
}

export function effectiveDecimalMode(opts: MongoSinkOptions, info: ServerInfo): DecimalMode {
  if (opts.decimals === 'decimal128' && !info.decimal128) {
    // FerretDB v1 drops the connection on a Decimal128: every write would look like an outage.
    throw new SluiceError('CONFIG_INVALID', `${serverLabel(info)} cannot store Decimal128; set the connection option decimals to "auto" or "string".`, { key: 'options.decimals', server: serverLabel(info) });
  }
  if (opts.decimals !== 'auto') return opts.decimals;
  return info.decimal128 ? 'decimal128' : 'string';
}
