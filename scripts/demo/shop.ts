/**
 * The demo's shop in PostgreSQL: customers, orders and order_items with foreign keys
 * (items cascade with their order), seeded in one go, and a write generator that
 * places orders, changes them and deletes some, at a steady pace, for a bounded time.
 */
import type { Client } from 'pg';

export const SHOP_TABLES = ['shop.customers', 'shop.orders', 'shop.order_items'] as const;

/** Items live inside their order in MongoDB: README, "Mapping rules". */
export const SHOP_MAPPING = {
  tables: {
    'shop.customers': { collection: 'customers' },
    'shop.orders': { collection: 'orders' },
    'shop.order_items': {
      newDocuments: false,
      embed: { into: 'shop.orders', kind: 'array', field: 'items', foreignKey: ['order_id'], sort: [{ field: 'line_no' }] },
    },
  },
} as const;

const SKUS = ['mug', 'tee', 'cap', 'sticker', 'hoodie', 'poster', 'socks', 'notebook'];
const STATUSES = ['new', 'paid', 'packed', 'shipped', 'delivered'];

/** (Re)creates the shop schema with `customers` customers and `orders` orders of 1 to 4 items. */
export async function seedShop(pg: Client, sizes: { customers: number; orders: number }): Promise<{ customers: number; orders: number; items: number }> {
  await pg.query('DROP SCHEMA IF EXISTS shop CASCADE');
  await pg.query('CREATE SCHEMA shop');
  await pg.query(`CREATE TABLE shop.customers (
    id serial PRIMARY KEY, name text NOT NULL, email text NOT NULL UNIQUE, city text, created_at timestamptz NOT NULL DEFAULT now())`);
  await pg.query(`CREATE TABLE shop.orders (
    id serial PRIMARY KEY, customer_id int NOT NULL REFERENCES shop.customers(id),
    status text NOT NULL DEFAULT 'new', total numeric(12,2) NOT NULL DEFAULT 0, created_at timestamptz NOT NULL DEFAULT now())`);
  await pg.query(`CREATE TABLE shop.order_items (
    id serial PRIMARY KEY, order_id int NOT NULL REFERENCES shop.orders(id) ON DELETE CASCADE,
    line_no int NOT NULL, sku text NOT NULL, qty int NOT NULL, price numeric(10,2) NOT NULL, UNIQUE (order_id, line_no))`);
  await pg.query(
    `INSERT INTO shop.customers (name, email, city)
     SELECT 'Customer ' || g, 'customer' || g || '@example.com', (ARRAY['Berlin','Lyon','Porto','Oslo','Turin'])[1 + g % 5] FROM generate_series(1, $1) g`,
    [sizes.customers],
  );
  await pg.query(
    `INSERT INTO shop.orders (customer_id, status) SELECT 1 + g % $2, (ARRAY['new','paid','shipped'])[1 + g % 3] FROM generate_series(1, $1) g`,
    [sizes.orders, sizes.customers],
  );
  await pg.query(
    `INSERT INTO shop.order_items (order_id, line_no, sku, qty, price)
     SELECT o.id, k, (ARRAY['mug','tee','cap','sticker','hoodie'])[1 + (o.id + k) % 5], 1 + (o.id * k) % 3, (4.5 + (o.id + k) % 20)::numeric(10,2)
       FROM shop.orders o, generate_series(1, 4) k WHERE k <= 1 + o.id % 4`,
  );
  await pg.query('UPDATE shop.orders o SET total = s.t FROM (SELECT order_id, sum(qty * price) t FROM shop.order_items GROUP BY order_id) s WHERE s.order_id = o.id');
  return shopCounts(pg);
}

export async function shopCounts(pg: Client): Promise<{ customers: number; orders: number; items: number }> {
  const r = await pg.query(
    'SELECT (SELECT count(*) FROM shop.customers)::int AS customers, (SELECT count(*) FROM shop.orders)::int AS orders, (SELECT count(*) FROM shop.order_items)::int AS items',
  );
  return r.rows[0];
}

const pick = <T>(xs: readonly T[]): T => xs[Math.floor(Math.random() * xs.length)] as T;

/** One transaction of shop life: mostly new orders, then status changes, item edits and a few deletes. */
async function oneChange(pg: Client): Promise<void> {
  const dice = Math.random();
  await pg.query('BEGIN');
  try {
    if (dice < 0.55) {
      const { rows } = await pg.query('INSERT INTO shop.orders (customer_id) SELECT id FROM shop.customers ORDER BY random() LIMIT 1 RETURNING id');
      const order = rows[0].id as number;
      const n = 1 + Math.floor(Math.random() * 4);
      for (let k = 1; k <= n; k++) {
        await pg.query('INSERT INTO shop.order_items (order_id, line_no, sku, qty, price) VALUES ($1, $2, $3, $4, $5)', [order, k, pick(SKUS), 1 + Math.floor(Math.random() * 3), (3 + Math.random() * 30).toFixed(2)]);
      }
      await pg.query('UPDATE shop.orders SET total = (SELECT sum(qty * price) FROM shop.order_items WHERE order_id = $1) WHERE id = $1', [order]);
    } else if (dice < 0.8) {
      await pg.query('UPDATE shop.orders SET status = $1 WHERE id = (SELECT id FROM shop.orders ORDER BY random() LIMIT 1)', [pick(STATUSES)]);
    } else if (dice < 0.9) {
      await pg.query('UPDATE shop.order_items SET qty = qty + 1 WHERE id = (SELECT id FROM shop.order_items ORDER BY random() LIMIT 1)');
    } else if (dice < 0.96) {
      await pg.query('DELETE FROM shop.order_items WHERE id = (SELECT id FROM shop.order_items ORDER BY random() LIMIT 1)');
    } else {
      await pg.query('DELETE FROM shop.orders WHERE id = (SELECT id FROM shop.orders ORDER BY random() LIMIT 1)');
    }
    await pg.query('COMMIT');
  } catch (err) {
    await pg.query('ROLLBACK').catch(() => undefined);
    throw err;
  }
}

export interface Generator {
  /** Transactions committed so far. */
  readonly count: number;
  /** Resolves when the time is up or stop() was called. */
  readonly done: Promise<void>;
  stop(): void;
}

/** Runs `perSecond` transactions a second for `seconds`, paced, one at a time. */
export function writeShop(pg: Client, opts: { perSecond: number; seconds: number; onError: (err: unknown) => void }): Generator {
  let stopped = false;
  let count = 0;
  let wake: (() => void) | undefined;
  const started = Date.now();
  const endAt = started + opts.seconds * 1000;
  const sleep = (ms: number) =>
    new Promise<void>((resolve) => {
      const t = setTimeout(resolve, ms);
      wake = () => {
        clearTimeout(t);
        resolve();
      };
    });
  const done = (async () => {
    while (!stopped && Date.now() < endAt) {
      try {
        await oneChange(pg);
        count++;
      } catch (err) {
        opts.onError(err);
        return;
      }
      // Paced against the start, so a slow transaction does not lower the rate.
      const due = started + (count * 1000) / opts.perSecond;
      if (due > Date.now()) await sleep(Math.min(due, endAt) - Date.now());
    }
  })();
  return {
    get count() {
      return count;
    },
    done,
    stop() {
      stopped = true;
      wake?.();
    },
  };
}
