/**
 * A SQL source's connection URL, as both sources accept it: `<scheme>://user:pass@host:port/db`
 * or its JDBC form `jdbc:<scheme>://host:port/db?user=…&password=…`. A URL that names no
 * database is refused: a stream reads one database.
 */
import { SluiceError } from '../errors';

export interface SourceUrl {
  host: string;
  port: number;
  database: string;
  user: string | undefined;
  password: string | undefined;
  /** The query parameters (sslmode, ssl, useSSL, …), for the connector to read. */
  params: URLSearchParams;
}

export interface UrlRules {
  /** "PostgreSQL", "MySQL": named in the messages. */
  product: string;
  /** The scheme named in the messages and examples ("postgresql", "mysql"); `schemes` lists every one accepted. */
  scheme: string;
  schemes: readonly string[];
  defaultPort: number;
}

export function parseSourceUrl(url: string, rules: UrlRules): SourceUrl {
  let parsed: URL;
  try {
    parsed = new URL(url.startsWith('jdbc:') ? url.slice(5) : url);
  } catch {
    throw new SluiceError('SOURCE_CONFIG_INVALID', `the connection url is not a ${rules.product} URL`, {}, {
      suggestion: `Use ${rules.scheme}://user:password@host:port/database or jdbc:${rules.scheme}://host:port/database?user=…&password=…`,
    });
  }
  if (!rules.schemes.includes(parsed.protocol.slice(0, -1))) {
    throw new SluiceError('SOURCE_CONFIG_INVALID', `the connection url scheme ${parsed.protocol} is not ${rules.scheme}:`, {});
  }
  const database = decodeURIComponent(parsed.pathname.replace(/^\//, ''));
  if (!database) {
    throw new SluiceError('SOURCE_CONFIG_INVALID', 'the connection url names no database', {}, {
      suggestion: `Add the database to the url path: ${rules.scheme}://host:port/<database>`,
    });
  }
  const params = parsed.searchParams;
  return {
    host: parsed.hostname.replace(/^\[|\]$/g, '') || '127.0.0.1',
    port: parsed.port ? Number(parsed.port) : rules.defaultPort,
    database,
    user: decodeURIComponent(parsed.username) || params.get('user') || undefined,
    password: decodeURIComponent(parsed.password) || params.get('password') || undefined,
    params,
  };
}
