/**
 * The orders table of the pipeline tests, whichever database holds it: the e2e
 * tests and the benchmarks create it, write to it, read it back and compare it
 * with MongoDB through this one interface, so a scenario is written once for
 * PostgreSQL and MariaDB (pipeline.ts and mysql-pipeline.ts implement it).
 */
import type { Normalised } from './compare';

export type SourceKind = 'postgresql' | 'mysql';

/** Every column compares exactly through text. */
export const ORDER_COLUMNS = ['id', 'n', 'note', 'amount', 'at'];

export interface OrdersDb {
  readonly kind: SourceKind;
  /** A bare table name qualified in the test database (`public.x`, `sluice.x`). */
  table(name: string): string;
  /** Creates the table (id, n, note, amount, at) with rows 1..rows. */
  create(table: string, rows: number): Promise<void>;
  /** The whole table, normalised, keyed by id. */
  rows(table: string): Promise<Map<string, Normalised>>;
  /** Runs one statement for its effect (`?` placeholders on MySQL, `$n` on PostgreSQL). */
  exec(sql: string, params?: unknown[]): Promise<void>;
  /**
   * Random inserts (ids from firstNewId), updates and deletes, each its own
   * transaction, until `stop()`, which resolves with the count or rejects with the
   * error that ended the loop.
   */
  writeContinuously(table: string, firstNewId: number): { stop: () => Promise<number> };
  end(): Promise<void>;
}

/** Size knobs for the long loops, with CI defaults that meet the minimums. */
export const knob = (name: string, dflt: number): number => {
  const v = Number(process.env[name]);
  return Number.isFinite(v) && v > 0 ? v : dflt;
};
