/**
 * A SQL source's server, as both sources read it from their connection URL through the
 * one URL parser (src/connection-url.ts): one host and port, the database (a stream reads
 * one, so a URL naming none is refused), user, password and the query parameters.
 */
import { parseConnectionUrl } from '../connection-url';
import { SluiceError } from '../errors';

export interface SourceAddress {
  host: string;
  port: number;
  database: string;
  user: string | undefined;
  password: string | undefined;
  /** The query parameters (sslmode, ssl, useSSL, …), for the connector to read. */
  params: Map<string, string>;
}

export function sourceAddress(url: string, kind: 'postgresql' | 'mysql', defaultPort: number): SourceAddress {
  const u = parseConnectionUrl(url, kind);
  if (!u.database) {
    throw new SluiceError('SOURCE_CONFIG_INVALID', 'the connection url names no database', {}, {
      suggestion: `Add the database to the url path: ${kind}://host:port/<database>`,
    });
  }
  const host = u.hosts[0];
  return {
    host: host ? host.host.replace(/^\[|\]$/g, '') : '127.0.0.1',
    port: host?.port ?? defaultPort,
    database: u.database,
    user: u.user || undefined,
    password: u.password || undefined,
    params: new Map(u.params.map((p) => [p.name, p.value])),
  };
}
