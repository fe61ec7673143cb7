/**
 * The MariaDB side of the pipeline tests: the orders table (orders.ts) on the
 * stack's MariaDB.
 */
import { stackUrls } from './stack';
import { normaliseRow, type Normalised } from './compare';
import { knob, ORDER_COLUMNS, type OrdersDb } from './orders';
import { clientConfig, connect, isUnreachable, type Conn } from '../../connectors/mysql/naming';

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

/**
 * Statements per second of the writer. MariaDB takes single-row statements far faster
 * than a FerretDB sink on this machine applies them (PostgreSQL's writer is slowed by
 * its random-row subqueries), and a backlog of minutes would only make the tests slow.
 */
const WRITE_RATE = knob('SLUICE_E2E_MYSQL_WRITE_RATE', 200);

/**
 * Random inserts, updates and deletes until `stop()`, at most WRITE_RATE a second; each
 * statement its own transaction. A lost connection (a MariaDB restart) is reopened and
 * the writes go on; any other error ends the loop and `stop()` rejects with it.
 */
export function writeMyContinuously(first: Conn, table: string, firstNewId: number): { stop: () => Promise<number> } {
  const t0 = Date.now();
  let running = true;
  let next = firstNewId;
  let count = 0;
  let failed: unknown;
  let c = first;
  const loop = (async () => {
    while (running) {
      const pick = Math.random();
      try {
        if (pick < 0.5) {
          await c.query(`INSERT INTO ${table} VALUES (?, ?, ?, ?, UTC_TIMESTAMP(3))`, [next, next % 7, `new ${next}`, (next / 4).toFixed(2)]);
          next++;
        } else if (pick < 0.85) {
          await c.query(`UPDATE ${table} SET n = n + 1, amount = amount + 0.01, at = UTC_TIMESTAMP(3) WHERE id = ?`, [1 + Math.floor(Math.random() * (next - 1))]);
        } else {
          await c.query(`DELETE FROM ${table} WHERE id = ?`, [1 + Math.floor(Math.random() * (next - 1))]);
        }
        count++;
        const ahead = t0 + (count * 1000) / WRITE_RATE - Date.now();
        if (ahead > 0) await new Promise((r) => setTimeout(r, ahead));
      } catch (err) {
        if (!isUnreachable(err)) throw err;
        // The statement may or may not have committed: either way the comparison at the end
        // reads what MariaDB holds. An insert that did commit must not be retried with its id.
        if (pick < 0.5) next++;
        for (;;) {
          await new Promise((r) => setTimeout(r, 500));
          if (!running) return;
          const reopened = await myClient().catch(() => null);
          if (reopened) {
            if (c !== first) await c.end().catch(() => undefined);
            c = reopened;
            break;
          }
        }
      }
    }
  })().catch((err: unknown) => {
    failed = err;
  });
  return {
    stop: async () => {
      running = false;
      await loop;
      if (c !== first) await c.end().catch(() => undefined);
      if (failed !== undefined) throw failed;
      return count;
    },
  };
}

/**
 * The stack's MariaDB as an OrdersDb, on a connection of its own, reopened once when
 * a statement finds it lost (the outage tests restart MariaDB under it).
 */
export async function myOrders(): Promise<OrdersDb> {
  let c = await myClient();
  const query = async (sql: string, params?: unknown[]): Promise<Array<Record<string, string | null>>> => {
    try {
      return await c.query(sql, params);
    } catch (err) {
      if (!isUnreachable(err)) throw err;
      await c.end().catch(() => undefined);
      c = await myClient();
      return c.query(sql, params);
    }
  };
  const conn = (): Conn => ({ raw: c.raw, query: query as Conn['query'], end: () => c.end() });
  return {
    kind: 'mysql',
    table: (name) => `${myDatabase()}.${name}`,
    create: (table, rows) => createMyOrders(conn(), table, rows),
    rows: (table) => sourceMyOrders(conn(), table),
    exec: async (sql, params) => {
      await query(sql, params);
    },
    writeContinuously: (table, firstNewId) => writeMyContinuously(c, table, firstNewId),
    end: () => c.end(),
  };
}
