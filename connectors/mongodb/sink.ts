/**
 * The MongoDB sink: maps each row to its document with the stream's mapping rules
 * (targets.ts, plan.ts) and writes one ordered, idempotent bulkWrite per collection per
 * batch (writes.ts), resolved only once the server acknowledged it with the configured
 * write concern. A server that is away delays the write (connection.ts: retried with
 * backoff until the stream is stopped); a record the server can never take fails the
 * batch with a non-retriable SluiceError naming the collection and the key. Embedding
 * writes go through embed-writes.ts; drops through drops.ts.
 */
import type { Logger } from 'pino';
import type { ConnectorContext, CreateArgs, EventBatch, MapOptions, Sink, StreamSpec, TableRef, PreparingSink, DroppableSink } from '../../src/core';
import { SluiceError } from '../../src/errors';
import { keyForDetail } from './bson';
import { documentKey, keyFieldOf, mapRow, mappedFieldNames, tableName, validateTableColumns, type MappingSpec } from '../../src/transform/mapping';
import { stagingCollection, withStreamLock } from './embedding';
import { databaseFromUrl, effectiveWriteConcern, parseOptions } from './client';
import type { Classified } from './failures';
import { planBatch, PlanError, type CollectionPlan, type RowMapper } from './plan';
import { SinkConnection, type Connected } from './connection';
import { DocumentWriter } from './writes';
import { EmbeddingWriter } from './embed-writes';
import { dropCollections, dropStaging } from './drops';
import { mongoStreamOptions } from './options';
import { collectionFor, mapOptionsFor, ownCollection, rejectionMessage, sinkMapping } from './targets';

export class MongoSink implements PreparingSink, DroppableSink {
  readonly #stream: StreamSpec;
  readonly #logger: Logger;
  readonly #conn: SinkConnection;
  readonly #writer: DocumentWriter;
  readonly #embedding: EmbeddingWriter;
  /** The mapping rules (checked on first use; null: none). */
  #mapping: MappingSpec | null | undefined;
  /** Tables whose columns were checked against the mapping, and the field names each child table can produce. */
  readonly #checkedTables = new Set<string>();
  readonly #childFields = new Map<string, Set<string>>();

  constructor(args: CreateArgs) {
    this.#stream = args.stream;
    this.#logger = args.logger;
    this.#conn = new SinkConnection(args.connection.url, databaseFromUrl(args.connection.url), parseOptions(args.connection.options), args.stream, args.logger);
    this.#writer = new DocumentWriter(this.#conn, args.stream);
    this.#embedding = new EmbeddingWriter(this.#writer, args.stream, this.#childFields, (err) => this.#rejected(err));
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
    await dropCollections(this.#conn, this.#stream, names, ctx);
  }

  async write(batch: EventBatch, ctx: ConnectorContext): Promise<void> {
    if (batch.events.length === 0) return;
    const connected = await this.#conn.withRetry('connect', ctx, async (c) => c, (err, c) => this.#connectFailed(err, c));
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
    const writeConcern = effectiveWriteConcern(this.#conn.options, connected.info);
    if (spec && Object.values(spec.tables!).some((tm) => tm.embed)) {
      await withStreamLock(this.#stream.id, () => this.#embedding.write(batch, plans, spec, connected, writeConcern, mapOpts, ctx));
      return;
    }
    await this.#writer.writePlans(plans, batch, connected, writeConcern, ctx);
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

  #connectFailed(err: unknown, c: Classified): SluiceError {
    return new SluiceError('SINK_WRITE_FAILED', `Cannot use the MongoDB server: ${c.message}`, { stream: this.#stream.id, cause: c.message }, { cause: err });
  }

  #rejected(err: PlanError): SluiceError {
    const ev = err.event;
    const key = keyForDetail(ev.key);
    const collection = collectionFor(this.#stream, ev.table);
    const table = `${ev.table.schema}.${ev.table.table}`;
    const reason = err.conversion.reason;
    return new SluiceError(
      reason?.code ?? 'SINK_RECORD_REJECTED',
      rejectionMessage(this.#conn.database, collection, table, key, err.conversion.message),
      { stream: this.#stream.id, table, collection, key, field: err.conversion.field, ...(reason ? { value: reason.value } : {}), eventIndex: err.eventIndex, op: ev.op, cause: err.conversion.message },
      { cause: err.conversion },
    );
  }

  /** The stream's embedding staging collections go with the stream; its collections of documents stay. */
  drop(opts: { check?: boolean } = {}): Promise<void> {
    return dropStaging(this.#conn, this.#stream, this.#logger, opts);
  }

  close(): Promise<void> {
    return this.#conn.close();
  }
}

export function createMongoSink(args: CreateArgs): Sink {
  return new MongoSink(args);
}
