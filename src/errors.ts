/**
 * The one catalogue of error codes. Every error a client or an operator can see
 * carries one of these codes, its HTTP status and category, and a suggestion that
 * says what to do about it. Codes are stable: add new ones, never rename.
 */

export type ErrorCategory =
  | 'validation'
  | 'authentication'
  | 'authorization'
  | 'not_found'
  | 'conflict'
  | 'rate_limit'
  | 'configuration'
  | 'connectivity'
  | 'storage'
  | 'internal';

interface CatalogueEntry {
  status: number;
  category: ErrorCategory;
  /**
   * Whether retrying the same operation later can succeed. For a stream this is the
   * line between healing and failing: a run that fails with a retriable code restarts
   * from its last saved position, with backoff, as long as the stream's options.retry
   * allows (src/runtime/retry-policy.ts); any other code fails the stream at once. The
   * default is false (fail loudly); errors.test.ts lists the retriable codes, so that
   * making one retriable is a deliberate change.
   */
  retriable: boolean;
  suggestion: string;
}

const entry = (
  status: number,
  category: ErrorCategory,
  suggestion: string,
  retriable = false,
): CatalogueEntry => ({ status, category, retriable, suggestion });

export const ERRORS = {
  // request shape
  VALIDATION_FAILED: entry(400, 'validation', 'Fix the field named in detail and send the request again.'),
  BODY_NOT_JSON: entry(400, 'validation', 'Send a JSON body with Content-Type: application/json.'),
  UNSUPPORTED_MEDIA_TYPE: entry(415, 'validation', 'Send the body as application/json.'),
  PAYLOAD_TOO_LARGE: entry(413, 'validation', 'Send a smaller body.'),
  HTTP_REQUEST_MALFORMED: entry(400, 'validation', 'Send a well-formed HTTP/1.1 request: header values of visible ASCII, a valid request line, headers within the size limit.'),
  // A job update's code (WARNING), never an API answer: a stored option a run's start dropped.
  OPTION_IGNORED: entry(400, 'validation', 'Remove or correct the option named in detail.field (PATCH the connection, or PUT the stopped stream): it has no effect as stored.'),
  URI_TOO_LONG: entry(414, 'validation', 'Send a shorter URL: a path parameter (id, schema.table) is at most 512 characters.'),
  CONFIRMATION_REQUIRED: entry(428, 'validation', 'Repeat the request with the header X-Confirm-Delete: true.'),
  // auth
  AUTH_REQUIRED: entry(401, 'authentication', 'Send an API key in the X-API-Key header (or Authorization: Bearer <key>).'),
  AUTH_INVALID_KEY: entry(401, 'authentication', 'The API key is unknown or revoked; ask an admin for a valid key.'),
  AUTH_KEY_EXPIRED: entry(401, 'authentication', 'The API key has expired (detail.expiresAt): use its replacement, or ask an admin for a new key (POST /api/v1/api-keys, see the README, "Rotating keys").'),
  AUTH_RATE_LIMITED: entry(429, 'rate_limit', 'Too many failed authentications from this address; wait and retry with a valid key.', true),
  FORBIDDEN_ROLE: entry(403, 'authorization', 'Use a key whose role allows this operation (viewer < operator < admin).'),
  // resources
  ROUTE_NOT_FOUND: entry(404, 'not_found', 'Check the path and method against /openapi.json.'),
  METHOD_NOT_ALLOWED: entry(405, 'not_found', 'Check the method against /openapi.json.'),
  CONNECTION_NOT_FOUND: entry(404, 'not_found', 'List connections with GET /api/v1/connections to find the right id.'),
  STREAM_NOT_FOUND: entry(404, 'not_found', 'List streams with GET /api/v1/streams to find the right id.'),
  MAPPING_NOT_FOUND: entry(404, 'not_found', 'List mappings with GET /api/v1/mappings to find the right id, or put the rules in the stream\'s "mapping" itself.'),
  JOB_NOT_FOUND: entry(404, 'not_found', 'Use the id POST /api/v1/jobs answered with (a job id is its stream id; GET /api/v1/streams lists them).'),
  API_KEY_NOT_FOUND: entry(404, 'not_found', 'List keys with GET /api/v1/api-keys to find the right id.'),
  CONNECTION_NAME_TAKEN: entry(409, 'conflict', 'Choose another name, or update the existing connection.'),
  STREAM_NAME_TAKEN: entry(409, 'conflict', 'Choose another name, or update the existing stream.'),
  MAPPING_NAME_TAKEN: entry(409, 'conflict', 'Choose another name, or replace the existing mapping with PUT.'),
  MAPPING_IN_USE: entry(409, 'conflict', 'Re-point or delete the streams listed in detail.streams (PUT /api/v1/streams/{id}) first.'),
  CONNECTION_IN_USE: entry(409, 'conflict', 'Delete or re-point the streams that use this connection first.'),
  STREAM_ALREADY_RUNNING: entry(409, 'conflict', 'The stream is already running; pause or stop it first.'),
  STREAM_INVALID_TRANSITION: entry(409, 'conflict', 'Check the stream status with GET /api/v1/streams/{id}; only the listed transitions are allowed.'),
  STREAM_RUNNING_CANNOT_CHANGE: entry(409, 'conflict', 'Stop the stream before changing or deleting it.'),
  // configuration and connectors
  CONFIG_INVALID: entry(400, 'configuration', 'Fix the configuration key named in the message; `sluice config validate FILE` checks a file.'),
  CONNECTOR_UNKNOWN: entry(400, 'validation', 'Use one of the supported connection kinds listed in detail.supported.'),
  CONNECTOR_ROLE_UNSUPPORTED: entry(400, 'validation', 'This kind cannot be used in that role; check detail.supported.'),
  CONNECTOR_DUPLICATE: entry(500, 'internal', 'Two connectors claim the same kind; this is a packaging bug in sluice.'),
  CONNECTOR_SNAPSHOT_UNSUPPORTED: entry(400, 'validation', 'This source cannot take a snapshot; use mode CDC_ONLY.'),
  TRANSPORT_CLOSED: entry(503, 'connectivity', 'The transport closed under the stream (stop or shutdown); the stream resumes from its last durable position.', true),
  STREAM_RUN_FAILED: entry(500, 'internal', 'The stream failed with an unexpected error; its job updates and the daemon log say why.'),
  TRANSPORT_UNAVAILABLE: entry(400, 'configuration', 'Choose an available transport (detail.supported), or configure SLUICE_KAFKA_BROKERS.'),
  SOURCE_UNREACHABLE: entry(502, 'connectivity', 'Check that the source database is up and that host, port and credentials are right.', true),
  // Not retriable: a wrong user or password does not heal by waiting (a stream fails at once instead of retrying for ever).
  SOURCE_AUTH_FAILED: entry(502, 'authentication', 'The source database refused the user or password: correct the connection\'s credentials (PATCH /api/v1/connections/{id}, or the password sent with start for a connection saved with savePassword:false).'),
  SINK_UNREACHABLE: entry(502, 'connectivity', 'Check that MongoDB is up and that the connection string is right.', true),
  // TLS to any server (src/connection-tls.ts tlsFailure): what failed tells what to fix.
  TLS_NOT_OFFERED: entry(502, 'connectivity', 'The server does not accept TLS on this port, but the connection requires it. Enable TLS on the server (PostgreSQL ssl=on; MySQL/MariaDB ssl-cert and ssl-key), or use sslmode prefer (TLS when offered) or disable.'),
  SOURCE_CONFIG_INVALID: entry(400, 'configuration', 'Change the database setting named in the message (e.g. wal_level=logical, binlog_format=ROW) and restart the database.'),
  SOURCE_PRIVILEGES_MISSING: entry(403, 'authorization', 'Grant the privileges listed in detail.missing to the connection user.'),
  SOURCE_TABLE_NOT_FOUND: entry(400, 'validation', 'Check the table names in the stream spec against GET /connections/{id}/tables.'),
  SOURCE_TABLE_NO_KEY: entry(400, 'validation', 'Give the table a primary key or a unique index on NOT NULL columns, or set REPLICA IDENTITY FULL.'),
  SOURCE_TYPE_UNSUPPORTED: entry(400, 'validation', 'Exclude the column or cast it in the source; the message names the column and its type.'),
  SOURCE_READ_FAILED: entry(502, 'connectivity', 'The source returned an error while reading; the message has the database error.', true),
  SOURCE_TABLE_GONE: entry(409, 'conflict', 'A table the stream reads was dropped or renamed at the source (the message names it). Change the stream\'s tables to what the source has now (PUT /streams/{id}), then start it; after a rename, start with {"resnapshot": true} if rows changed since.'),
  SOURCE_POSITION_LOST: entry(409, 'conflict', 'The source no longer holds the log from the stream\'s saved position (the replication slot was dropped or invalidated, or the binlog was purged): the changes since then cannot be read. Start the stream again with {"resnapshot": true} (POST /streams/{id}/start) to take a fresh snapshot and resume CDC from it; to avoid a repeat, raise max_slot_wal_keep_size (PostgreSQL) or the binlog retention (binlog_expire_logs_seconds / expire_logs_days) past the longest outage.'),
  SOURCE_SCHEMA_CHANGED: entry(409, 'conflict', 'The table changed shape under the stream; see the message for the column, then restart the stream.'),
  SINK_DATABASE_MISSING: entry(400, 'validation', 'Name the target database in the MongoDB connection string: mongodb://host:port/<database>.'),
  SINK_WRITE_FAILED: entry(502, 'connectivity', 'MongoDB refused the write for a reason retrying cannot fix; the message names the collection and key.'),
  SINK_RECORD_REJECTED: entry(422, 'validation', 'The record cannot be converted or written; detail names the table, key and field.'),
  VALUE_OUT_OF_RANGE: entry(422, 'validation', 'An integer is outside the 64-bit range MongoDB stores (int64, Long); detail names the table, key, column and value. For a MySQL BIGINT UNSIGNED column holding values above 2^63-1, set the stream option bigintUnsignedHandling to "precise" (exact decimals), or give the column a decimal128 type override in the mapping.'),
  KAFKA_UNREACHABLE: entry(502, 'connectivity', 'Check that the Kafka brokers are up and reachable from sluice (SLUICE_KAFKA_BROKERS or the kafka connection).', true),
  KAFKA_AUTH_FAILED: entry(502, 'authentication', 'The Kafka brokers refused the SASL login: check options.sasl of the kafka connection (mechanism as the cluster enables it: plain, scram-sha-256 or scram-sha-512; the username; the password, sent again with PATCH /connections/{id} {"options": {"sasl": {...}}}). Confluent Cloud takes an API key and secret with PLAIN, Amazon MSK a SCRAM user of its Secrets Manager association.'),
  // TLS of any connection (Kafka, databases, MongoDB): tlsFailure() in src/connection-tls.ts classifies Node's errors.
  TLS_CERTIFICATE_UNTRUSTED: entry(502, 'connectivity', 'The server\'s certificate does not chain to a CA sluice trusts: give the CA that signed it in options.tls.ca or options.tls.caFile of the connection (for a managed service, its CA bundle, e.g. the RDS global bundle). Without one the system trust store is used. A SQL source that should encrypt without verifying can use sslmode require without a CA.'),
  TLS_HOSTNAME_MISMATCH: entry(502, 'connectivity', 'The server\'s certificate does not name the host sluice dialled: connect by a name the certificate carries (detail.host vs. the certificate\'s names), or set options.tls.servername to the name it carries. For databases, sslmode verify-ca or require checks the chain only.'),
  TLS_CERTIFICATE_EXPIRED: entry(502, 'connectivity', 'The server\'s certificate is expired or not yet valid: renew it on the server, and check the clock of the sluice host.'),
  TLS_HANDSHAKE_FAILED: entry(502, 'connectivity', 'The TLS handshake failed (detail.reason): check that the port speaks TLS, that the server accepts the client certificate (options.tls.cert/key) when it requires one, and that both sides share a protocol version.'),
  KAFKA_PUBLISH_FAILED: entry(502, 'connectivity', 'Kafka refused the records for good (too large for message.max.bytes, not authorized, invalid); the message has the broker error.', false),
  RECORD_ERROR_TOLERANCE_EXCEEDED: entry(422, 'validation', 'More records failed than options.errorTolerance allows: fix the records listed in the dead letters (GET /api/v1/streams/{id}/dead-letters, or the <topicPrefix>.__dlq topic on Kafka) or raise errorTolerance, then start the stream again.'),
  SCHEMA_REGISTRY_INCOMPATIBLE: entry(409, 'conflict', 'The schema registry refused the table\'s new schema version as incompatible with the subject\'s compatibility level (detail: subject, the registry\'s message). Nothing after the change was published and the source position was not advanced. Either set the subject\'s compatibility so the change is allowed (PUT <registry>/config/<subject> {"compatibility": "NONE"} or FORWARD/FULL as your consumers need), or undo the DDL, then start the stream again; README "Record formats" lists which changes each level allows.'),
  SCHEMA_REGISTRY_UNAVAILABLE: entry(502, 'connectivity', 'The schema registry did not answer or refused the request (detail: url, subject or id, status); check options.schemaRegistry of the kafka connection (url ending in the Confluent API root, e.g. /apis/ccompat/v7 for Apicurio; username and password) and that the registry is up.', true),
  KAFKA_DECODE_FAILED: entry(422, 'validation', 'A Kafka record is not a change event sluice can read in the stream\'s transport.format (Debezium JSON, or registry-framed Avro, JSON Schema or Protobuf whose schema id the registry knows); detail names the topic, partition and offset.'),
  FILTER_CLAUSE_INVALID: entry(400, 'validation', 'Rewrite the whereClause named in detail (schema, table, part) as one expression over the table\'s own columns, using only the supported operators and functions (see the README, "Filters").'),
  FILTER_COLUMN_UNKNOWN: entry(400, 'validation', 'The whereClause or column filter names a column the table does not have; check detail.column against GET /connections/{id}/tables/{table}/columns.'),
  FILTER_COLUMNS_INVALID: entry(400, 'validation', 'Key columns cannot be excluded (documents are keyed by them); remove the column named in detail.column from excludeColumns.'),
  CONNECTION_PASSWORD_REQUIRED: entry(400, 'validation', 'The connection was saved with savePassword:false: send its password with the request (POST /streams/{id}/start, /resume, /verify, /mapping/preview and POST /validate: {"passwords": {"<connectionId>": "…"}}; POST /connections/{id}/test: {"password": "…"}; GET /connections/{id}/tables…: the header X-Connection-Password), or store it with PATCH /connections/{id} {"password": "…", "savePassword": true}.'),
  CONNECTION_URL_INVALID: entry(400, 'validation', 'Write the URL in one of the forms of the README ("Security"): percent-encode "@", ":", "/", "?", "#" and "%" in the user and password (encodeURIComponent), or leave the password out of the URL and send it in the "password" field. Nothing was stored.'),
  CONNECTION_PROTOCOL_MISMATCH: entry(502, 'connectivity', 'Something answers at this address, but not the server the connection kind needs (a MariaDB port in a mongodb URL, say): check the host and port of the connection URL.'),
  SOURCE_SCHEMA_FORBIDDEN: entry(403, 'authorization', 'System schemas (PostgreSQL pg_catalog, information_schema, pg_*; MySQL/MariaDB mysql, information_schema, performance_schema, sys) hold the database\'s own users and secrets and are never browsed or streamed. An admin may allow one explicitly with the connection option allowSystemSchemas.'),
  FILTER_EVALUATION_LIMIT: entry(422, 'validation', 'A LIKE of the whereClause needed more work on one row than the per-row limit allows (long literal runs between % against a long value): shorten the pattern or filter on a shorter column, then start the stream again. The message names the table, key and column.'),
  CONNECTOR_CUTOVER_UNSUPPORTED: entry(400, 'validation', 'This source cannot tell its current position, so it cannot cut over; stop the stream once its lag is zero instead.'),
  MAPPING_INVALID: entry(400, 'validation', 'Fix the mapping rule named in detail (table, field): see the README, "Mapping rules", for the shape; column names must be the table\'s own (GET /connections/{id}/tables/{table}/columns).'),
  SECRET_FILE_NOT_ALLOWED: entry(403, 'authorization', 'A passwordFile must be a regular file inside the directory the daemon allows (secrets.fileDir, SLUICE_SECRETS_FILE_DIR; detail.allowedDir), after symbolic links are followed. Mount the secret there, or set that directory when starting the daemon.'),
  SECRET_FILE_UNREADABLE: entry(400, 'configuration', 'Check that the file named in detail.file exists, is a regular file the sluice process can read, and holds the password.'),
  // Retriable: a full disk heals once space is freed; the stream restarts from its last saved position (nothing unsaved was acknowledged to the source).
  STATE_STORE_WRITE_FAILED: entry(503, 'storage', 'sluice cannot write its state store (detail.file): the disk is full or the data dir is read-only. Free space on that filesystem (or make the data dir writable again, e.g. remount it read-write); running streams restart by themselves from their last saved position (options.retry), and /readyz is ready again once a write succeeds. A stream that gave up (FAILED): start it again with POST /api/v1/streams/{id}/start.', true),
  SECRET_KEY_INVALID: entry(500, 'configuration', 'The store secret key does not decrypt stored secrets; restore the original key file or SLUICE_SECRET_KEY.'),
  // last resort: never for anything a client can send
  INTERNAL: entry(500, 'internal', 'This is a bug in sluice; the daemon log has the details under the request id.'),
  SHUTTING_DOWN: entry(503, 'connectivity', 'The daemon is shutting down; retry against the restarted daemon.', true),
  NOT_READY: entry(503, 'connectivity', 'The daemon is starting or its store is unavailable; retry shortly.', true),
} as const satisfies Record<string, CatalogueEntry>;

export type ErrorCode = keyof typeof ERRORS;

export interface ErrorContext {
  stream?: string;
  table?: string;
  position?: unknown;
  [key: string]: unknown;
}

/** The one error type sluice throws on purpose. */
export class SluiceError extends Error {
  readonly code: ErrorCode;
  readonly status: number;
  readonly category: ErrorCategory;
  readonly retriable: boolean;
  readonly suggestion: string;
  readonly detail: ErrorContext;

  constructor(code: ErrorCode, message: string, detail: ErrorContext = {}, options?: { cause?: unknown; suggestion?: string }) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    const e = ERRORS[code];
    this.name = 'SluiceError';
    this.code = code;
    this.status = e.status;
    this.category = e.category;
    this.retriable = e.retriable;
    this.suggestion = options?.suggestion ?? e.suggestion;
    this.detail = detail;
  }

  /** The API error envelope body. */
  toEnvelope(): ErrorEnvelope {
    return {
      error: {
        code: this.code,
        category: this.category,
        message: this.message,
        suggestion: this.suggestion,
        detail: this.detail,
      },
    };
  }
}

export interface ErrorEnvelope {
  error: { code: string; category: ErrorCategory; message: string; suggestion: string; detail: Record<string, unknown> };
}

export function isSluiceError(err: unknown): err is SluiceError {
  return err instanceof SluiceError;
}

/**
 * Node's socket errors that mean "the server is away for now" (a restart, a failover, a
 * network blip): a driver that lets one through unwrapped is as retriable as
 * SOURCE_UNREACHABLE.
 */
const TRANSIENT_SOCKET_ERRORS: ReadonlySet<string> = new Set(['ECONNRESET', 'ECONNREFUSED', 'ECONNABORTED', 'ETIMEDOUT', 'EPIPE', 'EHOSTUNREACH', 'ENETUNREACH', 'EAI_AGAIN']);

/** What drivers say, without a code, of a connection the server dropped (node-postgres). */
const TRANSIENT_DRIVER_MESSAGES = /Connection terminated unexpectedly|has encountered a connection error and is not queryable/;

/** Whether a failure can heal by retrying later: its catalogue code says so, or it is a transient socket error. */
export function isRetriableError(err: unknown): boolean {
  if (isSluiceError(err)) return err.retriable;
  const code = (err as { code?: unknown } | null)?.code;
  if (typeof code !== 'string') return err instanceof Error && TRANSIENT_DRIVER_MESSAGES.test(err.message);
  if (Object.hasOwn(ERRORS, code)) return ERRORS[code as ErrorCode].retriable;
  return TRANSIENT_SOCKET_ERRORS.has(code);
}

/** Wraps anything thrown into a SluiceError; unknown errors become INTERNAL. */
export function toSluiceError(err: unknown): SluiceError {
  if (isSluiceError(err)) return err;
  const code = (err as { code?: unknown } | null)?.code;
  if (typeof code === 'string' && code in ERRORS) {
    const detail = (err as { detail?: ErrorContext }).detail ?? {};
    return new SluiceError(code as ErrorCode, (err as Error).message, detail, { cause: err });
  }
  return new SluiceError('INTERNAL', 'Internal error', {}, { cause: err });
}

/**
 * err, then what it wraps (`cause`, kafkajs's `originalError`, an AggregateError's
 * `errors`), depth first: client libraries wrap the error that says what went wrong.
 */
export function* errorChain(err: unknown, depth = 0): Generator<{ name?: unknown; code?: unknown; message?: unknown }> {
  if (depth > 8 || err === null || typeof err !== 'object') return;
  const e = err as { name?: unknown; code?: unknown; message?: unknown; cause?: unknown; originalError?: unknown; errors?: unknown };
  yield e;
  if (e.cause !== undefined && e.cause !== err) yield* errorChain(e.cause, depth + 1);
  if (e.originalError !== undefined && e.originalError !== err) yield* errorChain(e.originalError, depth + 1);
  if (Array.isArray(e.errors)) for (const x of e.errors.slice(0, 8)) yield* errorChain(x, depth + 1);
}

/** JSON schema of the envelope, shared by every route's error responses in the OpenAPI document. */
export const errorEnvelopeSchema = {
  $id: 'ErrorEnvelope',
  type: 'object',
  required: ['error'],
  properties: {
    error: {
      type: 'object',
      required: ['code', 'category', 'message'],
      properties: {
        code: { type: 'string', enum: Object.keys(ERRORS) },
        category: { type: 'string' },
        message: { type: 'string' },
        suggestion: { type: 'string' },
        detail: { type: 'object', additionalProperties: true },
      },
    },
  },
} as const;
