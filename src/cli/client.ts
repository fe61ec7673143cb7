/**
 * `sluice <resource> <verb>`: a thin client over the control API, for scripts and
 * terminals. It only ever speaks HTTP to a running daemon; every rule (roles,
 * validation, error codes) stays in the API.
 *
 *   sluice streams ls [--state S] [--name N]     sluice streams get|stats|runs|logs ID
 *   sluice streams start|stop|pause|resume|cutover|verify ID
 *   sluice streams create --file SPEC.json       sluice streams delete ID
 *   sluice connections ls|get|test|delete ID     sluice connections create --file C.json
 *   sluice api-keys ls|get|revoke ID             sluice api-keys create --name N --role R [--expires-at T]
 *   sluice audit ls [--key-id K] [--target-id T] [--route R] [--since T] …
 *   sluice api METHOD PATH [--data JSON | --file F]
 *
 * The daemon's address comes from --url, SLUICE_API_URL, or SLUICE_API_HOST/PORT
 * (default http://127.0.0.1:8278, https:// when SLUICE_API_TLS_CERT is set, as for the
 * daemon); the CA its certificate is checked against from --cacert or SLUICE_API_CA
 * (else the built-in roots); the key from --key, SLUICE_API_KEY, or the
 * generated <dataDir>/admin.key when it is readable. Exit codes: 0 success, 1 the API
 * answered with an error (its code is printed), 2 bad usage, 3 the daemon is unreachable
 * (or its certificate is not trusted).
 */
import fs from 'node:fs';
import path from 'node:path';
import { httpRequest, UNTRUSTED_CERT_CODES } from './http';

export class ClientUsageError extends Error {}

export interface ClientCommand {
  method: 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';
  path: string;
  body?: unknown;
  /** How to print a success: a table of a list, or the JSON. */
  output: 'table' | 'json';
  /** Columns of the table output: header and the field it shows. */
  columns?: [string, string][];
}

export interface ClientOptions {
  url: string;
  key?: string;
  json: boolean;
  headers: Record<string, string>;
  /** PEM of the CA the API's certificate is checked against. */
  ca?: Buffer;
  /** Where the CA came from, for error messages. */
  caFile?: string;
}

const RESOURCES = ['streams', 'connections', 'api-keys', 'audit', 'api'] as const;
export const isClientResource = (word: string | undefined): boolean => (RESOURCES as readonly string[]).includes(word ?? '');

const STREAM_COLUMNS: [string, string][] = [
  ['ID', 'id'],
  ['NAME', 'name'],
  ['STATE', 'state'],
  ['STATUS', 'status'],
  ['CDC', 'cdcStatus'],
];
const CONNECTION_COLUMNS: [string, string][] = [
  ['ID', 'id'],
  ['NAME', 'name'],
  ['KIND', 'kind'],
  ['URL', 'url'],
];
const KEY_COLUMNS: [string, string][] = [
  ['ID', 'id'],
  ['NAME', 'name'],
  ['ROLE', 'role'],
  ['CREATED', 'createdAt'],
  ['EXPIRES', 'expiresAt'],
  ['REVOKED', 'revokedAt'],
];
const AUDIT_COLUMNS: [string, string][] = [
  ['TIME', 'ts'],
  ['KEY', 'keyId'],
  ['ROLE', 'keyRole'],
  ['CLIENT', 'client'],
  ['METHOD', 'method'],
  ['ROUTE', 'route'],
  ['TARGET', 'targetId'],
  ['STATUS', 'status'],
  ['ERROR', 'errorCode'],
];

function readBody(flags: Map<string, string>): unknown {
  const data = flags.get('data');
  const file = flags.get('file');
  if (data !== undefined && file !== undefined) throw new ClientUsageError('give --data or --file, not both');
  const text = data ?? (file === undefined ? undefined : fs.readFileSync(file === '-' ? 0 : file, 'utf8'));
  if (text === undefined) return undefined;
  try {
    return JSON.parse(text) as unknown;
  } catch (err) {
    throw new ClientUsageError(`the body is not JSON: ${(err as Error).message}`);
  }
}

const seg = (id: string | undefined, what: string): string => {
  if (!id) throw new ClientUsageError(`${what} needs an ID`);
  return encodeURIComponent(id);
};

function query(flags: Map<string, string>, names: string[]): string {
  const q = new URLSearchParams();
  for (const n of names) {
    const v = flags.get(n);
    if (v !== undefined) q.set(n, v);
  }
  const s = q.toString();
  return s ? `?${s}` : '';
}

/** Splits argv into positional words and `--flag value` / `--flag=value` / boolean `--json`. */
export function splitArgs(argv: string[]): { words: string[]; flags: Map<string, string> } {
  const words: string[] = [];
  const flags = new Map<string, string>();
  const booleans = new Set(['json', 'confirm-delete']);
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i] as string;
    if (!a.startsWith('--')) {
      words.push(a);
      continue;
    }
    const eq = a.indexOf('=');
    const name = a.slice(2, eq < 0 ? undefined : eq);
    if (eq >= 0) flags.set(name, a.slice(eq + 1));
    else if (booleans.has(name)) flags.set(name, 'true');
    else {
      const v = argv[++i];
      if (v === undefined) throw new ClientUsageError(`--${name} needs a value`);
      flags.set(name, v);
    }
  }
  return { words, flags };
}

/** The API call a command line stands for. Pure, so it is unit-tested without a daemon. */
export function commandFor(words: string[], flags: Map<string, string>): ClientCommand {
  const [resource, verb, id, ...extra] = words;
  const lists = ['limit', 'offset', 'sort'];
  if (resource === 'api') {
    const method = verb?.toUpperCase();
    if (!method || !['GET', 'POST', 'PUT', 'PATCH', 'DELETE'].includes(method) || !id) throw new ClientUsageError('usage: sluice api METHOD PATH [--data JSON | --file F]');
    const p = id.startsWith('/') ? id : `/${id}`;
    return { method: method as ClientCommand['method'], path: p.startsWith('/api/') || p === '/healthz' || p === '/readyz' || p === '/metrics' ? p : `/api/v1${p}`, body: readBody(flags), output: 'json' };
  }
  if (extra.length > 0) throw new ClientUsageError(`unexpected argument: ${extra.join(' ')}`);
  if (resource === 'streams') {
    switch (verb) {
      case 'ls':
      case 'list':
        return { method: 'GET', path: `/api/v1/streams${query(flags, [...lists, 'state', 'name'])}`, output: 'table', columns: STREAM_COLUMNS };
      case 'get':
        return { method: 'GET', path: `/api/v1/streams/${seg(id, 'streams get')}`, output: 'json' };
      case 'stats':
      case 'runs':
      case 'logs': {
        const q = verb === 'logs' ? query(flags, [...lists, 'level', 'stage', 'runId']) : verb === 'runs' ? query(flags, [...lists, 'status']) : '';
        return { method: 'GET', path: `/api/v1/streams/${seg(id, `streams ${verb}`)}/${verb}${q}`, output: 'json' };
      }
      case 'start':
      case 'stop':
      case 'pause':
      case 'resume':
      case 'cutover':
      case 'verify':
        return { method: 'POST', path: `/api/v1/streams/${seg(id, `streams ${verb}`)}/${verb}`, body: readBody(flags), output: 'json' };
      case 'create':
        return { method: 'POST', path: '/api/v1/streams', body: requireBody(flags, 'streams create'), output: 'json' };
      case 'delete':
        return { method: 'DELETE', path: `/api/v1/streams/${seg(id, 'streams delete')}`, output: 'json' };
    }
  }
  if (resource === 'connections') {
    switch (verb) {
      case 'ls':
      case 'list':
        return { method: 'GET', path: `/api/v1/connections${query(flags, [...lists, 'kind', 'name'])}`, output: 'table', columns: CONNECTION_COLUMNS };
      case 'get':
        return { method: 'GET', path: `/api/v1/connections/${seg(id, 'connections get')}`, output: 'json' };
      case 'test':
        return { method: 'POST', path: `/api/v1/connections/${seg(id, 'connections test')}/test`, body: readBody(flags), output: 'json' };
      case 'create':
        return { method: 'POST', path: '/api/v1/connections', body: requireBody(flags, 'connections create'), output: 'json' };
      case 'delete':
        return { method: 'DELETE', path: `/api/v1/connections/${seg(id, 'connections delete')}`, output: 'json' };
    }
  }
  if (resource === 'api-keys') {
    switch (verb) {
      case 'ls':
      case 'list':
        return { method: 'GET', path: `/api/v1/api-keys${query(flags, [...lists, 'role', 'name'])}`, output: 'table', columns: KEY_COLUMNS };
      case 'get':
        return { method: 'GET', path: `/api/v1/api-keys/${seg(id, 'api-keys get')}`, output: 'json' };
      case 'revoke':
      case 'delete':
        return { method: 'DELETE', path: `/api/v1/api-keys/${seg(id, `api-keys ${verb}`)}`, output: 'json' };
      case 'create': {
        const name = flags.get('name');
        const role = flags.get('role');
        if (!name || !role) throw new ClientUsageError('usage: sluice api-keys create --name NAME --role viewer|operator|admin [--expires-at 2027-01-31T00:00:00Z]');
        const expiresAt = flags.get('expires-at');
        return { method: 'POST', path: '/api/v1/api-keys', body: { name, role, ...(expiresAt ? { expiresAt } : {}) }, output: 'json' };
      }
    }
  }
  if (resource === 'audit' && (verb === 'ls' || verb === 'list')) {
    const q = new URLSearchParams(query(flags, [...lists, 'method', 'route', 'status', 'since', 'until']).slice(1));
    // --key-id, --target-id, --error-code: the API's keyId, targetId, errorCode.
    for (const [flag, field] of [['key-id', 'keyId'], ['target-id', 'targetId'], ['error-code', 'errorCode']] as const) {
      const v = flags.get(flag);
      if (v !== undefined) q.set(field, v);
    }
    const s = q.toString();
    return { method: 'GET', path: `/api/v1/audit${s ? `?${s}` : ''}`, output: 'table', columns: AUDIT_COLUMNS };
  }
  throw new ClientUsageError(`unknown command: ${words.join(' ')}`);
}

function requireBody(flags: Map<string, string>, what: string): unknown {
  const body = readBody(flags);
  if (body === undefined) throw new ClientUsageError(`${what} needs --file SPEC.json (or - for standard input) or --data JSON`);
  return body;
}

/** Where the daemon is and which key to use: flags, then the environment, then the generated admin key. */
export function clientOptions(flags: Map<string, string>, env: NodeJS.ProcessEnv): ClientOptions {
  const host = env.SLUICE_API_HOST || '127.0.0.1';
  const port = env.SLUICE_API_PORT || '8278';
  const scheme = env.SLUICE_API_TLS_CERT ? 'https' : 'http';
  const url = (flags.get('url') ?? env.SLUICE_API_URL ?? `${scheme}://${host.includes(':') ? `[${host}]` : host}:${port}`).replace(/\/+$/, '');
  const caFile = flags.get('cacert') ?? (env.SLUICE_API_CA || undefined);
  let ca: Buffer | undefined;
  if (caFile !== undefined) {
    try {
      ca = fs.readFileSync(caFile);
    } catch (err) {
      throw new ClientUsageError(`cannot read the CA file ${caFile} (--cacert or SLUICE_API_CA): ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
    }
  }
  let key = flags.get('key') ?? env.SLUICE_API_KEY;
  if (key === undefined) {
    const file = path.join(env.SLUICE_DATA_DIR || './data', 'admin.key');
    try {
      key = fs.readFileSync(file, 'utf8').trim();
    } catch {
      // no readable key file: the API answers AUTH_REQUIRED, which says what to do
    }
  }
  const headers: Record<string, string> = {};
  if (flags.get('confirm-delete') === 'true') headers['x-confirm-delete'] = 'true';
  return { url, key, json: flags.get('json') === 'true', headers, ca, caFile };
}

/** A list page as aligned columns. */
export function formatTable(items: Record<string, unknown>[], columns: [string, string][]): string {
  const cell = (v: unknown): string => (v === null || v === undefined ? '-' : typeof v === 'object' ? JSON.stringify(v) : String(v));
  const rows = [columns.map(([h]) => h), ...items.map((it) => columns.map(([, f]) => cell(it[f])))];
  const widths = columns.map((_, i) => Math.max(...rows.map((r) => (r[i] as string).length)));
  return rows.map((r) => r.map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i] as number))).join('  ')).join('\n') + '\n';
}

export interface ClientIo {
  out(text: string): void;
  err(text: string): void;
}

/** Runs one command against the daemon; returns the exit code. */
export async function runClient(argv: string[], env: NodeJS.ProcessEnv, io: ClientIo): Promise<number> {
  let cmd: ClientCommand;
  let opts: ClientOptions;
  try {
    const { words, flags } = splitArgs(argv);
    opts = clientOptions(flags, env);
    cmd = commandFor(words, flags);
  } catch (err) {
    if (err instanceof ClientUsageError || (err as NodeJS.ErrnoException).code === 'ENOENT') {
      io.err(`sluice: ${(err as Error).message}\n`);
      return 2;
    }
    throw err;
  }
  const headers: Record<string, string> = { accept: 'application/json', ...opts.headers };
  if (opts.key) headers['x-api-key'] = opts.key;
  if (cmd.body !== undefined) headers['content-type'] = 'application/json';
  let res: { status: number; ok: boolean };
  let text: string;
  try {
    const answer = await httpRequest(`${opts.url}${cmd.path}`, { method: cmd.method, headers, body: cmd.body === undefined ? undefined : JSON.stringify(cmd.body), ca: opts.ca });
    res = { status: answer.status, ok: answer.status >= 200 && answer.status < 300 };
    text = answer.text;
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code ?? (err as Error).message;
    if (UNTRUSTED_CERT_CODES.has(code)) {
      const hint = opts.caFile ? `it is not signed by the CA in ${opts.caFile}, or not for this host name` : 'give the CA that signed it with --cacert FILE or SLUICE_API_CA';
      io.err(`sluice: the daemon's certificate at ${opts.url} is not trusted (${code}): ${hint}.\n`);
    } else if (code === 'ECONNRESET' && opts.url.startsWith('http:')) {
      io.err(`sluice: the daemon at ${opts.url} closed the connection (${code}). Does it speak HTTPS? Use an https:// URL.\n`);
    } else io.err(`sluice: cannot reach the daemon at ${opts.url} (${code}). Is it running? Set --url or SLUICE_API_URL.\n`);
    return 3;
  }
  let body: unknown = undefined;
  try {
    body = text === '' ? undefined : (JSON.parse(text) as unknown);
  } catch {
    body = text;
  }
  if (!res.ok) {
    const e = (body as { error?: { code?: string; message?: string; suggestion?: string } } | undefined)?.error;
    if (opts.json) io.err(`${text}\n`);
    else if (e?.code) io.err(`sluice: ${res.status} ${e.code}: ${e.message ?? ''}${e.suggestion ? `\n  ${e.suggestion}` : ''}\n`);
    else io.err(`sluice: HTTP ${res.status}: ${text}\n`);
    return 1;
  }
  if (body === undefined) return 0;
  if (typeof body === 'string') io.out(body.endsWith('\n') ? body : `${body}\n`);
  else if (cmd.output === 'table' && !opts.json && cmd.columns) {
    const page = body as { items: Record<string, unknown>[]; total: number };
    io.out(formatTable(page.items, cmd.columns));
  } else io.out(`${JSON.stringify(body, null, 2)}\n`);
  return 0;
}
