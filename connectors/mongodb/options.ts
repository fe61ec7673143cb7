/**
 * What the `mongodb` sink reads from its connection's `options` and from a stream's
 * `options`, declared once (README "Options" is generated from here). client.ts turns
 * the parsed connection options into MongoSinkOptions.
 */
import { advancedOption, optionsObject, type PluginOptions, type StreamSpec } from '../../src/core';
import { readOptions } from '../../src/options';
import { tlsOption, type TlsOptions } from '../../src/connection-tls';

export interface MongoConnectionOptions {
  writeConcern?: { w?: number | string; j?: boolean; wtimeoutMS?: number };
  decimals: 'auto' | 'decimal128' | 'string';
  serverSelectionTimeoutMS: number;
  writeTimeoutMs: number;
  retry: { initialDelayMs: number; maxDelayMs: number };
  tls?: TlsOptions;
}

export interface MongoStreamOptions {
  dropCollections: boolean;
}

export const mongodbOptions: PluginOptions = {
  connection: optionsObject({
    writeConcern: advancedOption({
      type: 'object',
      additionalProperties: false,
      description: "Write concern of every write. Default: {w:'majority'} on a replica set, {w:1} on a standalone server or FerretDB.",
      example: { w: 'majority', j: true },
      properties: {
        w: {
          anyOf: [{ type: 'integer', minimum: 1 }, { type: 'string', minLength: 1 }],
          description: 'Acknowledgements to wait for: a number ≥ 1 or a tag such as "majority". w:0 is refused: an unacknowledged write would break the delivery contract.',
        },
        j: { type: 'boolean', description: 'Wait for the journal.' },
        wtimeoutMS: { type: 'integer', minimum: 0, description: 'How long the server waits for w, in milliseconds.' },
      },
    }),
    decimals: {
      type: 'string',
      enum: ['auto', 'decimal128', 'string'],
      default: 'auto',
      description: 'How exact decimals are stored: Decimal128, or their exact text. auto: Decimal128 unless the server is FerretDB v1, which has none (decimal128 there is refused at start).',
    },
    serverSelectionTimeoutMS: { type: 'integer', minimum: 100, maximum: 600000, default: 5000, description: 'How long one attempt waits to find the server, in milliseconds; failed attempts are retried with backoff.' },
    writeTimeoutMs: {
      type: 'integer',
      minimum: 100,
      maximum: 3600000,
      default: 60000,
      description:
        'Longest wait for the answer to one write attempt (one bulkWrite command of a batch), in milliseconds. A server that does not answer in time is treated as away: the attempt is abandoned, counted in sluice_mongodb_errors_total and retried with backoff (writes are idempotent). Keep it well above the slowest legitimate command.',
    },
    tls: {
      ...tlsOption('MongoDB'),
      description:
        "TLS to MongoDB; present means on (as tls=true in the URL), with the server's name verified: {} trusts the system CAs (Atlas). ca/caFile, and cert/certFile with key/keyFile for X.509 client certificates, as PEM text or files inside secrets.fileDir. The URL's tlsCAFile and tlsCertificateKeyFile work too, held to the same directory.",
      example: { caFile: '/run/secrets/mongodb-ca.pem' },
    },
    retry: advancedOption({
      type: 'object',
      additionalProperties: false,
      default: {},
      description: 'Backoff between attempts while MongoDB is unreachable (retried until the stream is stopped).',
      properties: {
        initialDelayMs: { type: 'integer', minimum: 1, maximum: 600000, default: 100, description: 'First delay, doubled after each failed attempt.' },
        maxDelayMs: { type: 'integer', minimum: 1, maximum: 600000, default: 5000, description: 'Longest delay between attempts.' },
      },
    }),
  }),
  stream: optionsObject({
    dropCollections: {
      type: 'boolean',
      default: false,
      description: "Empty the target collections before a snapshot (Relational Migrator's option). A scheduled SNAPSHOT stream empties them before each fresh snapshot.",
    },
  }),
};

export function mongoStreamOptions(stream: Pick<StreamSpec, 'options'>): MongoStreamOptions {
  return readOptions<MongoStreamOptions>(mongodbOptions.stream, stream.options);
}
