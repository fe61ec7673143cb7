/**
 * The chaos table (issue 16): each fault production meets, injected `cycles` times into
 * a running CDC stream with writes going on, each cycle ending with MongoDB compared to
 * the source row by row. Built on the e2e helpers (test/helpers): the daemon, the
 * stack's servers, the orders table and its comparison.
 *
 * A cycle: writes for 1 s; the fault (writes go on through it unless it stops the
 * source, whose writer stops just before); the fault ends ("restored": the server is
 * back, the daemon restarted); writes for 1 s more; then the wait until MongoDB equals
 * the source. "Time to recover" runs from the restore to that equality.
 * "Lost" counts source rows missing in MongoDB or with other values there; "duplicated"
 * counts documents MongoDB has and the source does not (with documents keyed by the
 * primary key a replay cannot double a row: it would show as a row that should be gone).
 */
import type { RunningDaemon } from '../helpers/daemon';
import { startDaemon, tmpDataDir } from '../helpers/daemon';
import { compareOrders, createStream, E2E_ADMIN_KEY, mongoDb, openOrders, stackServer, streamStatus, transportEnv, uid, type OrdersDb, type SourceKind } from '../helpers/pipeline';
import { describe, isEqual, type Difference } from '../helpers/compare';
import { waitFor } from '../helpers/wait-for';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export interface ChaosContext {
  /** The daemon now running (a fault may replace it). */
  d: RunningDaemon;
  streamId: string;
  /** How long a server stays down. */
  downMs: number;
  /** SIGKILLs the daemon and starts another on the same data dir. */
  killAndRestart(): Promise<void>;
}

export interface Fault {
  name: string;
  source: SourceKind;
  transport: 'direct' | 'kafka';
  /** The fault takes the source down: its writer stops just before. */
  stopsSource: boolean;
  /**
   * MongoDB catches up before the fault: with the stack's FerretDB on the same PostgreSQL,
   * a sink write in flight would wait out the outage and hide the source's failure until
   * PostgreSQL is back, so the stream would never be seen in its back-off.
   */
  settleFirst?: boolean;
  /** Injects the fault and ends it; resolves when it is over (the restore). */
  inject(ctx: ChaosContext): Promise<void>;
}

/** The stream waits in its retry back-off (retrying in its status). */
const retrying = (ctx: ChaosContext, message: string) =>
  waitFor(async () => (await ctx.d.api(`/api/v1/streams/${ctx.streamId}`)).body?.retrying, { timeoutMs: 60000, intervalMs: 100, message });

async function down(server: 'postgres' | 'mariadb' | 'ferretdb' | 'kafka', ms: number, meanwhile?: () => Promise<void>): Promise<void> {
  stackServer('down', server);
  try {
    const until = Date.now() + ms;
    await meanwhile?.();
    await sleep(Math.max(0, until - Date.now()));
  } finally {
    stackServer('up', server);
  }
}

export const FAULTS: Fault[] = [
  { name: 'PostgreSQL restarted under CDC', source: 'postgresql', transport: 'direct', stopsSource: true, inject: (c) => down('postgres', c.downMs) },
  { name: 'MariaDB restarted', source: 'mysql', transport: 'direct', stopsSource: true, inject: (c) => down('mariadb', c.downMs) },
  { name: 'FerretDB down', source: 'postgresql', transport: 'direct', stopsSource: false, inject: (c) => down('ferretdb', c.downMs) },
  { name: 'Kafka restarted', source: 'postgresql', transport: 'kafka', stopsSource: false, inject: (c) => down('kafka', c.downMs) },
  { name: 'daemon SIGKILLed', source: 'postgresql', transport: 'direct', stopsSource: false, inject: (c) => c.killAndRestart() },
  {
    name: 'daemon SIGKILLed in a retry back-off',
    source: 'postgresql',
    transport: 'direct',
    stopsSource: true,
    settleFirst: true,
    inject: (c) =>
      down('postgres', c.downMs, async () => {
        await retrying(c, 'in a retry back-off');
        await c.killAndRestart();
        await retrying(c, 'retrying again after the daemon restart');
      }),
  },
];

export interface ChaosRow {
  fault: string;
  cycles: number;
  /** Statements the writers committed (inserts, updates, deletes). */
  rowsWritten: number;
  lost: number;
  duplicated: number;
  /** Per cycle, restore → MongoDB equal to the source, in ms; null when it never got equal. */
  recoverMs: Array<number | null>;
  /** What still differed, when something did. */
  note?: string;
}

/**
 * `body` on a connection of its own, closed after: no connection of the test stays open
 * across a fault (a PostgreSQL connection the server drops emits an 'error' that would end the test).
 */
async function withOrders<T>(kind: SourceKind, body: (db: OrdersDb) => Promise<T>): Promise<T> {
  const db = await openOrders(kind);
  try {
    return await body(db);
  } finally {
    await db.end().catch(() => undefined);
  }
}

/** Writes for `ms` on a connection of its own; the count of statements committed. */
async function writeFor(kind: SourceKind, table: string, firstId: number, ms: number, during?: () => Promise<void>): Promise<number> {
  const db = await openOrders(kind);
  try {
    const w = db.writeContinuously(table, firstId);
    let failed: { error: unknown } | undefined;
    try {
      await sleep(ms);
      await during?.();
    } catch (error) {
      failed = { error };
    }
    // A writer whose server went away mid-statement counts nothing (only faults that keep the source run writes through).
    const n = await w.stop().catch(() => 0);
    if (failed) throw failed.error;
    return n;
  } finally {
    await db.end().catch(() => undefined);
  }
}

/** Compares on a fresh connection (a restarted source killed the old ones) until equal or `timeoutMs`. */
async function converge(kind: SourceKind, table: string, mongo: Awaited<ReturnType<typeof mongoDb>>, collection: string, timeoutMs: number): Promise<{ diff: Difference; at: number | null }> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const diff = (await withOrders(kind, (src) => compareOrders(src, table, mongo.db, collection)))!;
    if (isEqual(diff)) return { diff, at: Date.now() };
    if (Date.now() >= deadline) return { diff, at: null };
    await sleep(1000);
  }
}

/** Runs one fault `cycles` times against a stream of its own; everything is torn down after. */
export async function runFault(fault: Fault, opts: { cycles: number; downMs: number; rows?: number; convergeMs?: number }): Promise<ChaosRow> {
  const rows = opts.rows ?? 500;
  const name = `chaos_${uid()}`;
  const table = (await withOrders(fault.source, async (src) => {
    const t = src.table(name);
    await src.create(t, rows);
    return t;
  }))!;
  const mongo = await mongoDb(name);
  const dataDir = tmpDataDir('sluice-chaos-');
  const env = transportEnv(fault.transport);
  const row: ChaosRow = { fault: fault.name, cycles: opts.cycles, rowsWritten: 0, lost: 0, duplicated: 0, recoverMs: [] };
  let d: RunningDaemon | undefined;
  let streamId: string | undefined;
  try {
    d = await startDaemon(dataDir, env, { adminKey: E2E_ADMIN_KEY });
    ({ streamId } = await createStream(d, {
      name,
      mongoDb: name,
      tables: [table],
      transport: fault.transport,
      sourceKind: fault.source,
      // A short back-off cap keeps the time to recover about the fault, not the wait.
      options: { heartbeatIntervalMs: 1000, retry: { maxBackoffMs: 4000 } },
    }));
    const id = streamId;
    if ((await d.api(`/api/v1/streams/${id}/start`, { method: 'POST' })).status !== 202) throw new Error('the stream did not start');
    const daemon = (): RunningDaemon => d!;
    await waitFor(async () => (await streamStatus(daemon(), id)).cdcStatus === 'RUNNING', { timeoutMs: 120000, intervalMs: 200, message: 'CDC running' });
    const ctx: ChaosContext = {
      get d() {
        return daemon();
      },
      streamId: id,
      downMs: opts.downMs,
      async killAndRestart() {
        const old = daemon();
        old.proc.kill('SIGKILL');
        await old.exited;
        d = await startDaemon(dataDir, env, { adminKey: E2E_ADMIN_KEY });
      },
    };
    for (let cycle = 0; cycle < opts.cycles; cycle++) {
      const base = rows + 1 + cycle * 1_000_000;
      let restoredAt = 0;
      const inject = async (): Promise<void> => {
        await fault.inject(ctx);
        restoredAt = Date.now();
      };
      if (fault.stopsSource) {
        row.rowsWritten += await writeFor(fault.source, table, base, 1000);
        if (fault.settleFirst && (await converge(fault.source, table, mongo, name, 60000)).at === null) throw new Error('MongoDB did not catch up before the fault');
        await inject();
      } else {
        row.rowsWritten += await writeFor(fault.source, table, base, 1000, inject);
      }
      row.rowsWritten += await writeFor(fault.source, table, base + 500_000, 1000);
      const { diff, at } = await converge(fault.source, table, mongo, name, opts.convergeMs ?? 240000);
      row.recoverMs.push(at === null ? null : at - restoredAt);
      if (at === null) {
        row.lost += diff.missing.length + diff.different.length;
        row.duplicated += diff.extra.length;
        row.note = describe(diff);
        break;
      }
    }
    const s = await streamStatus(daemon(), id);
    if (s.cdcStatus !== 'RUNNING') row.note = `${row.note ? `${row.note}; ` : ''}stream ${s.state} ${JSON.stringify(s.failureError)}`;
    return row;
  } finally {
    if (d && streamId) {
      // Deleting the stream drops its PostgreSQL slot.
      await d.api(`/api/v1/streams/${streamId}/stop`, { method: 'POST' }).catch(() => undefined);
      await d.api(`/api/v1/streams/${streamId}`, { method: 'DELETE' }).catch(() => undefined);
    }
    await d?.stop('SIGTERM');
    await mongo.db.dropDatabase().catch(() => undefined);
    await mongo.client.close();
    await withOrders(fault.source, (src) => src.exec(`DROP TABLE IF EXISTS ${table}`)).catch(() => undefined);
  }
}

const secs = (ms: number | null): string => (ms === null ? 'never' : `${(ms / 1000).toFixed(1)} s`);

/** The table as Markdown: one row per fault; time to recover as median and worst over the cycles. */
export function chaosTable(rows: ChaosRow[], meta: { cycles: number; downMs: number }): string {
  const lines = [
    `| fault | cycles | rows written | lost | duplicated | time to recover (median / worst) |`,
    `| --- | --- | --- | --- | --- | --- |`,
  ];
  for (const r of rows) {
    const ok = r.recoverMs.filter((x): x is number => x !== null).sort((a, b) => a - b);
    const median = ok.length ? ok[Math.floor((ok.length - 1) / 2)]! : null;
    const worst = r.recoverMs.includes(null) ? null : ok.at(-1) ?? null;
    lines.push(`| ${r.fault} | ${r.recoverMs.length}/${r.cycles} | ${r.rowsWritten} | ${r.lost} | ${r.duplicated} | ${secs(median)} / ${secs(worst)}${r.note ? ` (${r.note})` : ''} |`);
  }
  lines.push('', `servers down ${meta.downMs / 1000} s per cycle (SLUICE_CHAOS_DOWN_MS); ${meta.cycles} cycle(s) per fault (SLUICE_CHAOS_CYCLES).`);
  return lines.join('\n');
}
