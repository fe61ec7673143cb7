/**
 * The TCP connections a process holds, read from /proc (Linux): its socket file
 * descriptors matched against the kernel's TCP tables by inode. A socket the process
 * closed no longer counts, even while the kernel finishes it (TIME_WAIT, FIN_WAIT).
 */
import fs from 'node:fs';

/** Inodes of the sockets among the process's open file descriptors. */
function socketInodes(pid: number | 'self'): Set<string> {
  const out = new Set<string>();
  const dir = `/proc/${pid}/fd`;
  for (const fd of fs.readdirSync(dir)) {
    let target: string;
    try {
      target = fs.readlinkSync(`${dir}/${fd}`);
    } catch {
      continue; // closed meanwhile
    }
    const m = /^socket:\[(\d+)\]$/.exec(target);
    if (m) out.add(m[1]!);
  }
  return out;
}

/**
 * How many TCP connections the process (default: this one) holds to `port` on the
 * remote side, any state but LISTEN.
 */
export function tcpConnectionsTo(port: number, pid: number | 'self' = 'self'): number {
  const inodes = socketInodes(pid);
  let n = 0;
  for (const table of ['tcp', 'tcp6']) {
    let text: string;
    try {
      text = fs.readFileSync(`/proc/${pid}/net/${table}`, 'utf8');
    } catch {
      continue;
    }
    for (const line of text.split('\n').slice(1)) {
      // sl local_address rem_address st tx_queue:rx_queue tr:tm->when retrnsmt uid timeout inode
      const f = line.trim().split(/\s+/);
      if (f.length < 10) continue;
      const remotePort = parseInt(f[2]!.split(':')[1]!, 16);
      const listening = f[3] === '0A';
      if (remotePort === port && !listening && inodes.has(f[9]!)) n++;
    }
  }
  return n;
}

/** The port of the first "host:port" in a broker list. */
export function brokerPort(brokers: string): number {
  const first = brokers.split(',')[0]!.trim();
  const port = Number(first.slice(first.lastIndexOf(':') + 1));
  if (!Number.isInteger(port) || port <= 0) throw new Error(`no port in the broker list "${brokers}"`);
  return port;
}
