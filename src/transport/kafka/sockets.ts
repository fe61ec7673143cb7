/**
 * Every socket the kafkajs clients of one transport open, so that clients given up on
 * can be cut off. kafkajs's disconnect() of a consumer that is still joining its group
 * waits for the JoinGroup answer, which on a fresh broker can take minutes, and the
 * runner then starts fetching although it was told to stop: its sockets outlived the
 * close, kept the process alive (a test file hung 9 minutes after its last test) and
 * leaked a connection for every stream stopped while starting. kafkajs has no way to
 * abort that, so the transport opens its sockets through this factory and destroys
 * whatever is still open once the background disconnect has had its time.
 */
import net from 'node:net';
import tls from 'node:tls';
import type { ISocketFactory } from 'kafkajs';

/** As kafkajs's own factory: TCP keep-alive after a minute idle. */
const KEEP_ALIVE_DELAY_MS = 60_000;

export class KafkaSockets {
  readonly #open = new Set<net.Socket>();
  #cut = false;

  /** kafkajs's default socket factory, plus the bookkeeping. */
  readonly factory: ISocketFactory = ({ host, port, ssl, onConnect }) => {
    if (this.#cut) {
      // A client that lives on after being given up on gets no new connection: kafkajs
      // sees a connection error and gives up too.
      const dead = new net.Socket();
      process.nextTick(() => dead.destroy(new Error('the Kafka transport is closed')));
      return dead;
    }
    const socket = ssl
      ? tls.connect({ host, port, ...(net.isIP(host) ? {} : { servername: host }), ...(ssl as tls.ConnectionOptions) }, onConnect)
      : net.connect({ host, port }, onConnect);
    socket.setKeepAlive(true, KEEP_ALIVE_DELAY_MS);
    this.#open.add(socket);
    socket.once('close', () => this.#open.delete(socket));
    return socket;
  };

  /** Sockets not yet closed. */
  get open(): number {
    return this.#open.size;
  }

  /** True once destroyAll() ran. */
  get cut(): boolean {
    return this.#cut;
  }

  /**
   * Destroys every open socket and refuses new ones; returns how many were open. Each is
   * destroyed with an error, since kafkajs does not listen for 'close': only an 'error'
   * makes its connection reject what is in flight and stop its request queue's timer
   * (which otherwise re-arms itself every millisecond and keeps the process alive).
   */
  destroyAll(): number {
    this.#cut = true;
    const n = this.#open.size;
    for (const s of this.#open) s.destroy(new Error('the Kafka transport is closed'));
    this.#open.clear();
    return n;
  }
}
