/**
 * What the sink drops: the target collections of a fresh snapshot when the stream asks
 * for it (`options.dropCollections`), and, when the stream is deleted, its embedding
 * staging collections (`_sluice_embed.<streamId>.*`; its collections of documents are
 * the data and stay).
 */
import type { Logger } from 'pino';
import type { ConnectorContext, StreamSpec } from '../../src/core';
import { SluiceError } from '../../src/errors';
import type { SinkConnection } from './connection';
import { stagingCollection } from './embedding';
import { classify } from './failures';

/** A collection that is not there is what a drop wanted (26 NamespaceNotFound). */
const isMissing = (err: unknown): boolean => (err as { code?: unknown }).code === 26 || /ns not found|not found/i.test(String((err as Error).message));

/** Drops `names`, each retried while the server is away. */
export async function dropCollections(conn: SinkConnection, stream: Pick<StreamSpec, 'id'>, names: string[], ctx: ConnectorContext): Promise<void> {
  for (const name of names) {
    await conn.withRetry(
      `drop of ${name}`,
      ctx,
      async ({ client }) => {
        try {
          await client.db(conn.database).collection(name).drop();
        } catch (err) {
          if (isMissing(err)) return;
          throw err;
        }
      },
      (err, c) =>
        new SluiceError('SINK_WRITE_FAILED', `Could not drop collection ${conn.database}.${name}: ${c.message}`, { stream: stream.id, collection: name, cause: c.message }, { cause: err }),
      name,
    );
    ctx.logger.info({ collection: name }, 'dropped collection (dropCollections)');
  }
}

/**
 * Drops the stream's staging collections; with `check`, only proves the server can be
 * reached and asked (nothing dropped). A server that cannot be reached is SINK_UNREACHABLE.
 */
export async function dropStaging(conn: SinkConnection, stream: Pick<StreamSpec, 'id'>, logger: Logger, opts: { check?: boolean } = {}): Promise<void> {
  const failed = (err: unknown, what: string): SluiceError => {
    if (err instanceof SluiceError) return err;
    const c = classify(err);
    const code = c.kind === 'transient' ? 'SINK_UNREACHABLE' : 'SINK_WRITE_FAILED';
    return new SluiceError(code, `Could not ${what} stream ${stream.id} in ${conn.database}: ${c.message}`, { stream: stream.id, database: conn.database, cause: c.message }, { cause: err });
  };
  const prefix = stagingCollection(stream.id, '');
  let names: string[];
  let client;
  try {
    ({ client } = await conn.connect());
    const all = await client.db(conn.database).listCollections({}, { nameOnly: true }).toArray();
    names = all.map((c) => c.name).filter((n) => n.startsWith(prefix));
  } catch (err) {
    throw failed(err, 'list the staging collections of');
  }
  if (opts.check) return;
  for (const name of names) {
    try {
      await client.db(conn.database).collection(name).drop();
    } catch (err) {
      if (isMissing(err)) continue;
      throw failed(err, `drop staging collection ${name} of`);
    }
    logger.info({ collection: name }, 'dropped embedding staging collection (stream deleted)');
  }
}
