/**
 * The MongoDB sink: one ordered, idempotent bulkWrite per collection per batch,
 * resolved only once the server acknowledged it with the configured write concern.
 * A server that is away delays the write (retried with backoff until the stream is
 * stopped); a record the server can never take fails the batch with a non-retriable
 * SluiceError naming the collection and the key.
 */
import type { Logger } from 'pino';
import { MongoBulkWriteError, type AnyBulkWriteOperation, type Document, type MongoClient, type WriteConcernSettings } from 'mongodb';
import { RUN_EVENTS, type ConnectionSpec, type ConnectorContext, type CreateArgs, type EventBatch, type PreviewConversion, type Sink, type StreamSpec, type TableRef, type PreparingSink, type DroppableSink, type MapOptions } from '../../src/core';
import { SluiceError } from '../../src/errors';
import { ConversionError, keyForDetail, toBson, type DecimalMode } from './bson';
import {
  buildEmbedded,
  childrenOf,
  documentKey,
  FieldConversionError,
  keyFieldOf,
  keyFilter,
  keyString,
  mapRow,
  mappedFieldNames,
  tableName,
  validateMapping,
  validateTableColumns,
  type ChildDoc,
  type MappingSpec,
} from '../../src/transform/mapping';
import { planChildChanges, planStaging, stagingCollection, withStreamLock, type StagingDoc, type TouchedParent } from './embedding';
import {
  guardedClient,
  databaseFromUrl,
  describeUrl,
  detectServer,
  effectiveDecimalMode,
  effectiveWriteConcern,
  parseOptions,
  serverLabel,
  type MongoSinkOptions,
  type ServerInfo,
} from './client';
import { AttemptTimeoutError, classify, type Classified } from './failures';
import { mongoStreamOptions } from './options';
import { bulkOperations, planBatch, PlanError, splitInserts, type CollectionPlan, type PlannedWrite, type RowMapper } from './plan';

/**
 * The stream's mapping spec, checked. A `{mappingId}` reference must have been resolved
 * into the rules before the run; one that reaches the sink is refused.
 */
export function sinkMapping(stream: Pick<StreamSpec, 'mapping' | 'tables'>): MappingSpec | null {
  const m = stream.mapping as Record<string, unknown> | undefined;
  if (!m) return null;
  if ('mappingId' in m && m.tables === undefined) {
    throw new SluiceError('MAPPING_INVALID', `mapping: the mapping ${String(m.mappingId)} was not resolved before the run`, { field: 'mapping.mappingId' });
  }
  const spec = validateMapping(m, stream.tables);
  return spec.tables && Object.keys(spec.tables).length > 0 ? spec : null;
}

/**
 * The options the mapping functions take, with this sink's conversion of canonical
 * values: what the mapping preview passes to previewDocuments to show what the sink
 * would write (decimals 'string' for FerretDB v1).
 */
export function mapOptionsFor(decimals: DecimalMode = 'decimal128', finiteDoublesOnly = false): MapOptions {
  const opts = { decimals, finiteDoublesOnly };
  return { decimals, convert: (v, field) => toBson(v, opts, field) };
}

/** The sink's message for a record it cannot convert (the mapping preview shows the same). */
export function rejectionMessage(database: string, collection: string, table: string, key: Record<string, unknown>, cause: string): string {
  return `Cannot convert the record for collection ${database}.${collection}, key ${JSON.stringify(key)} (table ${table}): ${cause}`;
}

/**
 * The conversion the sink would use on this connection, for the mapping preview: asks
 * the server what it is (buildInfo, hello; nothing is written) exactly as the sink does
 * on connect, so decimals (Decimal128, or their exact text on FerretDB v1) and
 * non-finite doubles come out as the sink would write them. SINK_UNREACHABLE when the
 * server does not answer; CONFIG_INVALID when the connection's options do not suit it.
 */
export async function previewConversion(connection: ConnectionSpec): Promise<PreviewConversion> {
  const { url } = connection;
  const database = databaseFromUrl(url);
  const options = parseOptions(connection.options);
  const client = await guardedClient(url, options);
  try {
    let info: ServerInfo;
    try {
      await client.connect();
      info = await detectServer(client);
    } catch (err) {
      throw new SluiceError('SINK_UNREACHABLE', `Cannot reach the MongoDB sink ${describeUrl(url)}: ${(err as Error).message}`, { url: describeUrl(url), cause: (err as Error).message }, { cause: err });
    }
    return {
      options: mapOptionsFor(effectiveDecimalMode(options, info), !info.nonFiniteDoubles),
      rejection: (err, { table, collection, key }) => {
        if (!(err instanceof ConversionError || err instanceof FieldConversionError)) return null;
        return { field: err.field, message: rejectionMessage(database, collection, tableName(table), keyForDetail(key), err.message) };
      },
    };
  } finally {
    await client.close().catch(() => undefined);
  }
}

/** The collection a table's own documents go to, or null when it writes none (embedded only). */
export function ownCollection(stream: Pick<StreamSpec, 'mapping'>, spec: MappingSpec | null, table: TableRef): string | null {
  if (spec?.tables?.[tableName(table)]?.newDocuments === false) return null;
  return collectionFor(stream, table);
}

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

/**
 * Runs `op`, but settles as soon as `signal` aborts (rejecting with its reason) or
 * `timeoutMs` passes without an answer (rejecting with an AttemptTimeoutError, which
 * is transient): the abandoned write may still land, and being idempotent, that is
 * harmless.
 */
function raceAttempt<T>(op: Promise<T>, signal: AbortSignal, timeoutMs: number, what: string): Promise<T> {
  if (signal.aborted) return Promise.reject(signal.reason);
  return new Promise<T>((resolve, reject) => {
    const settle = (): void => {
      clearTimeout(timer);
      signal.removeEventListener('abort', onAbort);
    };
    const onAbort = (): void => {
      settle();
      reject(signal.reason);
    };
    const timer = setTimeout(() => {
      settle();
      reject(new AttemptTimeoutError(what, timeoutMs));
    }, timeoutMs);
    signal.addEventListener('abort', onAbort, { once: true });
    op.then(
      (v) => {
        settle();
        resolve(v);
      },
      (e: unknown) => {
        settle();
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

/** Reads staging back with every number as the BSON type it was written as (no Long → double rounding). */
const EXACT = { promoteValues: false, promoteLongs: false } as const;
/** Keys per `$in` query. */
const IN_CHUNK = 500;

/** A batch of inserts is split in two concurrent commands from twice this many documents. */
const INSERT_PART_MIN = 500;

export class MongoSink implements PreparingSink, DroppableSink {
  readonly #url: string;
  readonly #database: string;
  readonly #stream: StreamSpec;
  readonly #options: MongoSinkOptions;
  readonly #logger: Logger;
  #connected: Promise<Connected> | null = null;
  #closed = false;
  /** The mapping rules (checked on first use; null: none). */
  #mapping: MappingSpec | null | undefined;
  /** Tables whose columns were checked against the mapping, and the field names each child table can produce. */
  readonly #checkedTables = new Set<string>();
  readonly #childFields = new Map<string, Set<string>>();
  /** Collections whose indexes were created by this sink. */
  readonly #indexed = new Set<string>();

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
      let client: MongoClient | undefined;
      this.#connected = (async () => {
        client = await guardedClient(this.#url, this.#options);
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
        void client?.close().catch(() => undefined);
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
    collection?: string,
  ): Promise<T> {
    const { signal, logger } = ctx;
    let last: unknown;
    for (let n = 1; ; n++) {
      if (signal.aborted) throw last ?? signal.reason;
      try {
        const result = await raceAttempt(
          this.#connect().then((c) => attempt(c)),
          signal,
          this.#options.writeTimeoutMs,
          what,
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
          logger.warn(
            { attempt: n, retryInMs: delay, err: c.message, code: c.code, ...(collection === undefined ? {} : { collection: `${this.#database}.${collection}` }) },
            `mongodb ${what} failed (attempt ${n}), retrying`,
          );
        }
        await abortableSleep(delay, signal);
      }
    }
  }

  async prepare(tables: TableRef[], ctx: ConnectorContext): Promise<void> {
    const spec = this.#spec();
    if (!mongoStreamOptions(this.#stream).dropCollections) return;
    const names = [
      ...new Set([
        ...tables.flatMap((t) => ownCollection(this.#stream, spec, t) ?? []),
        ...tables.filter((t) => spec?.tables?.[tableName(t)]?.embed).map((t) => stagingCollection(this.#stream.id, tableName(t))),
      ]),
    ];
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
        name,
      );
      ctx.logger.info({ collection: name }, 'dropped collection (dropCollections)');
    }
  }

  async write(batch: EventBatch, ctx: ConnectorContext): Promise<void> {
    if (batch.events.length === 0) return;
    const connected = await this.#withRetry('connect', ctx, async (c) => c, (err, c) => this.#connectFailed(err, c));
    const spec = this.#spec();
    if (spec) this.#checkColumns(batch, spec);
    const mapOpts = this.#mapOptions(connected);
    let plans: CollectionPlan[];
    try {
      plans = planBatch(batch.events, (t) => ownCollection(this.#stream, spec, t), {
        decimals: connected.decimals,
        finiteDoublesOnly: !connected.info.nonFiniteDoubles,
        maxDocumentBytes: connected.info.maxDocumentBytes,
        ...(spec ? { mapper: (t: TableRef) => this.#rowMapper(spec, t, mapOpts) } : {}),
      });
    } catch (err) {
      if (err instanceof PlanError) throw this.#rejected(err);
      throw err;
    }
    const writeConcern = effectiveWriteConcern(this.#options, connected.info);
    if (spec && Object.values(spec.tables!).some((tm) => tm.embed)) {
      await withStreamLock(this.#stream.id, () => this.#writeEmbedding(batch, plans, spec, connected, writeConcern, mapOpts, ctx));
      return;
    }
    await this.#writePlans(plans, batch, connected, writeConcern, ctx);
  }

  async #writePlans(plans: CollectionPlan[], batch: EventBatch, connected: Connected, writeConcern: WriteConcernSettings, ctx: ConnectorContext): Promise<void> {
    // Collections one after the other: order matters only per key, and one collection
    // failing must leave the later ones unwritten rather than half-known.
    for (const plan of plans) {
      await this.#ensureIndexes(plan, ctx);
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
        await raceAttempt(coll.insertMany(docs, { ordered: false, writeConcern }), ctx.signal, this.#options.writeTimeoutMs, `insert into ${collection}`);
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
        collection,
      );
    }
  }

  /** The mapping rules, checked once; a bad spec fails the run with MAPPING_INVALID. */
  #spec(): MappingSpec | null {
    if (this.#mapping === undefined) this.#mapping = sinkMapping(this.#stream);
    return this.#mapping;
  }

  /** Each mapped table's column names are checked against its schema when the sink first sees it. */
  #checkColumns(batch: EventBatch, spec: MappingSpec): void {
    for (const ev of batch.events) {
      const name = tableName(ev.table);
      if (!ev.schema || this.#checkedTables.has(name)) continue;
      validateTableColumns(spec, name, ev.schema);
      this.#checkedTables.add(name);
      if (spec.tables?.[name]?.embed) {
        const known = this.#childFields.get(name) ?? new Set<string>();
        for (const f of mappedFieldNames(spec.tables[name], ev.schema)) known.add(f);
        this.#childFields.set(name, known);
      }
    }
  }

  #mapOptions(connected: Connected): MapOptions {
    return mapOptionsFor(connected.decimals, !connected.info.nonFiniteDoubles);
  }

  #rowMapper(spec: MappingSpec, t: TableRef, opts: MapOptions): RowMapper | undefined {
    const tm = spec.tables?.[tableName(t)];
    if (!tm) return undefined;
    return { key: (key, columns) => documentKey(key, columns, tm, opts), row: (after) => mapRow(after, tm, opts), keyField: keyFieldOf(tm) };
  }

  /** objectId strategy: a unique index on the key field, created once per collection by this sink. */
  async #ensureIndexes(plan: CollectionPlan, ctx: ConnectorContext): Promise<void> {
    const filter = plan.writes.find((w) => w.noId)?.filter;
    const keyField = filter ? Object.keys(filter)[0] : undefined;
    if (keyField) await this.#ensureIndex(plan.collection, keyField, true, ctx);
  }

  async #ensureIndex(collection: string, field: string, unique: boolean, ctx: ConnectorContext): Promise<void> {
    const id = `${collection}\u0000${field}`;
    if (this.#indexed.has(id)) return;
    try {
      await this.#withRetry(
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
  async #findIn(collection: string, field: string, keys: unknown[], ctx: ConnectorContext): Promise<StagingDoc[]> {
    const out: StagingDoc[] = [];
    for (let i = 0; i < keys.length; i += IN_CHUNK) {
      const part = keys.slice(i, i + IN_CHUNK);
      const docs = await this.#withRetry(
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

  /** The children of these parents, per child table, grouped by parent keyString. */
  async #readChildren(spec: MappingSpec, parentTable: string, keys: unknown[], ctx: ConnectorContext): Promise<Map<string, Map<string, ChildDoc[]>>> {
    const out = new Map<string, Map<string, ChildDoc[]>>();
    for (const [child] of childrenOf(spec, parentTable)) {
      const groups = new Map<string, ChildDoc[]>();
      const staging = stagingCollection(this.#stream.id, child);
      for (const doc of await this.#findIn(staging, '_p', keys, ctx)) {
        if (doc._gone || doc._p === null || doc._p === undefined) continue;
        const k = keyString(doc._p);
        const list = groups.get(k) ?? [];
        list.push({ key: doc._id, doc: doc.d ?? {} });
        groups.set(k, list);
      }
      out.set(child, groups);
    }
    return out;
  }

  /** A parent's embedded fields, from its children in staging. */
  #embeddedFor(spec: MappingSpec, parentTable: string, key: unknown, children: Map<string, Map<string, ChildDoc[]>>): { set: Document; unset: string[] } {
    const set: Document = {};
    const unset: string[] = [];
    for (const [child, rule] of childrenOf(spec, parentTable)) {
      const built = buildEmbedded(rule, child, children.get(child)?.get(keyString(key)) ?? [], this.#childFields.get(child) ?? []);
      Object.assign(set, built.set);
      unset.push(...built.unset);
    }
    return { set, unset };
  }

  /**
   * A batch of a stream with embedding (see embedding.ts): children into staging, the
   * tables' own documents (parents with their embedded fields), the touched parents
   * refreshed, staging cleaned up. Runs under the stream's lock.
   */
  async #writeEmbedding(
    batch: EventBatch,
    plans: CollectionPlan[],
    spec: MappingSpec,
    connected: Connected,
    writeConcern: WriteConcernSettings,
    opts: MapOptions,
    ctx: ConnectorContext,
  ): Promise<void> {
    const tables = spec.tables!;
    const touched = new Map<string, Map<string, TouchedParent>>();
    const cleanups: [string, PlannedWrite[]][] = [];
    // 1. Children into staging.
    const byChild = new Map<string, { event: (typeof batch.events)[number]; eventIndex: number }[]>();
    batch.events.forEach((event, eventIndex) => {
      const name = tableName(event.table);
      if (!tables[name]?.embed) return;
      const list = byChild.get(name) ?? [];
      list.push({ event, eventIndex });
      byChild.set(name, list);
    });
    for (const [child, items] of byChild) {
      const rule = tables[child]!.embed!;
      const staging = stagingCollection(this.#stream.id, child);
      await this.#ensureIndex(staging, '_p', false, ctx);
      let changes;
      try {
        changes = planChildChanges(items, rule, tables[child], tables[rule.into], opts);
      } catch (err) {
        if (err instanceof PlanError) throw this.#rejected(err);
        throw err;
      }
      const old = await this.#findIn(staging, '_id', changes.map((c) => c.childKey), ctx);
      const plan = planStaging(changes, new Map(old.map((d) => [keyString(d._id), d])));
      const known = this.#childFields.get(child) ?? new Set<string>();
      for (const f of plan.oldFields) known.add(f);
      for (const c of changes) for (const f of Object.keys(c.doc)) known.add(f);
      this.#childFields.set(child, known);
      await this.#bulk(staging, plan.writes, connected, writeConcern, batch, ctx);
      const into = touched.get(rule.into) ?? new Map<string, TouchedParent>();
      for (const [k, p] of plan.touched) if (!into.has(k)) into.set(k, p);
      touched.set(rule.into, into);
      if (plan.cleanup.length > 0) cleanups.push([staging, plan.cleanup]);
    }
    // 2. Own documents; a parent's carry its embedded fields.
    for (const plan of plans) {
      const parentWrites = plan.writes.filter((w) => w.kind !== 'delete' && childrenOf(spec, tableName(w.table)).length > 0);
      for (const w of plan.writes) touched.get(tableName(w.table))?.delete(keyString(w.id));
      const byParent = new Map<string, PlannedWrite[]>();
      for (const w of parentWrites) {
        const list = byParent.get(tableName(w.table)) ?? [];
        list.push(w);
        byParent.set(tableName(w.table), list);
      }
      for (const [parentTable, writes] of byParent) {
        const children = await this.#readChildren(spec, parentTable, writes.map((w) => w.id), ctx);
        for (const w of writes) {
          const { set, unset } = this.#embeddedFor(spec, parentTable, w.id, children);
          w.fields = { ...w.fields, ...set };
          if (w.kind === 'set' && unset.length > 0) w.unset = [...(w.unset ?? []), ...unset];
        }
      }
    }
    await this.#writePlans(plans, batch, connected, writeConcern, ctx);
    // 3. Touched parents not written above: their embedded fields only, never creating them.
    for (const [parentTable, parents] of touched) {
      if (parents.size === 0) continue;
      const ptm = tables[parentTable];
      const [schema, table] = parentTable.split('.') as [string, string];
      const collection = ownCollection(this.#stream, spec, { schema, table })!;
      const list = [...parents.values()];
      const children = await this.#readChildren(spec, parentTable, list.map((p) => p.parentKey), ctx);
      const refresh: PlannedWrite[] = list.map((p) => {
        const { set, unset } = this.#embeddedFor(spec, parentTable, p.parentKey, children);
        return { kind: 'set', id: p.parentKey, fields: set, unset, filter: keyFilter(ptm, p.parentKey), noUpsert: true, eventIndex: p.eventIndex, table: p.table, key: p.key };
      });
      await this.#bulk(collection, refresh, connected, writeConcern, batch, ctx);
    }
    // 4. Staging cleanup, once every old parent was refreshed.
    for (const [staging, writes] of cleanups) await this.#bulk(staging, writes, connected, writeConcern, batch, ctx);
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
      rejectionMessage(this.#database, collection, table, key, err.conversion.message),
      { stream: this.#stream.id, table, collection, key, field: err.conversion.field, eventIndex: err.eventIndex, op: ev.op, cause: err.conversion.message },
      { cause: err.conversion },
    );
  }

  /** The stream's embedding staging collections go with the stream; its collections of documents stay. */
  async drop(opts: { check?: boolean } = {}): Promise<void> {
    const prefix = stagingCollection(this.#stream.id, '');
    let names: string[];
    let client: Connected['client'];
    try {
      ({ client } = await this.#connect());
      const all = await client.db(this.#database).listCollections({}, { nameOnly: true }).toArray();
      names = all.map((c) => c.name).filter((n) => n.startsWith(prefix));
    } catch (err) {
      throw this.#dropFailed(err, 'list the staging collections of');
    }
    if (opts.check) return;
    for (const name of names) {
      try {
        await client.db(this.#database).collection(name).drop();
      } catch (err) {
        // A collection that is not there is what we wanted (26 NamespaceNotFound).
        if ((err as { code?: unknown }).code === 26 || /ns not found|not found/i.test(String((err as Error).message))) continue;
        throw this.#dropFailed(err, `drop staging collection ${name} of`);
      }
      this.#logger.info({ collection: name }, 'dropped embedding staging collection (stream deleted)');
    }
  }

  #dropFailed(err: unknown, what: string): SluiceError {
    if (err instanceof SluiceError) return err;
    const c = classify(err);
    const code = c.kind === 'transient' ? 'SINK_UNREACHABLE' : 'SINK_WRITE_FAILED';
    return new SluiceError(code, `Could not ${what} stream ${this.#stream.id} in ${this.#database}: ${c.message}`, { stream: this.#stream.id, database: this.#database, cause: c.message }, { cause: err });
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
