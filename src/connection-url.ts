/**
 * The one parser of connection URLs. The store splits passwords off with it, the
 * connectors read their settings with it, Relational Migrator's job request and the
 * log masker go through it, so every place agrees on where a password is.
 *
 * Forms (README, "Security"):
 *   postgresql  [jdbc:]postgresql|postgres://[user[:password]@]host[:port][/database][?param=value&…]
 *   mysql       [jdbc:]mysql|mariadb://[user[:password]@]host[:port][/database][?param=value&…]
 *   mongodb     mongodb://[user[:password]@]host[:port][,host[:port]…][/[database]][?options]
 *               mongodb+srv://[user[:password]@]host[/[database]][?options]   (one host, no port)
 *   kafka       [kafka://]host:port[,host:port…]                                 (no credentials)
 *
 * The rules, in the order they are applied:
 * - A space or control character anywhere (even at the end) is refused: encode it.
 * - The authority runs from `//` to the first `/`, `?` or `#`. In it the LAST `@` ends
 *   the userinfo (so an unencoded `@` in a password still lands in the password), and
 *   the first `:` of the userinfo ends the user.
 * - Hosts: a name, IPv4 or [IPv6], comma-separated; ports are 1..65535. Several hosts
 *   are a MongoDB seed list or a Kafka broker list; a PostgreSQL or MySQL source reads
 *   one server (its replication slot or binlog position lives there), so several hosts
 *   there are refused with a message saying so.
 * - User, password, database and parameters are percent-decoded once; a `%` not
 *   followed by two hex digits is a literal `%`. Decoded text must be UTF-8.
 * - SQL kinds take JDBC's `user` and `password` parameters too; a password in both the
 *   userinfo and a parameter is refused (which one would be meant?).
 * - A password with an unencoded `/`, `?` or `#` would end the authority early, and the
 *   userinfo's real `@` would then lie after it. So a `#` anywhere, an `@` anywhere after
 *   the authority (write %40 in a parameter) and a path of more than one segment are
 *   refused rather than guessed at: no other reading of such a URL is ever stored.
 * - A JDBC `password=` parameter with an unencoded `&` would split into the parameters
 *   after it, so only parameters sluice reads (user, ssl, sslmode, useSSL) may follow it.
 * - Any other parameter whose name says it holds a secret (password, pwd, secret,
 *   token, credential) is refused: a connection has one password, kept apart.
 * - Kafka connections carry no credentials (the Kafka transport has no SASL yet).
 *
 * A refusal is CONNECTION_URL_INVALID naming the field and the rule. Its message never
 * quotes the URL or any part of it: the part could be a piece of the password.
 */
import { SluiceError } from './errors';

export type UrlKind = 'postgresql' | 'mysql' | 'mongodb' | 'kafka';

export interface UrlHost {
  /** As written (IPv6 in brackets). */
  host: string;
  port?: number;
}

export interface ConnectionUrl {
  kind: UrlKind;
  /** Lower case: postgresql, postgres, mysql, mariadb, mongodb, mongodb+srv, kafka, or '' (a bare broker list). */
  scheme: string;
  jdbc: boolean;
  /** Decoded; from the userinfo or the `user` parameter. */
  user?: string;
  /** Decoded; from the userinfo or the `password` parameter. */
  password?: string;
  hosts: UrlHost[];
  /** The decoded path without its `/`; undefined when the URL has no path. */
  database?: string;
  /** Decoded parameters in order, the password parameter left out. */
  params: Array<{ name: string; value: string }>;
  /** Raw pieces, to write the URL back as it was written, less its password. */
  raw: { prefix: string; userinfo: boolean; userParam: boolean; hosts: string; path: string; params: string[] };
}

const SCHEMES: Record<UrlKind, string[]> = {
  postgresql: ['postgresql', 'postgres'],
  mysql: ['mysql', 'mariadb'],
  mongodb: ['mongodb', 'mongodb+srv'],
  kafka: ['kafka'],
};

const SECRET_PARAM = /pass|pwd|secret|token|credential/i;

/** The parameters of SQL kinds that sluice reads; only these may follow a `password=` parameter. */
const AFTER_PASSWORD = new Set(['user', 'ssl', 'sslmode', 'useSSL']);

/** CONNECTION_URL_INVALID for `field`, with a reason that quotes nothing of the URL. */
export function urlError(field: string, reason: string, extra: Record<string, unknown> = {}): SluiceError {
  return new SluiceError('CONNECTION_URL_INVALID', `${field}: ${reason}. The URL was not stored.`, { field, reason, ...extra });
}

/** The connection kind a URL's scheme names, or undefined. */
export function kindOfScheme(url: string): UrlKind | undefined {
  const m = /^\s*(?:jdbc:)?([A-Za-z][A-Za-z0-9+.-]*):\/\//i.exec(url);
  if (!m) return /^[^/:@]+:\d+(,|$)/.test(url.trim()) ? 'kafka' : undefined;
  const s = m[1]!.toLowerCase();
  return (Object.keys(SCHEMES) as UrlKind[]).find((k) => SCHEMES[k].includes(s));
}

/**
 * Percent-decodes once: `%XX` is a byte, a `%` without two hex digits stays itself.
 * Null when the bytes are not UTF-8.
 */
export function lenientDecode(s: string): string | null {
  if (!s.includes('%')) return s;
  const bytes: number[] = [];
  for (let i = 0; i < s.length; ) {
    if (s[i] === '%' && /^[0-9A-Fa-f]{2}$/.test(s.slice(i + 1, i + 3))) {
      bytes.push(Number.parseInt(s.slice(i + 1, i + 3), 16));
      i += 3;
      continue;
    }
    const ch = String.fromCodePoint(s.codePointAt(i)!);
    bytes.push(...Buffer.from(ch, 'utf8'));
    i += ch.length;
  }
  try {
    return new TextDecoder('utf-8', { fatal: true }).decode(Uint8Array.from(bytes));
  } catch {
    return null;
  }
}

function parseHost(text: string, fail: (reason: string) => never): UrlHost {
  let host: string;
  let port: string | undefined;
  if (text.startsWith('[')) {
    const end = text.indexOf(']');
    if (end < 0 || !/^\[[0-9A-Fa-f:.]+\]$/.test(text.slice(0, end + 1))) fail('a host in [brackets] must be an IPv6 address');
    host = text.slice(0, end + 1);
    const after = text.slice(end + 1);
    if (after !== '' && !after.startsWith(':')) fail('an IPv6 host must be followed by :port or nothing');
    port = after === '' ? undefined : after.slice(1);
  } else {
    const colon = text.indexOf(':');
    host = colon < 0 ? text : text.slice(0, colon);
    port = colon < 0 ? undefined : text.slice(colon + 1);
    // Letters, digits, . - _ and non-ASCII (internationalised names); nothing that ends or splits a URL.
    if (!/^[A-Za-z0-9._\-\u0080-\uffff]*$/.test(host)) fail('a host name may hold letters, digits, ".", "-" and "_" only (a password with an unencoded "/", "?" or "#" ends the host early: percent-encode it)');
  }
  if (port !== undefined) {
    if (!/^\d{1,5}$/.test(port) || Number(port) < 1 || Number(port) > 65535) fail('a port must be a number from 1 to 65535');
    return { host, port: Number(port) };
  }
  return { host };
}

/**
 * Parses a connection URL of `kind` (or of the kind its scheme names); throws
 * CONNECTION_URL_INVALID naming `field` when it cannot be read safely.
 */
export function parseConnectionUrl(input: string, kind?: UrlKind, field = 'url'): ConnectionUrl {
  const fail = (reason: string, extra: Record<string, unknown> = {}): never => {
    throw urlError(field, reason, extra);
  };
  // Not trimmed: a trailing space may be the end of a raw password, and is refused like any space.
  const url = input;
  if (url === '') fail('the URL is empty');
  // eslint-disable-next-line no-control-regex
  if (/[\s\u0000-\u001f\u007f-\u009f]/.test(url)) fail('the URL holds a space or a control character; percent-encode it (a space is %20)');
  if (/\p{Cs}/u.test(url)) fail('the URL is not valid Unicode (a lone surrogate: was it sent as UTF-8?)');
  const k = kind ?? kindOfScheme(url);
  if (!k) fail('the URL does not start with a known scheme (postgresql://, mysql://, mongodb://, mongodb+srv://, jdbc:…, or host:port for Kafka)');
  const jdbc = /^jdbc:/i.test(url);
  if (jdbc && k !== 'postgresql' && k !== 'mysql') fail(`a ${k} URL has no jdbc: form`);
  const body = jdbc ? url.slice(5) : url;
  const sm = /^([A-Za-z][A-Za-z0-9+.-]*):\/\//.exec(body);
  let scheme = '';
  let afterScheme = body;
  if (sm) {
    scheme = sm[1]!.toLowerCase();
    afterScheme = body.slice(sm[0].length);
  } else if (k !== 'kafka') {
    fail(`a ${k} URL starts with ${SCHEMES[k!].map((s) => `${s}://`).join(' or ')}`);
  }
  if (scheme !== '' && !SCHEMES[k!].includes(scheme)) fail(`a ${k} connection takes a ${SCHEMES[k!].map((s) => `${s}://`).join(' or ')} URL, not ${scheme}://`, { kind: k, scheme });
  if (url.includes('#')) fail('the URL holds a "#": a password with a "#" must percent-encode it (%23); URLs of connections have no fragment');

  const end = afterScheme.search(/[/?]/);
  const authority = end < 0 ? afterScheme : afterScheme.slice(0, end);
  const rest = end < 0 ? '' : afterScheme.slice(end);
  const at = authority.lastIndexOf('@');
  const userinfo = at < 0 ? null : authority.slice(0, at);
  const hostText = at < 0 ? authority : authority.slice(at + 1);

  let user: string | undefined;
  let password: string | undefined;
  if (userinfo !== null) {
    if (k === 'kafka') fail('a Kafka broker list carries no user or password: the Kafka transport has no SASL yet; remove "user:password@"');
    const colon = userinfo.indexOf(':');
    const rawUser = colon < 0 ? userinfo : userinfo.slice(0, colon);
    const u = lenientDecode(rawUser);
    if (u === null) fail('the user is not UTF-8 once percent-decoded');
    user = u!;
    if (colon >= 0) {
      const p = lenientDecode(userinfo.slice(colon + 1));
      if (p === null) fail('the password is not UTF-8 once percent-decoded');
      password = p!;
    }
  }

  const hostParts = hostText.split(',');
  if (hostText === '' && (k === 'mongodb' || k === 'kafka')) fail('the URL names no host');
  const hosts = hostText === '' ? [] : hostParts.map((h) => (h === '' ? fail('the host list has an empty entry') : parseHost(h, fail)));
  if ((k === 'postgresql' || k === 'mysql') && hosts.length > 1) {
    fail(`the URL names ${hosts.length} hosts; a ${k === 'postgresql' ? 'PostgreSQL' : 'MySQL/MariaDB'} source reads one server (its ${k === 'postgresql' ? 'replication slot' : 'binlog position'} lives there): name the primary`, { hosts: hosts.length });
  }
  if (scheme === 'mongodb+srv' && (hosts.length !== 1 || hosts[0]!.port !== undefined)) fail('a mongodb+srv URL names one host name and no port (DNS gives the servers)');
  if (k === 'kafka' && hosts.some((h) => h.port === undefined)) fail('every Kafka broker needs its port (host:port,host:port)');

  const q = rest.indexOf('?');
  const path = q < 0 ? rest : rest.slice(0, q);
  const query = q < 0 ? '' : rest.slice(q + 1);
  if (k === 'kafka' && rest !== '') fail('a Kafka broker list has no path or parameters (host:port,host:port)');
  if (path.slice(1).includes('/')) fail('the path must be one database name; percent-encode a "/" in a password');
  let database: string | undefined;
  if (path !== '') {
    const d = lenientDecode(path.slice(1));
    if (d === null) fail('the database name is not UTF-8 once percent-decoded');
    database = d!;
  }

  // A password with an unencoded "/", "?" or "#" ended the authority early, so the userinfo's
  // real "@" lies after it: any "@" past the authority is refused (written %40 in a parameter).
  if (rest.includes('@')) fail('an "@" follows the host: percent-encode "/", "?" and "#" in the user and password, and "@" in parameters (%40); or send the password in the "password" field');
  const sql = k === 'postgresql' || k === 'mysql';
  // Empty pieces ("&&", a trailing "&") are kept until the check below: after a password they are a split "&".
  const pieces = query === '' ? [] : query.split('&');
  const decoded = pieces.map((piece) => {
    const eq = piece.indexOf('=');
    const name = lenientDecode(eq < 0 ? piece : piece.slice(0, eq));
    const value = lenientDecode(eq < 0 ? '' : piece.slice(eq + 1));
    if (name === null || value === null) fail('a parameter is not UTF-8 once percent-decoded');
    return { name: name!, value: value!, piece };
  });
  // A JDBC password with an unencoded "&" splits into the parameters after it: those must be
  // ones sluice reads, else the URL is refused (without naming them: they may be the password).
  const pwAt = sql ? decoded.findIndex((d) => d.name.toLowerCase() === 'password') : -1;
  if (pwAt >= 0 && decoded.slice(pwAt + 1).some((d) => d.piece === '' || !AFTER_PASSWORD.has(d.name))) {
    fail(`a parameter after "password=" is not one sluice reads (${[...AFTER_PASSWORD].join(', ')}): a password with an unencoded "&" would split into it; percent-encode "&" (%26) or put password= last`);
  }
  const params: ConnectionUrl['params'] = [];
  const rawParams: string[] = [];
  let userParam = false;
  for (const { name, value, piece } of decoded) {
    if (piece === '') continue;
    const lower = name.toLowerCase();
    if (sql && lower === 'password') {
      if (password !== undefined) fail('the URL holds a password twice (in the userinfo and as a parameter, or two parameters); keep one');
      password = value;
      continue;
    }
    if (sql && lower === 'user') {
      if (userinfo !== null) fail('the URL names its user twice (in the userinfo and as a parameter); keep one');
      user = value;
      userParam = true;
    } else if (SECRET_PARAM.test(name) || (lower === 'authmechanismproperties' && /token/i.test(value))) {
      fail('a parameter carries a second secret; a connection keeps one password, apart from the URL: leave the parameter out', { parameter: name });
    }
    params.push({ name, value });
    rawParams.push(piece);
  }

  const prefix = sm ? `${jdbc ? url.slice(0, 5) : ''}${body.slice(0, sm[0].length)}` : '';
  return {
    kind: k!,
    scheme,
    jdbc,
    ...(user !== undefined ? { user } : {}),
    ...(password !== undefined ? { password } : {}),
    hosts,
    ...(database !== undefined ? { database } : {}),
    params,
    raw: { prefix, userinfo: userinfo !== null, userParam, hosts: hostText, path, params: rawParams },
  };
}

/**
 * Writes a parsed URL back: as it was written, with the user re-encoded and `password`
 * (if given) put where the user is: the userinfo, or a `password` parameter beside a
 * `user` parameter. A URL naming no user takes no password.
 */
export function formatConnectionUrl(u: ConnectionUrl, password?: string): string {
  const r = u.raw;
  const withPw = password !== undefined && u.user !== undefined;
  const userinfo = r.userinfo ? `${encodeURIComponent(u.user ?? '')}${withPw && !r.userParam ? `:${encodeURIComponent(password)}` : ''}@` : '';
  const params = [...r.params, ...(withPw && r.userParam ? [`password=${encodeURIComponent(password)}`] : [])];
  return `${r.prefix}${userinfo}${r.hosts}${r.path}${params.length ? `?${params.join('&')}` : ''}`;
}

/** The URL without its password (what the store keeps and the API shows), and the password. */
export function splitConnectionUrl(url: string, kind?: UrlKind, field = 'url'): { url: string; password?: string } {
  const u = parseConnectionUrl(url, kind, field);
  return { url: formatConnectionUrl(u), ...(u.password !== undefined ? { password: u.password } : {}) };
}

/** A URL fit for a log line: the password as ****; one that cannot be parsed is not shown at all. */
export function maskConnectionUrl(url: string): string {
  try {
    const u = parseConnectionUrl(url);
    return formatConnectionUrl(u, u.password === undefined ? undefined : '****');
  } catch {
    return '(a connection URL that cannot be parsed)';
  }
}

/** The brokers of a kafka connection's URL, as kafkajs takes them. */
export function brokerList(url: string, field = 'url'): string[] {
  return parseConnectionUrl(url, 'kafka', field).hosts.map((h) => `${h.host}:${h.port}`);
}
