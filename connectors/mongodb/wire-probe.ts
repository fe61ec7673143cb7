/**
 * A bounded MongoDB handshake, done before the driver is let near a server (issue 22,
 * finding 1). The mongodb 6.x driver pointed at a port where another server listens
 * (MariaDB's, which speaks first) read that server's greeting as a message header and
 * grew the daemon's heap to several GB within seconds, killing every stream. So every
 * client sluice makes for a user-supplied URL (connection test, /validate, preview,
 * verify, the sink) first sends one `hello` to each seed host itself and reads the
 * answer with a deadline and a size cap:
 *
 *   - the reply must be a MongoDB message header (length 17..MAX_REPLY_BYTES, responseTo
 *     our request id, opcode OP_MSG or OP_REPLY) carrying a BSON document with `ok`;
 *   - at most MAX_REPLY_BYTES are ever read, and the socket is destroyed at the deadline.
 *
 * Bytes that are not such a reply ("wrong") are a CONNECTION_PROTOCOL_MISMATCH and the
 * driver never sees that server. A server that closes the connection on a hello
 * ("closed"), stays silent ("silent") or cannot be reached ("unreachable") is left to
 * the driver, whose own timeouts handle those without harm (measured against the
 * stack's PostgreSQL, Kafka and Prometheus ports); a connection test reports them.
 * Hosts a replica set announces later are the driver's business: a server that answers
 * a correct hello is MongoDB by its own word.
 */
import net from 'node:net';
import tls from 'node:tls';
import { promises as dns } from 'node:dns';
import { BSON } from 'mongodb';
import type { ConnectionUrl } from '../../src/connection-url';

/** A hello reply is a few hundred bytes; a replica set's with many hosts a few KB. */
export const MAX_REPLY_BYTES = 1024 * 1024;
export const PROBE_TIMEOUT_MS = 5000;

const OP_REPLY = 1;
const OP_MSG = 2013;

export type ProbeResult =
  | { host: string; outcome: 'mongodb' }
  | { host: string; outcome: 'wrong' | 'closed' | 'silent' | 'unreachable'; reason: string };

let nextRequestId = 0x51c0;

/** OP_MSG {hello: 1, $db: 'admin'}. */
function helloMessage(requestId: number): Buffer {
  const doc = Buffer.from(BSON.serialize({ hello: 1, $db: 'admin' }));
  const header = Buffer.alloc(16 + 4 + 1);
  header.writeInt32LE(header.length + doc.length, 0);
  header.writeInt32LE(requestId, 4);
  header.writeInt32LE(0, 8);
  header.writeInt32LE(OP_MSG, 12);
  header.writeUInt32LE(0, 16); // flagBits
  header.writeUInt8(0, 20); // section kind 0: the body document
  return Buffer.concat([header, doc]);
}

/** Why `reply` (complete, `length` bytes) is not a MongoDB answer to `requestId`, or null when it is one. */
export function replyProblem(reply: Buffer, requestId: number): string | null {
  const length = reply.readInt32LE(0);
  const responseTo = reply.readInt32LE(8);
  const opCode = reply.readInt32LE(12);
  if (responseTo !== requestId || (opCode !== OP_MSG && opCode !== OP_REPLY)) return 'the answer is not a MongoDB message';
  const docAt = opCode === OP_MSG ? 16 + 4 + 1 : 16 + 20;
  if (opCode === OP_MSG && reply.readUInt8(20) !== 0) return 'the answer is not a MongoDB hello reply';
  if (length < docAt + 5) return 'the answer is too short for a MongoDB reply';
  const docLength = reply.readInt32LE(docAt);
  if (docLength < 5 || docAt + docLength > length) return 'the answer holds no valid BSON document';
  try {
    const doc = BSON.deserialize(reply.subarray(docAt, docAt + docLength));
    return 'ok' in doc ? null : 'the answer is BSON but not a MongoDB reply';
  } catch {
    return 'the answer holds no valid BSON document';
  }
}

/** One host: a hello, an answer read within `timeoutMs` and at most MAX_REPLY_BYTES. */
export function probeHost(host: string, port: number, opts: { tls: boolean; timeoutMs?: number }): Promise<ProbeResult> {
  const timeoutMs = opts.timeoutMs ?? PROBE_TIMEOUT_MS;
  const name = `${host}:${port}`;
  const bare = host.replace(/^\[|\]$/g, '');
  const requestId = (nextRequestId = (nextRequestId + 1) & 0x7fffffff);
  return new Promise<ProbeResult>((resolve) => {
    let received: Buffer[] = [];
    let size = 0;
    let connected = false;
    let secure = false;
    const socket = opts.tls
      ? tls.connect({ host: bare, port, servername: net.isIP(bare) ? undefined : bare, rejectUnauthorized: false }) // only the protocol is probed; the driver verifies TLS
      : net.connect({ host: bare, port });
    const done = (r: ProbeResult): void => {
      clearTimeout(timer);
      socket.removeAllListeners('data');
      socket.destroy();
      received = [];
      resolve(r);
    };
    const timer = setTimeout(
      () =>
        done({
          host: name,
          outcome: connected ? 'silent' : 'unreachable',
          reason: !connected ? `no connection within ${timeoutMs} ms` : opts.tls && !secure ? `no TLS handshake within ${timeoutMs} ms (is the server without TLS?)` : `no answer to a MongoDB hello within ${timeoutMs} ms`,
        }),
      timeoutMs,
    );
    // Connected means TCP: a TLS handshake that fails after it is a server of another kind (or without TLS), not an unreachable one.
    socket.once('connect', () => {
      connected = true;
    });
    socket.once(opts.tls ? 'secureConnect' : 'connect', () => {
      connected = true;
      secure = true;
      socket.write(helloMessage(requestId));
    });
    socket.on('data', (chunk: Buffer) => {
      received.push(chunk);
      size += chunk.length;
      if (size < 16) return;
      const head = received.length === 1 ? received[0]! : Buffer.concat(received);
      received = [head];
      const length = head.readInt32LE(0);
      const opCode = head.readInt32LE(12);
      if (length <= 16 || length > MAX_REPLY_BYTES || head.readInt32LE(8) !== requestId || (opCode !== OP_MSG && opCode !== OP_REPLY)) {
        done({ host: name, outcome: 'wrong', reason: 'it answered a MongoDB hello with bytes that are not a MongoDB reply (another kind of server listens on this port?)' });
        return;
      }
      if (size > length) return void done({ host: name, outcome: 'wrong', reason: 'the server sent more than its reply' });
      if (size < length) return;
      const problem = replyProblem(head, requestId);
      done(problem ? { host: name, outcome: 'wrong', reason: problem } : { host: name, outcome: 'mongodb' });
    });
    socket.on('error', (err: NodeJS.ErrnoException) => {
      if (size > 0) done({ host: name, outcome: 'wrong', reason: `the connection failed in the middle of the answer (${err.code ?? err.message})` });
      else done({ host: name, outcome: connected ? 'closed' : 'unreachable', reason: err.code ?? err.message });
    });
    socket.on('close', () => {
      if (size > 0) done({ host: name, outcome: 'wrong', reason: 'the server closed the connection in the middle of the answer' });
      else done({ host: name, outcome: connected ? 'closed' : 'unreachable', reason: 'the server closed the connection without answering a MongoDB hello' });
    });
  });
}

const flag = (u: ConnectionUrl, names: string[]): boolean | undefined => {
  const p = u.params.find((x) => names.includes(x.name.toLowerCase()));
  return p === undefined ? undefined : p.value.toLowerCase() === 'true';
};

/** The seed hosts of a parsed mongodb URL (SRV looked up, within the deadline), probed in parallel; over TLS when the URL or `forceTls` says so. */
export async function probeSeeds(u: ConnectionUrl, timeoutMs = PROBE_TIMEOUT_MS, forceTls = false): Promise<ProbeResult[]> {
  const srv = u.scheme === 'mongodb+srv';
  // TLS as the driver will speak it: the URL's tls/ssl (default on for mongodb+srv), or the connection's options.tls.
  const useTls = forceTls || (flag(u, ['tls', 'ssl']) ?? srv);
  let seeds = u.hosts.map((h) => ({ host: h.host, port: h.port ?? 27017 }));
  if (srv) {
    const name = u.hosts[0]!.host;
    let timer: NodeJS.Timeout | undefined;
    try {
      const records = await Promise.race([
        dns.resolveSrv(`_mongodb._tcp.${name}`),
        new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`no DNS answer within ${timeoutMs} ms`)), timeoutMs))),
      ]);
      seeds = records.slice(0, 16).map((r) => ({ host: r.name, port: r.port }));
    } catch (err) {
      return [{ host: name, outcome: 'unreachable', reason: `SRV lookup of _mongodb._tcp.${name} failed: ${(err as Error).message}` }];
    } finally {
      clearTimeout(timer);
    }
  }
  return Promise.all(seeds.slice(0, 16).map((s) => probeHost(s.host, s.port, { tls: useTls, timeoutMs })));
}
