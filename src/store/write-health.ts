/**
 * Whether the state store can write. A full disk or a read-only data dir makes SQLite
 * refuse writes (SQLITE_FULL, SQLITE_READONLY*, SQLITE_IOERR*): each such failure
 * becomes STATE_STORE_WRITE_FAILED (retriable: a stream restarts from its last saved
 * position once space is back), and is remembered for /readyz until a write succeeds
 * again.
 */
import { SluiceError } from '../errors';

/** SQLite's answers for "cannot write the file now" (better-sqlite3 puts the extended code in `code`). */
const WRITE_FAILURE = /^SQLITE_(FULL|READONLY|IOERR|CANTOPEN)/;

export function isStoreWriteFailure(err: unknown): boolean {
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === 'string' && WRITE_FAILURE.test(code);
}

export interface WriteFailure {
  code: 'STATE_STORE_WRITE_FAILED';
  message: string;
  sqliteCode: string;
  since: string;
}

export class WriteHealth {
  #failure: WriteFailure | null = null;

  constructor(readonly file: string) {}

  /** The failure in force (null while writes succeed). */
  get failure(): WriteFailure | null {
    return this.#failure;
  }

  /** Runs a write: a store write failure is remembered and thrown as STATE_STORE_WRITE_FAILED; a success clears it. */
  async guard<T>(write: () => T | Promise<T>): Promise<T> {
    let out: T;
    try {
      out = await write();
    } catch (err) {
      throw this.translate(err);
    }
    this.#failure = null;
    return out;
  }

  /** A store write failure as STATE_STORE_WRITE_FAILED (remembered); anything else as it is. */
  translate(err: unknown): unknown {
    if (!isStoreWriteFailure(err)) return err;
    const sqliteCode = (err as { code: string }).code;
    const message = `the state store ${this.file} cannot be written (${sqliteCode}: ${(err as Error).message}): the disk is full or the data dir is read-only`;
    this.#failure = { code: 'STATE_STORE_WRITE_FAILED', message, sqliteCode, since: this.#failure?.since ?? new Date().toISOString() };
    return new SluiceError('STATE_STORE_WRITE_FAILED', message, { file: this.file, sqliteCode }, { cause: err });
  }
}
