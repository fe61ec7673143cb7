/**
 * The change stream: pgoutput over a replication connection, turned into
 * EventBatches, pulled by the run loop at its own pace.
 *
 * Acks: pg-logical-replication's own acknowledgement is off (`auto: false`) and so
 * is its timer (`timeoutSeconds: 0`): with the default timer it acks whatever LSN
 * it last saw, keepalives included, before anything is durable downstream. We
 * also do not call `service.acknowledge()`: it reports `lsn + 1`, and confirming a
 * commit's end LSN + 1 (or a keepalive's + 1) can skip, after a reconnect, a
 * transaction whose COMMIT record starts exactly at that LSN. We write the standby
 * status update ourselves with the exact LSN the run loop acknowledged, so the
 * slot's confirmed_flush_lsn is never past what is durable.
 *
 * Back-pressure: the service emits messages as the socket delivers them; we queue
 * them and pause the underlying socket (`service._connection.stream`, a
 * net.Socket that pg's Connection reads) once the queue holds HIGH_WATER
 * messages, and resume it when the consumer has drained it below LOW_WATER. TCP
 * flow control then holds the walsender, so memory stays flat however large the
 * transaction. Status updates are still written while paused, so the walsender's
 * wal_sender_timeout does not fire on a slow consumer.
 */
import { LogicalReplicationService, PgoutputPlugin, type Pgoutput } from 'pg-logical-replication';
import type { Client, ClientConfig } from 'pg';
import type { Logger } from 'pino';
import { keyOf, sameKey, type ChangeEvent, type ConnectorContext, type EventBatch, type Row, type TableRef, type TableSchema } from '../../src/core';
import { SluiceError } from '../../src/errors';
import { ChangeQueue } from '../../src/source-kit/change-queue';
import { buildSchema, type ColumnMeta, type TableMeta, type TypeCatalog } from './catalog';
import { decodeRow, sourceInfo } from './rows';
import { toSourceError } from './pg-errors';

export interface ReplicationOptions {
  config: ClientConfig;
  slot: string;
  publication: string;
  tables: TableMeta[];
  types: TypeCatalog;
  /** A plain connection for catalog look-ups when a Relation message arrives. */
  meta: Client;
  name: string;
  db: string;
  logger: Logger;
  /** Job updates for the operator (ConnectorContext.report). */
  report?: ConnectorContext['report'];
  heartbeatIntervalMs: number;
  maxBatch: number;
}

type Item =
  | { kind: 'msg'; lsn: string; msg: Pgoutput.Message }
  | { kind: 'keepalive'; lsn: string }
  | { kind: 'error'; error: unknown }
  | { kind: 'end' };

export const lsnToBig = (lsn: string): bigint => {
  const [hi, lo] = lsn.split('/');
  return (BigInt(`0x${hi}`) << 32n) | BigInt(`0x${lo}`);
};
export const bigToLsn = (v: bigint): string => `${(v >> 32n).toString(16).toUpperCase()}/${(v & 0xffffffffn).toString(16).toUpperCase()}`;

/** pgoutput with every column left as text: types.ts converts, for both paths alike. */
class TextPgoutputPlugin extends PgoutputPlugin {
  override parse(buffer: Buffer): Pgoutput.Message {
    const msg = super.parse(buffer) as Pgoutput.Message;
    if (msg.tag === 'relation') for (const c of msg.columns) c.parser = (raw: unknown) => raw;
    return msg;
  }
}

interface RelationState {
  ref: TableRef;
  columns: Array<Pick<ColumnMeta, 'name' | 'typeOid'>>;
  schema: TableSchema;
  signature: string;
}

export class ReplicationStream {
  static readonly HIGH_WATER = 5000;
  static readonly LOW_WATER = 1000;
  readonly #opts: ReplicationOptions;
  readonly #service: LogicalReplicationService;
  readonly #queue = new ChangeQueue<Item>({
    high: ReplicationStream.HIGH_WATER,
    low: ReplicationStream.LOW_WATER,
    pause: () => this.#socket?.pause(),
    resume: () => this.#socket?.resume(),
  });
  readonly #relations = new Map<number, RelationState>();
  #closed = false;
  #acked = 0n;
  #timer: NodeJS.Timeout | null = null;

  constructor(opts: ReplicationOptions) {
    this.#opts = opts;
    this.#service = new LogicalReplicationService(opts.config, { acknowledge: { auto: false, timeoutSeconds: 0 } });
    this.#service.on('data', (lsn: string, msg: Pgoutput.Message) => this.#queue.push({ kind: 'msg', lsn, msg }));
    this.#service.on('heartbeat', (lsn: string, _ts: number, shouldRespond: boolean) => {
      this.#queue.push({ kind: 'keepalive', lsn });
      if (shouldRespond) this.#sendStatus(false);
    });
    this.#service.on('error', (error: Error) => this.#queue.push({ kind: 'error', error }));
  }

  /** The socket pg's Connection reads; pausing it stops the walsender through TCP flow control. */
  get #socket(): { pause(): void; resume(): void } | undefined {
    return (this.#service as unknown as { _connection?: { stream?: { pause(): void; resume(): void } } })._connection?.stream;
  }

  /** Queue depth and whether the socket is paused (for tests and metrics). */
  get backlog(): { queued: number; paused: boolean } {
    return this.#queue.backlog;
  }

  /** Standby status update with the exact acked LSN as written/flushed/applied. */
  #sendStatus(ping: boolean): void {
    const conn = (this.#service as unknown as { _connection?: { sendCopyFromChunk(b: Buffer): void } })._connection;
    if (!conn || this.#closed || this.#acked === 0n) return;
    const buf = Buffer.alloc(34);
    buf[0] = 0x72; // 'r'
    buf.writeBigUInt64BE(this.#acked, 1);
    buf.writeBigUInt64BE(this.#acked, 9);
    buf.writeBigUInt64BE(this.#acked, 17);
    buf.writeBigInt64BE(BigInt(Date.now() - 946_684_800_000) * 1000n, 25);
    buf[33] = ping ? 1 : 0;
    conn.sendCopyFromChunk(buf);
  }

  /** Everything up to `lsn` is durable downstream. */
  ack(lsn: string): void {
    if (this.#closed) throw new SluiceError('SOURCE_READ_FAILED', 'ack after the replication connection was closed', { slot: this.#opts.slot, position: lsn });
    const v = lsnToBig(lsn);
    if (v > this.#acked) this.#acked = v;
    this.#sendStatus(false);
  }

  async close(): Promise<void> {
    this.#closed = true;
    if (this.#timer) clearInterval(this.#timer);
    this.#queue.close();
    await this.#service.destroy().catch(() => undefined);
  }

  /** Starts replication at `fromLsn` (the slot's confirmed_flush_lsn when resuming fresh) and yields batches. */
  async *batches(fromLsn: string, signal: AbortSignal): AsyncGenerator<EventBatch> {
    const o = this.#opts;
    this.#acked = lsnToBig(fromLsn);
    const plugin = new TextPgoutputPlugin({ protoVersion: 1, publicationNames: [o.publication] });
    this.#service
      .subscribe(plugin, o.slot, fromLsn)
      .then(() => this.#queue.push({ kind: 'end' }))
      .catch((error: unknown) => this.#queue.push({ kind: 'error', error }));
    // Each tick is a status update that asks for a reply: it keeps the walsender's
    // timeout satisfied while we are paused, and the reply (a keepalive with the
    // server's sent position) drives heartbeats when no captured table changes.
    this.#timer = setInterval(() => this.#sendStatus(true), Math.max(50, Math.min(o.heartbeatIntervalMs, 10_000)));

    let events: ChangeEvent[] = [];
    let commitLsn: string | null = null;
    let tx: { xid: number; ts: number } | null = null;
    let lastPosition = this.#acked;
    let lastYield = Date.now();
    /** Hands over the events held, positioned at the last commit among them (none: null). */
    const cut = (): EventBatch => {
      const batch: EventBatch = { events, position: commitLsn ? { lsn: commitLsn } : null };
      if (commitLsn) lastPosition = lsnToBig(commitLsn);
      events = [];
      commitLsn = null;
      lastYield = Date.now();
      return batch;
    };
    for (;;) {
      const item = (await this.#queue.take(signal)) ?? { kind: 'end' };
      o.logger.trace({ kind: item.kind, tag: item.kind === 'msg' ? item.msg.tag : undefined }, 'replication item');
      if (item.kind === 'end') return;
      if (item.kind === 'error') throw toSourceError(item.error, 'reading the replication stream', { slot: o.slot });
      if (item.kind === 'keepalive') {
        const lsn = lsnToBig(item.lsn);
        // Everything before a keepalive was sent before it, and we hold no open
        // transaction: the slot may skip ahead to it (WAL of other tables).
        if (!tx && events.length === 0 && lsn > lastPosition && Date.now() - lastYield >= o.heartbeatIntervalMs) {
          // Idle: a table dropped or renamed meanwhile sends nothing at all, so ask the catalog.
          await this.#checkTablesHeld();
          lastPosition = lsn;
          lastYield = Date.now();
          commitLsn = null; // an empty transaction's commit, if any, lies before the keepalive
          yield { events: [], position: { lsn: item.lsn } };
          continue;
        }
      } else {
        const msg = item.msg;
        switch (msg.tag) {
          case 'begin':
            tx = { xid: msg.xid, ts: Number((msg.commitTime as bigint) / 1000n) };
            break;
          case 'commit':
            tx = null;
            commitLsn = msg.commitEndLsn ? bigToLsn(lsnToBig(msg.commitEndLsn)) : null;
            break;
          case 'relation':
            await this.#onRelation(msg);
            break;
          case 'insert':
          case 'update':
          case 'delete':
            if (events.length >= o.maxBatch) {
              // Full, and the transaction goes on: hand over what we hold (its position
              // covers only transactions that committed inside it, if any).
              yield cut();
            }
            events.push(...this.#toEvents(msg, item.lsn, tx));
            break;
          case 'truncate':
            // Documented choice: TRUNCATE is not turned into deletes (the sink would need
            // every key); the operator is told and can re-snapshot the table.
            {
              const tables = msg.relations.map((r) => `${r.schema}.${r.name}`);
              const message = `TRUNCATE of ${tables.join(', ')} is not replicated: MongoDB keeps the documents`;
              o.logger.warn({ tables, lsn: item.lsn }, message);
              o.report?.({ level: 'WARNING', stage: 'CDC', message, suggestion: 'Re-snapshot the table (or drop its collection) to bring MongoDB back in line.' });
            }
            break;
          default:
            break;
        }
      }
      // Cut a batch when a transaction ended and nothing more is ready, or when it is
      // full at a commit (small transactions arriving together share one batch). A
      // batch full mid-transaction is cut when the next change arrives (above), so the
      // batch holding a transaction's last change also holds its COMMIT position.
      const idle = this.#queue.items.every((q) => q.kind === 'keepalive');
      if (commitLsn && (idle || events.length >= o.maxBatch)) {
        if (events.length === 0 && commitLsn && Date.now() - lastYield < o.heartbeatIntervalMs) {
          // An empty transaction: not worth a batch of its own, the next one covers it.
          continue;
        }
        yield cut();
      }
    }
  }

  /**
   * Every table the stream reads still exists under its name, or SOURCE_TABLE_GONE: a
   * dropped table sends nothing more, and a renamed one would go on under a name the
   * stream does not know.
   */
  async #checkTablesHeld(): Promise<void> {
    const o = this.#opts;
    const oids = o.tables.map((t) => t.oid).filter((oid): oid is number => typeof oid === 'number');
    if (oids.length === 0) return;
    const { rows } = await o.meta.query(
      'SELECT c.oid::int AS oid, n.nspname AS schema, c.relname AS name FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE c.oid = ANY($1::oid[])',
      [oids],
    );
    const now = new Map((rows as Array<{ oid: number; schema: string; name: string }>).map((r) => [Number(r.oid), r]));
    for (const t of o.tables) {
      if (typeof t.oid !== 'number') continue;
      const r = now.get(t.oid);
      if (!r) throw tableGone(t.ref, 'was dropped');
      if (r.schema !== t.ref.schema || r.name !== t.ref.table) throw tableGone(t.ref, `was renamed to ${r.schema}.${r.name}`);
    }
  }

  async #onRelation(msg: Pgoutput.MessageRelation): Promise<void> {
    const o = this.#opts;
    const byOid = o.tables.find((t) => t.oid === msg.relationOid);
    if (byOid && (byOid.ref.schema !== msg.schema || byOid.ref.table !== msg.name)) throw tableGone(byOid.ref, `was renamed to ${msg.schema}.${msg.name}`);
    const meta = byOid ?? o.tables.find((t) => t.ref.schema === msg.schema && t.ref.table === msg.name);
    const ref = { schema: msg.schema, table: msg.name };
    const signature = JSON.stringify(msg.columns.map((c) => [c.name, c.typeOid, c.typeMod]));
    const prev = this.#relations.get(msg.relationOid);
    if (prev && prev.signature === signature) return; // same version: keep the shared schema object
    const key = meta?.key ?? msg.keyColumns;
    const missing = key.filter((k) => !msg.columns.some((c) => c.name === k));
    if (missing.length > 0) {
      throw new SluiceError('SOURCE_SCHEMA_CHANGED', `key column${missing.length > 1 ? 's' : ''} ${missing.join(', ')} of ${msg.schema}.${msg.name} no longer exist`, {
        table: `${msg.schema}.${msg.name}`,
        missing,
      });
    }
    await o.types.ensure(o.meta, msg.columns.map((c) => c.typeOid));
    // The catalog knows what pgoutput does not say (declared type text, NOT NULL).
    const { rows } = await o.meta.query(
      `SELECT a.attname, format_type(a.atttypid, a.atttypmod) AS source_type, a.attnotnull FROM pg_attribute a
        WHERE a.attrelid = $1 AND a.attnum > 0 AND NOT a.attisdropped`,
      [msg.relationOid],
    );
    const byName = new Map((rows as Array<{ attname: string; source_type: string; attnotnull: string }>).map((r) => [r.attname, r]));
    const columns: ColumnMeta[] = msg.columns.map((c) => ({
      name: c.name,
      typeOid: c.typeOid,
      typmod: c.typeMod,
      sourceType: byName.get(c.name)?.source_type ?? o.types.lookup(c.typeOid).name,
      notNull: byName.get(c.name)?.attnotnull === 't',
    }));
    const sameAsSnapshot = meta && JSON.stringify(meta.columns.map((c) => [c.name, c.typeOid, c.typmod])) === signature;
    this.#relations.set(msg.relationOid, {
      ref,
      columns,
      schema: sameAsSnapshot ? meta.schema : buildSchema(columns, key, o.types.lookup),
      signature,
    });
  }

  #toEvents(msg: Pgoutput.MessageInsert | Pgoutput.MessageUpdate | Pgoutput.MessageDelete, lsn: string, tx: { xid: number; ts: number } | null): ChangeEvent[] {
    const rel = this.#relations.get(msg.relation.relationOid);
    if (!rel) throw new SluiceError('SOURCE_READ_FAILED', `change for ${msg.relation.schema}.${msg.relation.name} before its Relation message`, {});
    const o = this.#opts;
    const name = `${rel.ref.schema}.${rel.ref.table}`;
    const decode = (tuple: Record<string, unknown>): Row => decodeRow(rel.columns, (n) => tuple[n] as string | null | undefined, o.types.lookup, name);
    const key = rel.schema.key;
    const ts = tx?.ts ?? Date.now();
    const event = (op: ChangeEvent['op'], k: Row, before: Row | null, after: Row | null): ChangeEvent => ({
      table: rel.ref,
      op,
      key: k,
      before,
      after,
      source: sourceInfo(o, rel.ref.schema, rel.ref.table, { lsn, txId: tx?.xid ?? null, ts_ms: ts, snapshot: false }),
      ts_ms: Date.now(),
      schema: rel.schema,
    });
    if (msg.tag === 'insert') {
      const after = decode(msg.new);
      return [event('c', keyOf(key, after), null, after)];
    }
    // Old key: the old row (REPLICA IDENTITY FULL) or the old identity tuple; only key
    // columns of the latter are meaningful.
    const old = msg.old ? decode(msg.old) : msg.key ? decode(msg.key) : null;
    const oldImage = msg.old ? old : old ? keyOf(key, old) : null;
    if (msg.tag === 'delete') {
      const k = keyOf(key, old ?? {});
      return [event('d', k, oldImage ?? k, null)];
    }
    const after = decode(msg.new);
    const newKey = keyOf(key, after);
    if (old && !sameKey(old, after, key)) {
      // A key change is a different document: remove the old, create the new.
      const oldKey = keyOf(key, old);
      return [event('d', oldKey, oldImage, null), event('c', newKey, null, after)];
    }
    return [event('u', newKey, msg.old ? old : null, after)];
  }
}

function tableGone(ref: TableRef, what: string): SluiceError {
  return new SluiceError('SOURCE_TABLE_GONE', `the source table ${ref.schema}.${ref.table} ${what} while the stream read it`, { table: `${ref.schema}.${ref.table}` });
}
