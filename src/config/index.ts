/**
 * Loads and strictly validates the configuration: defaults < config file
 * (SLUICE_CONFIG or --config, JSON or YAML) < environment variables. Any unknown
 * key, bad type or bad value is a CONFIG_INVALID error naming the key.
 * Every secret key (`sensitive`) may instead come from a file (`<key>File`,
 * `SLUICE_…_FILE`), as Kubernetes and Docker mount secrets. Rules across keys are
 * checked here too, so `sluice config validate` sees them: the API's TLS files, and
 * no plain HTTP on an address other than loopback unless api.insecure says so.
 */
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import tls from 'node:tls';
import convict from 'convict';
import YAML from 'yaml';
import { SluiceError } from '../errors';
import { configSchema, type SluiceConfig } from './schema';

convict.addParser([
  { extension: 'json', parse: JSON.parse },
  { extension: ['yaml', 'yml'], parse: (text: string) => YAML.parse(text) ?? {} },
]);

export type { SluiceConfig } from './schema';

export interface LoadOptions {
  file?: string;
  env?: NodeJS.ProcessEnv;
  /** Extra values on top of everything (e.g. from tests). */
  overrides?: Record<string, unknown>;
}

export interface LoadedConfig {
  config: SluiceConfig;
  file: string | null;
  /** The configuration as text, secrets masked. */
  masked(): string;
}

/** The key a convict message is about: it names it in quotes, or as the first word. */
function keyFromMessage(message: string): string | undefined {
  return /param '([^']+)'/.exec(message)?.[1] ?? /^([A-Za-z0-9_.]+): /.exec(message)?.[1];
}

/** The environment variable that sets `key`, if the schema declares one. */
function envOf(key: string): string | undefined {
  let node: unknown = configSchema;
  for (const part of key.split('.')) node = (node as Record<string, unknown> | undefined)?.[part];
  return (node as { env?: string } | undefined)?.env;
}

function invalid(message: string, file: string | null, cause?: unknown, fromFiles: Map<string, string> = new Map()): SluiceError {
  const key = keyFromMessage(message);
  const secretFile = key ? fromFiles.get(key) : undefined;
  const env = key ? envOf(secretFile ? `${key}File` : key) : undefined;
  const where = [secretFile ? `the file ${secretFile}` : '', file ? `config file ${file}` : '', env ? `env ${env}` : ''].filter(Boolean).join(' or ');
  const whereText = where ? ` (set in ${where})` : '';
  return new SluiceError(
    'CONFIG_INVALID',
    `Invalid configuration${key ? ` key "${key}"` : ''}${whereText}: ${message}`,
    { key, file, env },
    { cause },
  );
}

export function loadConfig(opts: LoadOptions = {}): LoadedConfig {
  const env = opts.env ?? process.env;
  const file = opts.file ?? (env.SLUICE_CONFIG ? env.SLUICE_CONFIG : null);
  const conf = convict(configSchema, { env, args: [] });
  if (file) {
    const resolved = path.resolve(file);
    if (!fs.existsSync(resolved)) throw invalid(`config file not found: ${resolved}`, file);
    try {
      conf.loadFile(resolved);
    } catch (err) {
      throw invalid(`cannot parse: ${(err as Error).message}`, file, err);
    }
  }
  if (opts.overrides) conf.load(opts.overrides);
  const fromFiles = readSecretFiles(conf as unknown as { get(k: string): unknown; set(k: string, v: unknown): unknown }, file);
  try {
    conf.validate({ allowed: 'strict' });
  } catch (err) {
    // convict joins every problem with newlines; report the first, it names the key.
    const first = String((err as Error).message).split('\n')[0] ?? '';
    throw invalid(first, file, err, fromFiles);
  }
  const config = conf.getProperties() as SluiceConfig;
  checkApi(config, file);
  checkSecretsDir(config, file);
  return { config, file, masked: () => conf.toString() };
}

/** Paths of the schema's secret keys ("auth.adminKey"), each of which has a `<key>File` sibling. */
export function sensitiveKeys(node: Record<string, unknown> = configSchema, prefix = ''): string[] {
  const out: string[] = [];
  for (const [name, child] of Object.entries(node)) {
    const c = child as Record<string, unknown>;
    if (c && typeof c === 'object' && 'doc' in c && 'default' in c) {
      if (c.sensitive === true) out.push(prefix + name);
    } else if (c && typeof c === 'object') out.push(...sensitiveKeys(c, `${prefix}${name}.`));
  }
  return out;
}

/** The content of a secret file: one trailing newline (as `echo` leaves) is not part of the secret. */
export function readSecretFile(file: string): string {
  return fs.readFileSync(file, 'utf8').replace(/\r?\n$/, '');
}

/** Fills each secret key from its `<key>File`; returns key → file for error messages. */
function readSecretFiles(conf: { get(k: string): unknown; set(k: string, v: unknown): unknown }, file: string | null): Map<string, string> {
  const fromFiles = new Map<string, string>();
  const c = conf;
  for (const key of sensitiveKeys()) {
    const secretFile = c.get(`${key}File`);
    if (typeof secretFile !== 'string' || secretFile === '') continue;
    if (c.get(key) !== '') {
      throw invalid(`${key}File: set ${key} or ${key}File (${envOf(key)} or ${envOf(`${key}File`)}), not both`, file);
    }
    let value: string;
    try {
      value = readSecretFile(secretFile);
    } catch (err) {
      throw invalid(`${key}File: cannot read ${secretFile} (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`, file, err);
    }
    if (value === '') throw invalid(`${key}File: ${secretFile} is empty`, file);
    c.set(key, value);
    fromFiles.set(key, secretFile);
  }
  return fromFiles;
}

/** Loopback only: 127.0.0.0/8, ::1 (also IPv4-mapped) and the name localhost. */
export function isLoopbackHost(host: string): boolean {
  const h = host.replace(/^\[|\]$/g, '').toLowerCase();
  if (h === 'localhost') return true;
  const v4 = h.startsWith('::ffff:') ? h.slice(7) : h;
  if (net.isIPv4(v4)) return v4.startsWith('127.');
  // The URL parser writes an IPv6 address in its shortest form (0:0:0:0:0:0:0:1 is [::1]).
  return net.isIPv6(h) && new URL(`http://[${h}]/`).hostname === '[::1]';
}

/** The API's certificate and key, read and checked (they must parse and belong together); undefined without TLS. */
export function readApiTls(config: SluiceConfig, file: string | null = null): { cert: Buffer; key: Buffer } | undefined {
  const { cert, key } = config.api.tls;
  if (!cert && !key) return undefined;
  if (!cert || !key) throw invalid(`${cert ? 'api.tls.key' : 'api.tls.cert'}: api.tls.cert and api.tls.key go together (SLUICE_API_TLS_CERT and SLUICE_API_TLS_KEY)`, file);
  const read = (k: 'cert' | 'key', p: string): Buffer => {
    try {
      return fs.readFileSync(p);
    } catch (err) {
      throw invalid(`api.tls.${k}: cannot read ${p} (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`, file, err);
    }
  };
  const pair = { cert: read('cert', cert), key: read('key', key) };
  try {
    tls.createSecureContext(pair);
  } catch (err) {
    throw invalid(`api.tls.key: the certificate ${cert} and the key ${key} cannot be used together (${(err as Error).message})`, file, err);
  }
  return pair;
}

function checkApi(config: SluiceConfig, file: string | null): void {
  const secure = readApiTls(config, file) !== undefined;
  if (secure || config.api.insecure || isLoopbackHost(config.api.host)) return;
  throw invalid(
    `api.host: the API would listen on ${config.api.host} over plain HTTP, where API keys and connection passwords cross the network in clear. ` +
      'Give it a certificate (SLUICE_API_TLS_CERT and SLUICE_API_TLS_KEY), or bind a loopback address (SLUICE_API_HOST=127.0.0.1), ' +
      'or, when a proxy or service mesh terminates TLS in front of it, set SLUICE_API_INSECURE=true',
    file,
  );
}

function checkSecretsDir(config: SluiceConfig, file: string | null): void {
  const dir = config.secrets.fileDir;
  if (!dir) return;
  let ok = false;
  try {
    ok = fs.statSync(dir).isDirectory();
  } catch {
    ok = false;
  }
  if (!ok) throw invalid(`secrets.fileDir: ${dir} is not a directory`, file);
}

/** Kafka brokers from the config, as a list (empty when none are configured). */
export function kafkaBrokers(config: SluiceConfig): string[] {
  return config.kafka.brokers.split(',').map((b) => b.trim()).filter(Boolean);
}
