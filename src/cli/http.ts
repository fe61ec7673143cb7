/**
 * One HTTP(S) request, for the command line client (and the demo and tests). Node's
 * fetch cannot be told which CA to trust without undici's own Agent; node:https can:
 * `ca` (PEM) is trusted instead of the built-in roots, as curl's --cacert does.
 */
import http from 'node:http';
import https from 'node:https';

export interface HttpAnswer {
  status: number;
  headers: http.IncomingHttpHeaders;
  text: string;
}

export interface HttpRequest {
  method?: string;
  headers?: Record<string, string>;
  body?: string;
  /** PEM of the CA(s) that signed the server's certificate. */
  ca?: string | Buffer;
  /** Gives up (rejects with code ETIMEDOUT) after this long; default 5 minutes. */
  timeoutMs?: number;
}

/** TLS failures that mean "this certificate is not trusted here": the caller names --cacert. */
export const UNTRUSTED_CERT_CODES = new Set([
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'SELF_SIGNED_CERT_IN_CHAIN',
  'CERT_UNTRUSTED',
  'ERR_TLS_CERT_ALTNAME_INVALID',
]);

export function httpRequest(url: string, req: HttpRequest = {}): Promise<HttpAnswer> {
  const u = new URL(url);
  const secure = u.protocol === 'https:';
  if (!secure && u.protocol !== 'http:') return Promise.reject(Object.assign(new Error(`unsupported URL scheme ${u.protocol}`), { code: 'ERR_INVALID_URL_SCHEME' }));
  const headers: Record<string, string> = { ...req.headers };
  if (req.body !== undefined) headers['content-length'] = String(Buffer.byteLength(req.body));
  return new Promise((resolve, reject) => {
    const options: https.RequestOptions = { method: req.method ?? 'GET', headers, ...(secure && req.ca ? { ca: req.ca } : {}) };
    const r = (secure ? https : http).request(u, options, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, text: Buffer.concat(chunks).toString('utf8') }));
      res.on('error', reject);
    });
    r.setTimeout(req.timeoutMs ?? 300_000, () => r.destroy(Object.assign(new Error('timed out'), { code: 'ETIMEDOUT' })));
    r.on('error', reject);
    r.end(req.body);
  });
}
