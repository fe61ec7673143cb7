/**
 * The MongoDB sink: one ordered, idempotent bulkWrite per collection per batch,
 * resolved only once the server acknowledged it with the configured write concern.
 * A server that is away delays the write (retried with backoff until the stream is
 * stopped); a record the server can never take fails the batch with a non-retriable
 * SluiceError naming the collection and the key.
 */
import type { Logger } from 'pino';
import { MongoBulkWriteError, type AnyBulkWriteOperation, type Document, type MongoClient, type WriteConcernSettings } from 'mongodb';
import type { ConnectorContext, CreateArgs, EventBatch, Sink, StreamSpec, TableRef } from '../../src/runtime/connector';
import { SluiceError } from '../../src/errors';
import { RUN_EVENTS } from '../../src/runtime/connector';
import { keyForDetail, type DecimalMode } from './bson';
import {
  createClient,
  databaseFromUrl,
  detectServer,
  effectiveDecimalMode,
  effectiveWriteConcern,
  parseOptions,
  serverLabel,
  type MongoSinkOptions,
  type ServerInfo,
} from './client';
import { classify, type Classified } from './failures';
import { bulkOperations, planBatch, PlanError, splitInserts, type CollectionPlan, type PlannedWrite } from './plan';

/** The collection a table is written to: `mapping.tables['schema.table'].collection`, else the table name. */
export function collectionFor(stream: Pick<StreamSpec, 'mapping'>, table: TableRef): string {
  const tables = (stream.mapping as { tables?: unknown } | undefined)?.tables;
  if (tables && typeof tables === 'object') {
    const entry = (tables as Record<string, unknown>)[`${table.schema}.${table.table}`];
    const name = (entry as { collection?: unknown } | undefined)?.collection;
    if (typeof name === 'string' && name !== '') return name;
  }
  return table.table;
}

/** Backoff delay before attempt `attempt + 1` (attempt counts from 1). */
export function backoffDelay(attempt: number, retry: MongoSinkOptions['retry']): number {
  return Math.min(retry.maxDelayMs, retry.initialDelayMs * 2 ** Math.min(attempt - 1, 30));
}

/** Attempts worth a warning: the first few, then each power of two, so an outage of hours logs tens of lines. */
const worthLogging = (attempt: number): boolean => attempt <= 3 || (attempt & (attempt - 1)) === 0;

function abortableSleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted) return resolve();
    const done = (): void => {
      clearTimeout(timer);
      signal.removeEventListener('abort', done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal.addEventListener('abort', done, { once: true });
  });
}

/** Runs `op`, but settles as soon as `signal` aborts: the write may still land, and being idempotent, that is harmless. */
function raceAbort<T>(op: Promise<T>, signal: AbortSignal): Promise<T> {
  if (signal.aborted) return Promise.reject(signal.reason);
  return new Promise<T>((resolve, reject) => {
    const onAbort = (): void => reject(signal.reason);
    signal.addEventListener('abort', onAbort, { once: true });
    op.then(
      (v) => {
        signal.removeEventListener('abort', onAbort);
        resolve(v);
      },
      (e: unknown) => {
        signal.removeEventListener('abort', onAbort);
        reject(e);
      },
    );
  });
}

interface Connected {
  client: MongoClient;
  info: ServerInfo;
  decimals: DecimalMode;
}

/** A batch of inserts is split in two concurrent commands from twice this many documents. */
const INSERT_PART_MIN = 500;

export class MongoSink implements Sink {
  readonly #url: string;
  readonly #database: string;
  readonly #stream: StreamSpec;
  readonly #options: MongoSinkOptions;
  readonly #logger: Logger;
  #connected: Promise<Connected> | null = null;
  #closed = false;

  constructor(args: CreateArgs) {
    this.#url = args.connection.url;
    this.#database = databaseFromUrl(args.connection.url);
    this.#stream = args.stream;
    this.#options = parseOptions(args.connection.options);
    this.#logger = args.logger;
  }

  /** Connects on first use and reuses the client; a failed connect is retried from scratch next time. */
  #connect(): Promise<Connected> {
    if (this.#closed) return Promise.reject(new SluiceError('SINK_UNREACHABLE', 'The MongoDB sink is closed.', { stream: this.#stream.id }));
    if (!this.#connected) {
      const client = createClient(this.#url, this.#options);
      this.#connected = (async () => {
        await client.connect();
        const info = await detectServer(client);
        const decimals = effectiveDecimalMode(this.#options, info);
        this.#logger.info({ server: serverLabel(info), replicaSet: info.replicaSet, decimals, database: this.#database }, 'mongodb sink connected');
        if (decimals === 'string' && this.#options.decimals === 'auto') {
          this.#logger.warn({ server: serverLabel(info) }, 'server has no Decimal128: decimals are stored as their exact text (strings)');
        }
        return { client, info, decimals };
      })();
      this.#connected.catch(() => {
        this.#connected = null;
        void client.close().catch(() => undefined);
      });
    }
    return this.#connected;
  }

  /**
   * Runs `attempt` until it succeeds, retrying transient failures with exponential
   * backoff for as long as it takes; stops when `signal` aborts, rejecting with the
   * last error. Permanent failures are handed to `permanent` to become SluiceErrors.
   */
  async #withRetry<T>(
    what: string,
    ctx: Pick<ConnectorContext, 'signal' | 'logger' | 'count'>,
    attempt: (c: Connected) => Promise<T>,
    permanent: (err: unknown, c: Classified) => Error,
  ): Promise<T> {
    const { signal, logger } = ctx;
    let last: unknown;
    for (let n = 1; ; n++) {
      if (signal.aborted) throw last ?? signal.reason;
      try {
        const result = await raceAbort(
          this.#connect().then((c) => attempt(c)),
          signal,
        );
        if (n > 1) logger.info({ attempts: n }, `mongodb ${what} succeeded after ${n} attempts`);
        return result;
      } catch (err) {
        if (signal.aborted) throw last ?? err;
        if (err instanceof SluiceError) throw err;
        ctx.count?.(RUN_EVENTS.MONGODB_ERROR);
        const c = classify(err);
        if (c.kind !== 'transient') throw permanent(err, c);
        last = err;
        const delay = backoffDelay(n, this.#options.retry);
        if (worthLogging(n)) {
          logger.warn({ attempt: n, retryInMs: delay, err: c.message, code: c.code }, `mongodb ${what} failed (attempt ${n}), retrying`);
        }
        await abortableSleep(delay, signal);
      }
    }
  }

  async prepare(tables: TableRef[], ctx: ConnectorContext): Promise<void> {
    if (this.#stream.options.dropCollections !== true) return;
    const names = [...new Set(tables.map((t) => collectionFor(this.#stream, t)))];
    for (const name of names) {
      await this.#withRetry(
        `drop of ${name}`,
        ctx,
        async ({ client }) => {
          try {
            await client.db(this.#database).collection(name).drop();
          } catch (err) {
            // A collection that is not there is what we wanted (26 NamespaceNotFound).
            if ((err as { code?: unknown }).code === 26 || /ns not found|not found/i.test(String((err as Error).message))) return;
            throw err;
          }
        },
        (err, c) =>
          new SluiceError('SINK_WRITE_FAILED', `Could not drop collection ${this.#database}.${name}: ${c.message}`, { stream: this.#stream.id, collection: name, cause: c.message }, { cause: err }),
      );
      ctx.logger.info({ collection: name }, 'dropped collection (dropCollections)');
    }
  }

  async write(batch: EventBatch, ctx: ConnectorContext): Promise<void> {
    if (batch.events.length === 0) return;
    const connected = await this.#withRetry('connect', ctx, async (c) => c, (err, c) => this.#connectFailed(err, c));
    let plans: CollectionPlan[];
    try {
      plans = planBatch(batch.events, (t) => collectionFor(this.#stream, t), {
        decimals: connected.decimals,
        finiteDoublesOnly: !connected.info.nonFiniteDoubles,
        maxDocumentBytes: connected.info.maxDocumentBytes,
      });
    } catch (err) {
      if (err instanceof PlanError) throw this.#rejected(err);
      throw err;
    }
    const writeConcern = effectiveWriteConcern(this.#options, connected.info);
    // Collections one after the other: order matters only per key, and one collection
    // failing must leave the later ones unwritten rather than half-known.
    for (const plan of plans) {
      const { inserts, rest } = splitInserts(plan.writes, (i) => batch.events[i]?.op);
      const retried = inserts.length > 0 ? await this.#insertFirst(plan.collection, inserts, connected, writeConcern, ctx) : [];
      await this.#bulk(plan.collection, [...retried, ...rest], connected, writeConcern, batch, ctx);
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
        await raceAbort(coll.insertMany(docs, { ordered: false, writeConcern }), ctx.signal);
        return [];
      } catch (err) {
        if (ctx.signal.aborted) throw err;
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
  async #bulk(
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
      await this.#withRetry(
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
      );
    }
  }

  #connectFailed(err: unknown, c: Classified): SluiceError {
    return new SluiceError('SINK_WRITE_FAILED', `Cannot use the MongoDB server: ${c.message}`, { stream: this.#stream.id, cause: c.message }, { cause: err });
  }

  #rejected(err: PlanError): SluiceError {
    const ev = err.event;
    const key = keyForDetail(ev.key);
    const collection = collectionFor(this.#stream, ev.table);
    const table = `${ev.table.schema}.${ev.table.table}`;
    return new SluiceError(
      'SINK_RECORD_REJECTED',
      `Cannot convert the record for collection ${this.#database}.${collection}, key ${JSON.stringify(key)} (table ${table}): ${err.conversion.message}`,
      { stream: this.#stream.id, table, collection, key, field: err.conversion.field, eventIndex: err.eventIndex, op: ev.op, cause: err.conversion.message },
      { cause: err.conversion },
    );
  }

  async close(): Promise<void> {
    this.#closed = true;
    const pending = this.#connected;
    this.#connected = null;
    if (!pending) return;
    try {
      const { client } = await pending;
      await client.close();
    } catch {
      // never connected: nothing to close
    }
  }
}

export function createMongoSink(args: CreateArgs): Sink {
  return new MongoSink(args);
}
