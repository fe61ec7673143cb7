/**
 * Which MongoDB errors a retry can fix. Transient: the server or the network is
 * away for a while (the write is retried for as long as it takes). Rejected: this
 * record can never be written as it is. Failed: the server refuses every write the
 * same way (configuration, privileges, unsupported command) until someone acts.
 */
import {
  MongoBulkWriteError,
  MongoError,
  MongoErrorLabel,
  MongoNetworkError,
  MongoNotConnectedError,
  MongoServerClosedError,
  MongoServerError,
  MongoServerSelectionError,
  MongoWriteConcernError,
} from 'mongodb';

/** An attempt the server did not answer within the connection's writeTimeoutMs. */
export class AttemptTimeoutError extends Error {
  override readonly name = 'AttemptTimeoutError';
  constructor(
    readonly what: string,
    readonly timeoutMs: number,
  ) {
    super(`MongoDB did not answer the ${what} within ${timeoutMs} ms (writeTimeoutMs)`);
  }
}

export type FailureKind = 'transient' | 'rejected' | 'failed';

// Server codes the retryable-writes specification calls retryable, plus the ones
// that mean "try again shortly" for a single-node server or FerretDB.
const TRANSIENT_CODES = new Set([
  6, // HostUnreachable
  7, // HostNotFound
  64, // WriteConcernFailed (wtimeout): the write may still replicate; it is idempotent
  89, // NetworkTimeout
  91, // ShutdownInProgress
  112, // WriteConflict
  189, // PrimarySteppedDown
  262, // ExceededTimeLimit
  9001, // SocketException
  10107, // NotWritablePrimary
  11600, // InterruptedAtShutdown
  11602, // InterruptedDueToReplStateChange
  13435, // NotPrimaryNoSecondaryOk
  13436, // NotPrimaryOrSecondary
  134, // ReadConcernMajorityNotAvailableYet
  10058, // LockBusy
]);

// Codes that are about one document, not the whole write path.
const RECORD_CODES = new Set([
  2, // BadValue (FerretDB: NaN/Infinity doubles, nested arrays, bad field names)
  14, // TypeMismatch
  52, // DollarPrefixedFieldName
  55, // InvalidDBRef
  56, // EmptyFieldName
  57, // DottedFieldName
  66, // ImmutableField
  121, // DocumentValidationFailure
  10334, // BSONObjectTooLarge
  11000, // DuplicateKey (a unique index other than _id)
  17280, // KeyTooLong
  17419, // document too large after update
  2000, // FerretDB v1: invalid document (e.g. NaN, nested arrays)
]);

function codeOf(err: unknown): number | undefined {
  const c = (err as { code?: unknown })?.code;
  return typeof c === 'number' ? c : undefined;
}

function isDuplicateOnId(e: { code?: unknown; errmsg?: unknown; message?: unknown; keyPattern?: unknown }): boolean {
  const pattern = e.keyPattern as Record<string, unknown> | undefined;
  if (pattern && Object.keys(pattern).length === 1 && '_id' in pattern) return true;
  const msg = String(e.errmsg ?? e.message ?? '');
  return /index: _id_ /.test(msg);
}

/**
 * FerretDB keeps its data in PostgreSQL (or SQLite): while that backend restarts, every
 * command fails with an ordinary server error (InternalError) whose text is the
 * backend's connection error. That is an outage of the server, not a refusal: retried.
 */
const BACKEND_AWAY =
  /failed to connect to \x60|dial error: dial tcp|the database system is (starting up|shutting down|in recovery mode)|terminating connection due to administrator command|server closed the connection unexpectedly|conn closed|connection reset by peer/i;

function backendAway(err: unknown, message: string): boolean {
  if (BACKEND_AWAY.test(message)) return true;
  const writeErrors = (err as { writeErrors?: unknown }).writeErrors;
  const first = Array.isArray(writeErrors) ? (writeErrors[0] as { errmsg?: unknown } | undefined) : (writeErrors as { errmsg?: unknown } | undefined);
  return typeof first?.errmsg === 'string' && BACKEND_AWAY.test(first.errmsg);
}

export interface Classified {
  kind: FailureKind;
  /** Index of the failing operation in the bulk, when the server said which. */
  opIndex?: number;
  code?: number;
  message: string;
}

export function classify(err: unknown): Classified {
  const message = err instanceof Error ? err.message : String(err);
  // The pool-cleared error is a MongoNetworkError subclass, covered here.
  if (
    err instanceof AttemptTimeoutError ||
    err instanceof MongoNetworkError ||
    err instanceof MongoServerSelectionError ||
    err instanceof MongoServerClosedError ||
    err instanceof MongoNotConnectedError
  ) {
    return { kind: 'transient', message };
  }
  if (err instanceof MongoError && (err.hasErrorLabel(MongoErrorLabel.RetryableWriteError) || err.hasErrorLabel(MongoErrorLabel.ResetPool))) {
    return { kind: 'transient', message };
  }
  if (err instanceof MongoError && backendAway(err, message)) return { kind: 'transient', ...(codeOf(err) === undefined ? {} : { code: codeOf(err) }), message };
  const code = codeOf(err);
  const syscall = (err as { cause?: { code?: unknown } })?.cause?.code;
  if (syscall === 'ECONNREFUSED' || syscall === 'ECONNRESET' || (err as { code?: unknown })?.code === 'ECONNREFUSED') {
    return { kind: 'transient', message };
  }
  if (err instanceof MongoBulkWriteError) {
    const first = err.writeErrors instanceof Array ? err.writeErrors[0] : (err.writeErrors as unknown as { index: number; code: number; errmsg?: string } | undefined);
    if (first) {
      const wcode = first.code;
      const base = { opIndex: first.index, code: wcode, message: first.errmsg ?? message };
      // Two upserts racing on one _id can hit E11000 on _id; replaying the upsert wins.
      if (wcode === 11000 && isDuplicateOnId(first as never)) return { kind: 'transient', ...base };
      if (TRANSIENT_CODES.has(wcode)) return { kind: 'transient', ...base };
      if (RECORD_CODES.has(wcode)) return { kind: 'rejected', ...base };
      return { kind: 'failed', ...base };
    }
    const wce = (err.result as unknown as { getWriteConcernError?: () => { code?: number } | undefined })?.getWriteConcernError?.();
    if (wce?.code !== undefined && TRANSIENT_CODES.has(wce.code)) return { kind: 'transient', code: wce.code, message };
    // A failure of the whole command (server selection, a dropped connection) comes
    // wrapped in a MongoBulkWriteError without writeErrors; judge what it wraps.
    const inner = (err as { errorResponse?: unknown }).errorResponse ?? err.cause;
    if (inner instanceof Error && inner !== err) return classify(inner);
  }
  if (err instanceof MongoWriteConcernError) {
    const wcode = codeOf((err.result as { writeConcernError?: unknown })?.writeConcernError) ?? code;
    if (wcode !== undefined && TRANSIENT_CODES.has(wcode)) return { kind: 'transient', code: wcode, message };
    return { kind: 'failed', ...(wcode === undefined ? {} : { code: wcode }), message };
  }
  if (err instanceof MongoServerError && code !== undefined) {
    if (code === 11000 && isDuplicateOnId(err)) return { kind: 'transient', code, message };
    if (TRANSIENT_CODES.has(code)) return { kind: 'transient', code, message };
    if (RECORD_CODES.has(code)) return { kind: 'rejected', code, message };
    return { kind: 'failed', code, message };
  }
  // BSON serialisation refuses documents over the size limit before sending.
  if (err instanceof Error && /larger than the maximum|exceeds maximum|BSONObjectTooLarge/i.test(message)) {
    return { kind: 'rejected', message };
  }
  return { kind: 'failed', ...(code === undefined ? {} : { code }), message };
}
