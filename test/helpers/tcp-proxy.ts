/**
 * A TCP proxy in front of one of the stack's servers, for outage tests that must
 * never touch the shared servers themselves. `stop()` is a server going down
 * (connections cut, new ones refused); `blackHole()` is a server that still accepts
 * connections but answers nothing (bytes are held, in both directions, until
 * `restore()` delivers them), which is what a hung server or a silent network
 * partition looks like to a client.
 */
import net from 'node:net';

export function freePort(host = '127.0.0.1'): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once('error', reject);
    s.listen(0, host, () => {
      const { port } = s.address() as net.AddressInfo;
      s.close(() => resolve(port));
    });
  });
}

export class TcpProxy {
  #server: net.Server | null = null;
  readonly #pairs = new Set<[net.Socket, net.Socket]>();
  #holding = false;
  constructor(
    readonly port: number,
    private readonly target: { host: string; port: number },
    readonly listenHost = '127.0.0.1',
  ) {}

  static async start(target: { host: string; port: number }, listenHost = '127.0.0.1'): Promise<TcpProxy> {
    const p = new TcpProxy(await freePort(listenHost), target, listenHost);
    await p.start();
    return p;
  }

  start(): Promise<void> {
    const server = net.createServer((client) => {
      const upstream = net.connect(this.target.port, this.target.host);
      const pair: [net.Socket, net.Socket] = [client, upstream];
      this.#pairs.add(pair);
      for (const s of pair) s.on('error', () => s.destroy());
      client.on('close', () => {
        upstream.destroy();
        this.#pairs.delete(pair);
      });
      upstream.on('close', () => client.destroy());
      if (this.#holding) for (const s of pair) s.pause();
      else TcpProxy.#forward(pair);
    });
    this.#server = server;
    return new Promise((resolve, reject) => {
      server.once('error', reject);
      server.listen(this.port, this.listenHost, () => resolve());
    });
  }

  static #forward([client, upstream]: [net.Socket, net.Socket]): void {
    client.pipe(upstream);
    upstream.pipe(client);
  }

  /** Connections stay open and new ones are accepted, but nothing is forwarded any more. */
  blackHole(): void {
    this.#holding = true;
    for (const [client, upstream] of this.#pairs) {
      // unpipe first: pipe() would resume a paused source on the next 'drain'.
      client.unpipe(upstream);
      upstream.unpipe(client);
      client.pause();
      upstream.pause();
    }
  }

  /** Forwarding again: what was held is delivered (to whichever side is still there). */
  restore(): void {
    this.#holding = false;
    for (const pair of this.#pairs) TcpProxy.#forward(pair);
  }

  /** Refuses new connections and cuts the open ones: the server "goes down". */
  stop(): Promise<void> {
    const server = this.#server;
    this.#server = null;
    for (const pair of this.#pairs) for (const s of pair) s.destroy();
    return new Promise((resolve) => (server ? server.close(() => resolve()) : resolve()));
  }
}
