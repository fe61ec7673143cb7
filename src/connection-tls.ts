/**
 * TLS settings of a connection, declared once for every kind that speaks TLS
 * (PostgreSQL, MySQL/MariaDB, Kafka, the schema registry): the option's schema, its
 * file fields, and libpq's `sslmode` meanings. README "Connecting to production".
 *
 * A certificate or key is given as PEM text (`ca`, `cert`, `key`) or as a file on the
 * daemon's host (`caFile`, `certFile`, `keyFile`). Files follow the rule of a
 * connection's `passwordFile` (src/store/secret-files.ts): they must lie inside
 * secrets.fileDir, are checked when the connection is saved, and are read at each use
 * by the store's `resolve`, which hands the connector PEM text only. `key` is a secret.
 */
import tls from 'node:tls';
import { advancedOption, secretOption, type OptionSchema } from './core';
import { errorChain, SluiceError, type ErrorContext } from './errors';

/** The PEM fields of a `tls` option and the file field that may stand for each. */
export const TLS_FILE_FIELDS = { caFile: 'ca', certFile: 'cert', keyFile: 'key' } as const;

export interface TlsOptions {
  /** PEM text of the certificate authorities to trust (one or more certificates). */
  ca?: string;
  caFile?: string;
  /** PEM text of the client certificate (mutual TLS). */
  cert?: string;
  certFile?: string;
  /** PEM text of the client certificate's private key (a secret). */
  key?: string;
  keyFile?: string;
  /** The name the server's certificate must carry, when it is not the host dialled. */
  servername?: string;
}

const PEM = { type: 'string', minLength: 1, maxLength: 262144 } as const;
const FILE = { type: 'string', minLength: 1, maxLength: 4096 } as const;

/** The schema of a `tls` option; `about` says what it connects to. */
export function tlsOption(about: string): OptionSchema {
  return {
    type: 'object',
    additionalProperties: false,
    description: `TLS to ${about}: the authorities to trust and, for mutual TLS, a client certificate and key, each as PEM text or as a file inside secrets.fileDir (read at each use).`,
    properties: {
      ca: { ...PEM, description: 'PEM text of the certificate authorities to trust. Default: the system trust store.' },
      caFile: { ...FILE, description: 'A file holding the CA certificates (PEM), inside secrets.fileDir.', example: '/run/secrets/ca.pem' },
      cert: { ...PEM, description: 'PEM text of the client certificate (mutual TLS).' },
      certFile: { ...FILE, description: 'A file holding the client certificate (PEM), inside secrets.fileDir.' },
      key: secretOption({ ...PEM, description: "PEM text of the client certificate's private key (write-only)." }),
      keyFile: { ...FILE, description: "A file holding the client certificate's private key (PEM), inside secrets.fileDir." },
      servername: advancedOption({ type: 'string', minLength: 1, maxLength: 253, description: 'The host name the server certificate must name, when it differs from the host connected to.' }),
    },
  };
}

/** libpq's sslmode values, which both SQL sources take with their standard meanings. */
export const SSLMODES = ['disable', 'prefer', 'require', 'verify-ca', 'verify-full'] as const;
export type SslMode = (typeof SSLMODES)[number];

export const SSLMODE_OPTION: OptionSchema = {
  type: 'string',
  enum: SSLMODES,
  description:
    "TLS to the database, with libpq's meanings: disable (never), prefer (TLS when the server offers it, unverified), require (TLS, certificate not verified unless a CA is given, as libpq does with a root certificate), verify-ca (the certificate chains to the CA), verify-full (verify-ca and the certificate names the host). Default: the URL's sslmode (or ssl=true: require), else disable.",
  example: 'verify-full',
};

/**
 * Option objects whose fields a file may stand for, each file field with the field it
 * fills: the TLS material of any kind, and the SASL password of a kafka connection.
 */
const OPTION_FILE_FIELDS: Record<string, Record<string, string>> = { tls: TLS_FILE_FIELDS, sasl: { passwordFile: 'password' } };

const objectAt = (options: Record<string, unknown> | undefined, key: string): Record<string, unknown> | null => {
  const o = options?.[key];
  return o && typeof o === 'object' && !Array.isArray(o) ? (o as Record<string, unknown>) : null;
};

/** The options with each file field (`tls.caFile`, `sasl.passwordFile`, …) read into its field (the file field dropped). */
export function withTlsFiles(options: Record<string, unknown>, read: (file: string, field: string) => string): Record<string, unknown> {
  let result = options;
  for (const [key, fields] of Object.entries(OPTION_FILE_FIELDS)) {
    const o = objectAt(options, key);
    if (!o) continue;
    const out: Record<string, unknown> = { ...o };
    for (const [fileField, textField] of Object.entries(fields)) {
      const file = out[fileField];
      if (typeof file !== 'string') continue;
      out[textField] = read(file, `options.${key}.${fileField}`);
      delete out[fileField];
    }
    result = { ...result, [key]: out };
  }
  return result;
}

/** The files a connection's options name (field, path), for checking when it is saved. */
export function tlsFiles(options: Record<string, unknown> | undefined): Array<{ field: string; file: string }> {
  return Object.entries(OPTION_FILE_FIELDS).flatMap(([key, fields]) => {
    const o = objectAt(options, key);
    if (!o) return [];
    return Object.keys(fields)
      .filter((f) => typeof o[f] === 'string')
      .map((f) => ({ field: `options.${key}.${f}`, file: o[f] as string }));
  });
}

/** A field given both as text and as a file: the option object and the pair, else null. */
export function optionFileConflict(options: Record<string, unknown> | undefined): { field: string; pair: string } | null {
  for (const [key, fields] of Object.entries(OPTION_FILE_FIELDS)) {
    const o = objectAt(options, key);
    if (!o) continue;
    for (const [fileField, textField] of Object.entries(fields)) {
      if (o[fileField] !== undefined && o[textField] !== undefined) return { field: `options.${key}`, pair: `${textField}/${fileField}` };
    }
  }
  return null;
}

/**
 * The MongoDB driver's URL parameters that name a file it reads on the daemon's host
 * (lower case). They follow the rule of every other file a connection names: inside
 * secrets.fileDir, checked when the connection is saved (`urlTlsFiles`).
 */
const MONGODB_URL_FILES = new Set(['tlscafile', 'tlscertificatekeyfile', 'tlscrlfile', 'sslca', 'sslcert', 'sslkey', 'sslcrl']);

/** The files a connection URL's parameters name (field `url.<param>`, path); only MongoDB URLs name any. */
export function urlTlsFiles(kind: string, params: ReadonlyArray<{ name: string; value: string }>): Array<{ field: string; file: string }> {
  if (kind !== 'mongodb') return [];
  return params.filter((p) => MONGODB_URL_FILES.has(p.name.toLowerCase())).map((p) => ({ field: `url.${p.name}`, file: p.value }));
}

/** A `tls` field given both as text and as a file: the name of the pair, else null. */
export function tlsConflict(options: Record<string, unknown> | undefined): string | null {
  const c = optionFileConflict(options ? { tls: options.tls } : undefined);
  return c ? c.pair : null;
}

/**
 * Node's TLS options for an sslmode (after `withTlsFiles`), or false for none. `prefer`
 * is `require` here; falling back to plain text when the server refuses TLS is the
 * connector's part.
 */
export function sslmodeTls(mode: SslMode, t: TlsOptions = {}): false | tls.ConnectionOptions {
  if (mode === 'disable') return false;
  const material: tls.ConnectionOptions = {
    ...(t.ca ? { ca: t.ca } : {}),
    ...(t.cert ? { cert: t.cert } : {}),
    ...(t.key ? { key: t.key } : {}),
    ...(t.servername ? { servername: t.servername } : {}),
  };
  // libpq: require with a root certificate behaves as verify-ca.
  const verify = mode === 'verify-full' || mode === 'verify-ca' || (mode === 'require' && t.ca !== undefined);
  if (!verify) return { ...material, rejectUnauthorized: false };
  if (mode === 'verify-full') {
    // Drivers set servername to the host they dial (pg does for a name): the name to
    // check is ours, whatever they set.
    const name = t.servername;
    return name ? { ...material, rejectUnauthorized: true, checkServerIdentity: (_host, cert) => tls.checkServerIdentity(name, cert) } : { ...material, rejectUnauthorized: true };
  }
  // verify-ca: the chain is checked, the name is not.
  return { ...material, rejectUnauthorized: true, checkServerIdentity: () => undefined };
}

/**
 * A SQL connection's sslmode and TLS settings: the `sslmode` option wins over the URL's
 * (`urlMode`: its sslmode, or require for ssl=true/useSSL=true); libpq's `allow` is read
 * as prefer and an unknown word as require (TLS, never silently plain). Unset: disable.
 */
export function sqlTls(options: { sslmode?: SslMode; tls?: TlsOptions }, urlMode: string | null): { mode: SslMode; ssl: false | tls.ConnectionOptions } {
  const fromUrl = urlMode === null ? null : urlMode === 'allow' ? 'prefer' : (SSLMODES as readonly string[]).includes(urlMode) ? (urlMode as SslMode) : 'require';
  const mode = options.sslmode ?? fromUrl ?? 'disable';
  return { mode, ssl: sslmodeTls(mode, options.tls) };
}

/**
 * Opens a session with `open`; under sslmode prefer, a server that offers no TLS
 * (TLS_NOT_OFFERED) is connected to in plain text, and `config` remembers that (`ssl`
 * set to false), so the sessions opened from it later (a replication or binlog
 * connection the driver opens itself included) do the same.
 */
export async function openPreferringTls<C extends { sslmode?: SslMode; ssl?: unknown }, T>(config: C, open: (config: C) => Promise<T>): Promise<T> {
  // What this attempt used: sessions opened at the same time may have dropped it meanwhile.
  const ssl = config.ssl;
  try {
    return await open(config);
  } catch (err) {
    if (config.sslmode !== 'prefer' || !ssl || tlsFailure(err)?.code !== 'TLS_NOT_OFFERED') throw err;
    config.ssl = false;
    return open({ ...config, ssl: false });
  }
}

/** The catalogue codes of a failed TLS connection (src/errors.ts), whatever the kind. */
export type TlsFailureCode = 'TLS_CERTIFICATE_UNTRUSTED' | 'TLS_HOSTNAME_MISMATCH' | 'TLS_CERTIFICATE_EXPIRED' | 'TLS_NOT_OFFERED' | 'TLS_HANDSHAKE_FAILED';

export interface TlsFailure {
  code: TlsFailureCode;
  /** Node's (OpenSSL's) code, e.g. SELF_SIGNED_CERT_IN_CHAIN. */
  reason: string;
  /** One sentence for a check or an error message. */
  message: string;
}

/** Node's certificate verification codes (tls.TLSSocket.authorizationError), by what the operator must fix. */
const UNTRUSTED = new Set([
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'SELF_SIGNED_CERT_IN_CHAIN',
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'UNABLE_TO_GET_ISSUER_CERT',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'UNABLE_TO_DECRYPT_CERT_SIGNATURE',
  'UNABLE_TO_DECODE_ISSUER_PUBLIC_KEY',
  'CERT_SIGNATURE_FAILURE',
  'CERT_CHAIN_TOO_LONG',
  'CERT_UNTRUSTED',
  'CERT_REJECTED',
  'INVALID_CA',
  'PATH_LENGTH_EXCEEDED',
  'INVALID_PURPOSE',
]);
const EXPIRED = new Set(['CERT_HAS_EXPIRED', 'CERT_NOT_YET_VALID', 'ERROR_IN_CERT_NOT_BEFORE_FIELD', 'ERROR_IN_CERT_NOT_AFTER_FIELD']);
const HOSTNAME = new Set(['ERR_TLS_CERT_ALTNAME_INVALID', 'HOSTNAME_MISMATCH', 'ERR_TLS_CERT_ALTNAME_FORMAT']);
/** Failures of the handshake itself (no TLS on the port, a refused client certificate, no common protocol). */
const HANDSHAKE = /^(EPROTO|ERR_SSL_|ERR_TLS_)/;

const MESSAGES: Record<TlsFailureCode, string> = {
  TLS_CERTIFICATE_UNTRUSTED: 'the server certificate is not signed by a trusted CA',
  TLS_HOSTNAME_MISMATCH: 'the server certificate does not name the host connected to',
  TLS_CERTIFICATE_EXPIRED: 'the server certificate is expired or not yet valid',
  TLS_NOT_OFFERED: 'the server does not offer TLS',
  TLS_HANDSHAKE_FAILED: 'the TLS handshake failed',
};

/**
 * The TLS failure behind an error of any client (node:tls, pg, mysql, kafkajs, the
 * MongoDB driver), or null when it is not one: the one classifier of Node's TLS error
 * codes, shared by every connection kind. It looks through wrapped errors (`cause`,
 * `originalError`, `errors`) for Node's code, and at the message for clients that
 * drop the code (Node's wording of the verification errors).
 */
export function tlsFailure(err: unknown): TlsFailure | null {
  const of = (code: TlsFailureCode, reason: string): TlsFailure => ({ code, reason, message: `${MESSAGES[code]} (${reason})` });
  let handshake: string | null = null;
  for (const e of errorChain(err)) {
    const code = typeof e.code === 'string' ? e.code : '';
    const msg = typeof e.message === 'string' ? e.message : '';
    if (UNTRUSTED.has(code)) return of('TLS_CERTIFICATE_UNTRUSTED', code);
    if (EXPIRED.has(code)) return of('TLS_CERTIFICATE_EXPIRED', code);
    if (HOSTNAME.has(code) || /does not match certificate's altnames|Hostname\/IP does not match/i.test(msg)) return of('TLS_HOSTNAME_MISMATCH', code || 'ERR_TLS_CERT_ALTNAME_INVALID');
    if (/self[- ]signed certificate|unable to (verify the first certificate|get local issuer certificate|get issuer certificate)/i.test(msg)) return of('TLS_CERTIFICATE_UNTRUSTED', code || msg);
    if (/certificate has expired|certificate is not yet valid/i.test(msg)) return of('TLS_CERTIFICATE_EXPIRED', code || msg);
    // pg's and the mysql drivers' words for a server that answers the TLS request with no.
    if (code === 'HANDSHAKE_NO_SSL_SUPPORT' || /server does not support SSL/i.test(msg)) return of('TLS_NOT_OFFERED', code || msg);
    if (handshake === null && code && HANDSHAKE.test(code) && code !== 'ERR_TLS_CERT_ALTNAME_INVALID') handshake = code;
  }
  return handshake ? of('TLS_HANDSHAKE_FAILED', handshake) : null;
}

/** `tlsFailure` as the catalogue error to throw (message: `${what}: …`), or null. */
export function tlsError(err: unknown, what: string, detail: ErrorContext = {}): SluiceError | null {
  const f = tlsFailure(err);
  if (!f) return null;
  const message = err instanceof Error ? err.message : String(err);
  return new SluiceError(f.code, `${what}: ${message}`, { ...detail, reason: f.reason }, { cause: err });

}
