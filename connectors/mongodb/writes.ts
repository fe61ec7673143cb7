/**
 * The sink's writes: one ordered, idempotent bulkWrite per collection per batch (replace,
 * $set/$unset, delete by `_id` or by the key field), resolved only once the server
 * acknowledged it with the write concern; inserts of documents that most likely do not
 * exist yet go first as one unordered insertMany; indexes the `_id` strategy needs; and
 * reads by `$in` for embedding. A record the server can never take fails the batch with
 * SINK_RECORD_REJECTED naming the collection, the key and the event's index.
 */
import { MongoBulkWriteError, type AnyBulkWriteOperation, type Document, type WriteConcernSettings } from 'mongodb';
import { RUN_EVENTS, type ConnectorContext, type EventBatch, type StreamSpec } from '../../src/core';
import { SluiceError } from '../../src/errors';
import { keyForDetail } from './bson';
import type { Connected, SinkConnection } from './connection';
import type { StagingDoc } from './embedding';
import { AttemptTimeoutError } from './failures';
import { bulkOperations, splitInserts, type CollectionPlan, type PlannedWrite } from './plan';

/** Reads staging back with every number as the BSON type it was written as (no Long → double rounding). */
const EXACT = { promoteValues: false, promoteLongs: false } as const;
/** Keys per `$in` query. */
const IN_CHUNK = 500;
/** A batch of inserts is split in two concurrent commands from twice this many documents. */
const INSERT_PART_MIN = 500;

export class DocumentWriter {
  readonly #conn: SinkConnection;
  readonly #stream: Pick<StreamSpec, 'id'>;
  /** Collections whose indexes were created by this sink. */
  readonly #indexed = new Set<string>();

  constructor(conn: SinkConnection, stream: Pick<StreamSpec, 'id'>) {
    this.#conn = conn;
    this.#stream = stream;
  }

  get #database(): string {
    return this.#conn.database;
  }

  async writePlans(plans: CollectionPlan[], batch: EventBatch, connected: Connected, writeConcern: WriteConcernSettings, ctx: ConnectorContext): Promise<void> {
    // Collections one after the other: order matters only per key, and one collection
    // failing must leave the later ones unwritten rather than half-known.
    for (const plan of plans) {
      await this.#ensureIndexes(plan, ctx);
      const { inserts, rest } = splitInserts(plan.writes, (i) => batch.events[i]?.op);
      const retried = inserts.length > 0 ? await this.#insertFirst(plan.collection, inserts, connected, writeConcern, ctx) : [];
      await this.bulk(plan.collection, [...retried, ...rest], connected, writeConcern, batch, ctx);
    }
  }

  /**
   * Inserts documents that most likely do not exist yet, unordered. Returns the writes
   * that must go through the upsert path instead: those that hit a duplicate key (a replay),
   * or all of them when the insert failed in any other way, so that a real failure is
   * retried or reported there, per record, exactly as for any other write.
   */
  async #insertFirst(
    collection: string,
    writes: PlannedWrite[],
    connected: Connected,
    writeConcern: WriteConcernSettings,
    ctx: ConnectorContext,
  ): Promise<PlannedWrite[]> {
    const coll = connected.client.db(this.#database).collection(collection);
    const insert = async (part: PlannedWrite[]): Promise<PlannedWrite[]> => {
      const docs: Document[] = part.map((w) => ({ _id: w.id, ...w.fields }));
      try {
        await this.#conn.attempt(coll.insertMany(docs, { ordered: false, writeConcern }), ctx.signal, `insert into ${collection}`);
        return [];
      } catch (err) {
        if (ctx.signal.aborted) throw err;
        if (err instanceof AttemptTimeoutError) {
          // Counted and logged here; the upsert path then retries these writes.
          ctx.count?.(RUN_EVENTS.MONGODB_ERROR);
          ctx.logger.warn({ collection: `${this.#database}.${collection}`, err: err.message, documents: part.length }, `mongodb insert into ${collection} timed out; retrying as upserts`);
        }
        if (!(err instanceof MongoBulkWriteError)) return part;
        const errors = Array.isArray(err.writeErrors) ? err.writeErrors : [err.writeErrors];
        // Any duplicate key (FerretDB's message does not name the index): the upsert path
        // replaces on _id, and a clash on some other unique index fails there, per record.
        if (errors.length === 0 || !errors.every((e) => e.code === 11000)) return part;
        ctx.logger.debug({ collection, existing: errors.length }, 'documents already present (replayed events): replacing them');
        return errors.map((e) => part[e.index]).filter((w): w is PlannedWrite => w !== undefined);
      }
    };
    // The insert is unordered, so its parts may run at once: the server (FerretDB's
    // PostgreSQL backend especially) then works on two commands in parallel instead of
    // leaving a core idle. Only large batches (snapshot chunks) are split.
    const parts = writes.length >= 2 * INSERT_PART_MIN ? 2 : 1;
    const size = Math.ceil(writes.length / parts);
    const results = await Promise.all(Array.from({ length: parts }, (_, i) => insert(writes.slice(i * size, (i + 1) * size))));
    return results.flat();
  }

  /** Ordered bulkWrites of replace/set/delete, in commands of at most the server's limit. */
  async bulk(
    collection: string,
    planned: PlannedWrite[],
    connected: Connected,
    writeConcern: WriteConcernSettings,
    batch: EventBatch,
    ctx: ConnectorContext,
  ): Promise<void> {
    const { ops, writes } = bulkOperations(planned);
    if (ops.length === 0) return;
    const size = connected.info.maxOpsPerCommand ?? ops.length;
    for (let start = 0; start < ops.length; start += size) {
      const part: AnyBulkWriteOperation<Document>[] = ops.slice(start, start + size);
      await this.#conn.withRetry(
        `write to ${collection}`,
        ctx,
        ({ client }) => client.db(this.#database).collection(collection).bulkWrite(part, { ordered: true, writeConcern }),
        (err, c) => {
          const w = writes[start + (c.opIndex ?? 0)] ?? writes[start]!;
          const ev = batch.events[w.eventIndex];
          const tableName = `${w.table.schema}.${w.table.table}`;
          const key = keyForDetail(w.key);
          const detail = {
            stream: this.#stream.id,
            table: tableName,
            collection,
            key,
            eventIndex: w.eventIndex,
            op: ev?.op,
            cause: c.message,
            ...(c.code === undefined ? {} : { serverCode: c.code }),
            position: batch.position,
          };
          const where = `collection ${this.#database}.${collection}, key ${JSON.stringify(key)} (table ${tableName})`;
          return c.kind === 'rejected'
            ? new SluiceError('SINK_RECORD_REJECTED', `MongoDB rejected the record for ${where}: ${c.message}`, detail, { cause: err })
            : new SluiceError('SINK_WRITE_FAILED', `MongoDB refused the write to ${where}: ${c.message}`, detail, { cause: err });
        },
        collection,
      );
    }
  }

  /** objectId strategy: a unique index on the key field, created once per collection by this sink. */
  async #ensureIndexes(plan: CollectionPlan, ctx: ConnectorContext): Promise<void> {
    const filter = plan.writes.find((w) => w.noId)?.filter;
    const keyField = filter ? Object.keys(filter)[0] : undefined;
    if (keyField) await this.ensureIndex(plan.collection, keyField, true, ctx);
  }

  async ensureIndex(collection: string, field: string, unique: boolean, ctx: ConnectorContext): Promise<void> {
    const id = `${collection}\u0000${field}`;
    if (this.#indexed.has(id)) return;
    try {
      await this.#conn.withRetry(
        `index on ${collection}.${field}`,
        ctx,
        ({ client }) => client.db(this.#database).collection(collection).createIndex({ [field]: 1 }, { unique }),
        (err, c) => new SluiceError('SINK_WRITE_FAILED', `Could not create the index on ${this.#database}.${collection}.${field}: ${c.message}`, { stream: this.#stream.id, collection, cause: c.message }, { cause: err }),
        collection,
      );
    } catch (err) {
      // Writes stay correct without it (they match on the field either way), only slower.
      if (!(err instanceof SluiceError) || err.code !== 'SINK_WRITE_FAILED') throw err;
      ctx.logger.warn({ collection, field, err: err.message }, 'index not created; writes match on the field without it');
    }
    this.#indexed.add(id);
  }

  /** Finds documents by `field $in keys`, in chunks, with exact numbers. */
  async findIn(collection: string, field: string, keys: unknown[], ctx: ConnectorContext): Promise<StagingDoc[]> {
    const out: StagingDoc[] = [];
    for (let i = 0; i < keys.length; i += IN_CHUNK) {
      const part = keys.slice(i, i + IN_CHUNK);
      const docs = await this.#conn.withRetry(
        `read of ${collection}`,
        ctx,
        ({ client }) => client.db(this.#database).collection(collection).find({ [field]: { $in: part } }, EXACT).toArray(),
        (err, c) => new SluiceError('SINK_WRITE_FAILED', `Could not read ${this.#database}.${collection}: ${c.message}`, { stream: this.#stream.id, collection, cause: c.message }, { cause: err }),
        collection,
      );
      out.push(...(docs as unknown as StagingDoc[]));
    }
    return out;
  }
}
