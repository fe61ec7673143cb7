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
import { SluiceError, type ErrorCode, type ErrorContext } from './errors';

/** The PEM fields of a `tls` option and the file field that may stand for each. */
export const TLS_FILE_FIELDS = { caFile: 'ca', certFile: 'cert', keyFile: 'key' } as const;
type FileField = keyof typeof TLS_FILE_FIELDS;

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

/** The options with each `tls` file field read into its PEM field (the file field dropped). */
export function withTlsFiles(options: Record<string, unknown>, read: (file: string, field: string) => string): Record<string, unknown> {
  const t = options.tls;
  if (!t || typeof t !== 'object') return options;
  const out: Record<string, unknown> = { ...(t as Record<string, unknown>) };
  for (const [fileField, pemField] of Object.entries(TLS_FILE_FIELDS)) {
    const file = out[fileField];
    if (typeof file !== 'string') continue;
    out[pemField] = read(file, `options.tls.${fileField}`);
    delete out[fileField];
  }
  return { ...options, tls: out };
}

/** The files a connection's options name (field, path), for checking when it is saved. */
export function tlsFiles(options: Record<string, unknown> | undefined): Array<{ field: string; file: string }> {
  const t = options?.tls;
  if (!t || typeof t !== 'object') return [];
  return (Object.keys(TLS_FILE_FIELDS) as FileField[])
    .filter((f) => typeof (t as Record<string, unknown>)[f] === 'string')
    .map((f) => ({ field: `options.tls.${f}`, file: (t as Record<string, string>)[f] }));
}

/** A field given both as text and as a file: the name of the pair, else null. */
export function tlsConflict(options: Record<string, unknown> | undefined): string | null {
  const t = options?.tls as Record<string, unknown> | undefined;
  if (!t || typeof t !== 'object') return null;
  for (const [fileField, pemField] of Object.entries(TLS_FILE_FIELDS)) {
    if (t[fileField] !== undefined && t[pemField] !== undefined) return `${pemField}/${fileField}`;
  }
  return null;
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

/** What went wrong in a TLS connection attempt, in the catalogue's words. */
export interface TlsFailure {
  code: Extract<ErrorCode, `TLS_${string}`>;
  /** The TLS library's own code or words (detail.reason). */
  reason: string;
}

// OpenSSL's verification results, as Node sets them on err.code.
const UNTRUSTED = new Set([
  'SELF_SIGNED_CERT_IN_CHAIN', 'DEPTH_ZERO_SELF_SIGNED_CERT', 'UNABLE_TO_GET_ISSUER_CERT', 'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE', 'CERT_UNTRUSTED', 'CERT_SIGNATURE_FAILURE', 'CERT_CHAIN_TOO_LONG', 'INVALID_CA',
]);
const HANDSHAKE = new Set(['CERT_HAS_EXPIRED', 'CERT_NOT_YET_VALID', 'CERT_REVOKED', 'CERT_REJECTED', 'INVALID_PURPOSE', 'ERR_SSL_WRONG_VERSION_NUMBER', 'EPROTO']);

/**
 * Classifies a failed connection attempt (the error or any of its causes) as a TLS
 * failure: an untrusted certificate, a certificate for another host, a server that
 * offers no TLS (pg's and the mysql drivers' words), or another handshake failure.
 * Null when it is none of these.
 */
export function tlsFailure(err: unknown): TlsFailure | null {
  for (let e = err as { code?: unknown; message?: unknown; cause?: unknown } | null, depth = 0; e && depth < 5; e = e.cause as typeof e, depth++) {
    const code = typeof e.code === 'string' ? e.code : '';
    const message = typeof e.message === 'string' ? e.message : '';
    if (UNTRUSTED.has(code) || /self[- ]signed certificate|unable to (verify the first|get local issuer|get issuer) cert/i.test(message)) return { code: 'TLS_CERT_UNTRUSTED', reason: code };
    if (code === 'ERR_TLS_CERT_ALTNAME_INVALID' || /does not match certificate's altnames/i.test(message)) return { code: 'TLS_HOSTNAME_MISMATCH', reason: message || code };
    if (code === 'HANDSHAKE_NO_SSL_SUPPORT' || /server does not support SSL/i.test(message)) return { code: 'TLS_NOT_OFFERED', reason: message || code };
    if (HANDSHAKE.has(code) || /^ERR_SSL_|^ERR_TLS_/.test(code) || /ssl3?_|tlsv1 alert|SSL routines/i.test(message)) return { code: 'TLS_HANDSHAKE_FAILED', reason: code || message };
  }
  return null;
}

/** `tlsFailure` as the catalogue error to throw (message: `${what}: …`), or null. */
export function tlsError(err: unknown, what: string, detail: ErrorContext = {}): SluiceError | null {
  const f = tlsFailure(err);
  if (!f) return null;
  const message = err instanceof Error ? err.message : String(err);
  return new SluiceError(f.code, `${what}: ${message}`, { ...detail, reason: f.reason }, { cause: err });
}
