/**
 * The MariaDB side of the pipeline tests: the orders table, continuous writes and
 * the comparison with MongoDB, as pipeline.ts has them for PostgreSQL.
 */
import type { Db } from 'mongodb';
import { stackUrls } from './stack';
import { describe, diffRows, isEqual, normaliseRow, sinkRows, type Difference, type Normalised } from './compare';
import { ORDER_COLUMNS } from './pipeline';
import { waitFor } from '../../src/runtime/testing/wait-for';
import { clientConfig, connect, type Conn } from '../../connectors/mysql/naming';

export type MyClient = Conn;

export async function myClient(): Promise<Conn> {
  return connect(clientConfig(stackUrls().mysql));
}

export function myDatabase(): string {
  return clientConfig(stackUrls().mysql).database;
}

export async function createMyOrders(c: Conn, table: string, rows: number): Promise<void> {
  await c.query(`CREATE TABLE ${table} (id bigint PRIMARY KEY, n int NOT NULL, note varchar(100), amount decimal(14,2), at datetime(3) NOT NULL)`);
  for (let from = 1; from <= rows; from += 5000) {
    const to = Math.min(rows, from + 4999);
    const values: string[] = [];
    for (let g = from; g <= to; g++) values.push(`(${g}, ${g % 1000}, 'row ${g}', ${(g * 1.25).toFixed(2)}, UTC_TIMESTAMP(3))`);
    await c.query(`INSERT INTO ${table} VALUES ${values.join(',')}`);
  }
}

export async function sourceMyOrders(c: Conn, table: string): Promise<Map<string, Normalised>> {
  const rows = await c.query<Record<string, string | null>>(
    `SELECT id, n, note, amount, DATE_FORMAT(at, '%Y-%m-%dT%H:%i:%s.%fZ') AS at FROM ${table}`,
  );
  return new Map(
    rows.map((r) => [r.id as string, normaliseRow({ ...r, at: r.at ? r.at.replace(/(\.\d{3})\d{3}Z$/, '$1Z') : null }, ORDER_COLUMNS)]),
  );
}

/** Random inserts, updates and deletes until `stop()`; each statement its own transaction. Errors (a restarting server) are counted, not thrown. */
export function writeMyContinuously(c: Conn, table: string, firstNewId: number): { stop: () => Promise<number> } {
  let running = true;
  let next = firstNewId;
  let count = 0;
  const loop = (async () => {
    while (running) {
      const pick = Math.random();
      if (pick < 0.5) {
        await c.query(`INSERT INTO ${table} VALUES (?, ?, ?, ?, UTC_TIMESTAMP(3))`, [next, next % 7, `new ${next}`, (next / 4).toFixed(2)]);
        next++;
      } else if (pick < 0.85) {
        await c.query(`UPDATE ${table} SET n = n + 1, amount = amount + 0.01, at = UTC_TIMESTAMP(3) WHERE id = ?`, [1 + Math.floor(Math.random() * (next - 1))]);
      } else {
        await c.query(`DELETE FROM ${table} WHERE id = ?`, [1 + Math.floor(Math.random() * (next - 1))]);
      }
      count++;
    }
  })();
  return {
    stop: async () => {
      running = false;
      await loop;
      return count;
    },
  };
}

export async function compareMyOrders(c: Conn, table: string, db: Db, collection: string): Promise<Difference> {
  return diffRows(await sourceMyOrders(c, table), await sinkRows(db, collection, 'id', ORDER_COLUMNS));
}

/** Waits until MongoDB holds exactly the MariaDB table; the message says what still differs. */
export async function waitMyConverged(c: Conn, table: string, db: Db, collection: string, timeoutMs = 120000): Promise<Difference> {
  let last: Difference | undefined;
  try {
    return (await waitFor(
      async () => {
        last = await compareMyOrders(c, table, db, collection);
        return isEqual(last) ? last : false;
      },
      { timeoutMs, intervalMs: 500, message: `MongoDB ${collection} equals ${table}` },
    )) as Difference;
  } catch (err) {
    throw new Error(`${(err as Error).message}: ${last ? describe(last) : 'no comparison'}`);
  }
}
