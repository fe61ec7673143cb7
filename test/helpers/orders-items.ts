/**
 * The orders/order_items pair of the embedding tests (a parent and a child with a foreign
 * key, ON DELETE CASCADE): random changes on both tables, each statement its own transaction.
 */
import type { Client } from 'pg';
import { untilStopped } from './writer';

/**
 * Creates both tables with `orders` orders (every fifth note NULL) and 0..5 items each, line
 * numbers not in key order; returns the next free item id.
 */
export async function createOrdersItems(pg: Client, orders: string, items: string, count: number): Promise<number> {
  await pg.query(`CREATE TABLE ${orders} (id bigint PRIMARY KEY, code text NOT NULL, note text, total numeric(12,2), created timestamptz NOT NULL)`);
  await pg.query(`CREATE TABLE ${items} (id bigint PRIMARY KEY, order_id bigint NOT NULL REFERENCES ${orders}(id) ON DELETE CASCADE, line_no int NOT NULL, sku text, qty int NOT NULL, price numeric(10,2))`);
  await pg.query(`INSERT INTO ${orders} SELECT g, lpad(to_hex(g), 24, '0'), CASE WHEN g % 5 = 0 THEN NULL ELSE 'order ' || g END, (g * 1.25)::numeric(12,2), date_trunc('milliseconds', now()) FROM generate_series(1, $1) g`, [count]);
  await pg.query(
    `INSERT INTO ${items} SELECT row_number() OVER (), o, (o * 7 + k * 5) % 6, 'sku-' || o || '-' || k, k + 1, (k * 1.5)::numeric(10,2)
       FROM generate_series(1, $1) o, generate_series(0, 5) k WHERE k < o % 6`,
    [count],
  );
  return Number((await pg.query(`SELECT coalesce(max(id), 0) + 1 AS n FROM ${items}`)).rows[0].n);
}

/** The mapping of the embedding tests: orders renamed and typed, items embedded into them as an array sorted by `sort`. */
export function embedMapping(orders: string, items: string, sort: Array<{ field: string }> = [{ field: 'line_no' }]): Record<string, unknown> {
  return {
    tables: {
      [orders]: { collection: 'orders', fields: { note: { name: 'memo' }, code: { type: 'objectId' } } },
      [items]: {
        newDocuments: false,
        fields: { sku: { name: 'product' }, qty: { type: 'long' } },
        embed: { into: orders, kind: 'array', field: 'items', foreignKey: ['order_id'], sort },
      },
    },
  };
}

export const hex24 = (n: number) => n.toString(16).padStart(24, '0');

/** Random changes on both tables until stop(); each statement its own transaction. */
export function writeBoth(pg: Client, orders: string, items: string, firstOrder: number, firstItem: number): { stop: () => Promise<Record<string, number>> } {
  let nextOrder = firstOrder;
  let nextItem = firstItem;
  const counts: Record<string, number> = {};
  const anyOrder = `(SELECT id FROM ${orders} ORDER BY random() LIMIT 1)`;
  const anyItem = `(SELECT id FROM ${items} ORDER BY random() LIMIT 1)`;
  const writer = untilStopped(async () => {
    const r = Math.random();
    let kind: string;
    if (r < 0.3) {
      kind = 'item insert';
      await pg.query(`INSERT INTO ${items} SELECT $1, id, $2, $3, $4, $5 FROM ${orders} ORDER BY random() LIMIT 1`, [nextItem++, Math.floor(Math.random() * 6), `sku-${nextItem}`, Math.floor(Math.random() * 9) + 1, (Math.random() * 50).toFixed(2)]);
    } else if (r < 0.5) {
      kind = 'item update';
      await pg.query(`UPDATE ${items} SET qty = qty + 1, line_no = (line_no + 3) % 7, price = price + 0.01 WHERE id = ${anyItem}`);
    } else if (r < 0.62) {
      kind = 'item move';
      await pg.query(`UPDATE ${items} SET order_id = ${anyOrder} WHERE id = ${anyItem}`);
    } else if (r < 0.72) {
      kind = 'item delete';
      await pg.query(`DELETE FROM ${items} WHERE id = ${anyItem}`);
    } else if (r < 0.82) {
      kind = 'order insert';
      const id = nextOrder++;
      await pg.query(`INSERT INTO ${orders} VALUES ($1, $2, $3, $4, date_trunc('milliseconds', now()))`, [id, hex24(id), `new ${id}`, (id / 8).toFixed(2)]);
      // Born with items in the same transaction as often as not.
      if (Math.random() < 0.5) await pg.query(`INSERT INTO ${items} VALUES ($1, $2, 1, 'first', 1, 1.00), ($3, $2, 0, 'zeroth', 2, 2.00)`, [nextItem++, id, nextItem++]);
    } else if (r < 0.94) {
      kind = 'order update';
      await pg.query(`UPDATE ${orders} SET note = note || '+', total = total + 1 WHERE id = ${anyOrder}`);
    } else {
      kind = 'order delete';
      await pg.query(`DELETE FROM ${orders} WHERE id = ${anyOrder}`);
    }
    counts[kind] = (counts[kind] ?? 0) + 1;
  });
  return { stop: async () => (await writer.stop(), counts) };
}
