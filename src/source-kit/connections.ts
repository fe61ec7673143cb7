/**
 * The connections a source has open (snapshot workers, catalog look-ups, the lag probe),
 * so that close() ends every one of them, and refuses new ones after.
 */
export class ConnectionSet<C> {
  readonly #open = new Set<C>();
  readonly #end: (conn: C) => Promise<void>;
  #closed = false;

  /** `end` closes one connection; `onEnd` tells when a connection ended by itself. */
  constructor(
    end: (conn: C) => Promise<void>,
    private readonly onEnd: (conn: C, ended: () => void) => void,
  ) {
    this.#end = end;
  }

  get closed(): boolean {
    return this.#closed;
  }

  readonly track = (conn: C): void => {
    this.#open.add(conn);
    this.onEnd(conn, () => this.#open.delete(conn));
  };

  /** From now on `closed` is true: the source opens no new connection (its close() is under way). */
  refuse(): void {
    this.#closed = true;
  }

  /** Ends every connection still open; later ones are the caller's to refuse (see `closed`). */
  async closeAll(): Promise<void> {
    this.#closed = true;
    await Promise.all([...this.#open].map((c) => this.#end(c).catch(() => undefined)));
    this.#open.clear();
  }
}
