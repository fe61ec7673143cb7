/**
 * The conversion the sink would use on a connection, for the mapping preview: asks
 * the server what it is (buildInfo, hello; nothing is written) exactly as the sink does
 * on connect, so decimals (Decimal128, or their exact text on FerretDB v1) and
 * non-finite doubles come out as the sink would write them.
 */
import type { ConnectionSpec, PreviewConversion } from '../../src/core';
import { SluiceError } from '../../src/errors';
import { FieldConversionError, tableName } from '../../src/transform/mapping';
import { ConversionError, keyForDetail } from './bson';
import { guardedClient, databaseFromUrl, describeUrl, detectServer, effectiveDecimalMode, parseOptions, type ServerInfo } from './client';
import { mapOptionsFor, rejectionMessage } from './targets';

/** SINK_UNREACHABLE when the server does not answer; CONFIG_INVALID when the connection's options do not suit it. */
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
