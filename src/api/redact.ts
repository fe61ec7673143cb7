/**
 * Which roles see row data (issue 22, finding 7; README, "Security"). Rows are customer
 * data: reading them needs the operator role (GET …/tables/{table}/rows, mapping
 * preview, verify). Everything else that can quote a row follows the same rule, and a
 * viewer gets a redacted form of it:
 *
 * - dead letters: the event (before/after), the key's values and the error's message
 *   and detail; a viewer sees the table, op, field, error code, stage, time and the
 *   key's column names, each value "[redacted]";
 * - job updates (GET /streams/{id}/logs, a stream's jobUpdates, a job's) and a run's
 *   failureError whose code is one whose message can quote values (record errors, and
 *   errors whose text comes from a server or driver: VALUE_QUOTING_CODES), or whose
 *   detail carries a key: a viewer sees the code, level, stage, table and field, a
 *   message saying what happened without the values, and the catalogue's suggestion.
 *
 * Applied by the routes that answer these, with the caller's role.
 */
import { ERRORS, type ErrorCode } from '../errors';
import { roleAllows, type Role } from '../store/api-keys';

export const REDACTED = '[redacted]';

/** Codes whose messages can quote row values: a server's or driver's words, or a record's. */
export const VALUE_QUOTING_CODES: ReadonlySet<string> = new Set<ErrorCode>([
  'SINK_RECORD_REJECTED',
  'VALUE_OUT_OF_RANGE',
  'KAFKA_DECODE_FAILED',
  'RECORD_ERROR_TOLERANCE_EXCEEDED',
  'SINK_WRITE_FAILED',
  'SOURCE_READ_FAILED',
  'FILTER_EVALUATION_LIMIT',
  'KAFKA_PUBLISH_FAILED',
  'STREAM_RUN_FAILED',
  'INTERNAL',
]);

/** Detail fields that hold values of a row (or a server's message about one). */
const VALUE_FIELDS = new Set(['value', 'values', 'cause', 'row', 'before', 'after', 'event', 'document', 'errmsg']);

export function seesRows(role: Role | undefined): boolean {
  return roleAllows(role ?? 'viewer', 'operator');
}

function redactKey(key: unknown): unknown {
  if (key === null || typeof key !== 'object') return key === null || key === undefined ? key : REDACTED;
  return Object.fromEntries(Object.keys(key as Record<string, unknown>).map((k) => [k, REDACTED]));
}

export function redactDetail(detail: Record<string, unknown> | undefined): Record<string, unknown> | undefined {
  if (!detail) return detail;
  return Object.fromEntries(Object.entries(detail).map(([k, v]) => [k, k === 'key' ? redactKey(v) : VALUE_FIELDS.has(k) ? REDACTED : v]));
}

const quotes = (code: string | undefined, detail?: Record<string, unknown>): boolean =>
  (code !== undefined && (VALUE_QUOTING_CODES.has(code) || !(code in ERRORS))) || (detail !== undefined && 'key' in detail);

const catalogueSuggestion = (code: string | undefined): string | undefined => (code && code in ERRORS ? ERRORS[code as ErrorCode].suggestion : undefined);

const where = (table: unknown, field: unknown): string =>
  `${typeof table === 'string' ? ` in ${table}` : ''}${typeof field === 'string' ? `, column ${field}` : ''}`;

/** A job update as `role` may see it. */
export function updateFor<U extends { errorCode?: string; message: string; suggestion?: string; detail?: Record<string, unknown> }>(u: U, role: Role | undefined): U {
  if (seesRows(role) || !quotes(u.errorCode, u.detail)) return u;
  const d = u.detail ?? {};
  const suggestion = catalogueSuggestion(u.errorCode);
  return {
    ...u,
    message: `${u.errorCode ?? 'An error'}${where(d.locationName ?? d.table, d.fieldName ?? d.field)} (the message can quote row data: it needs the operator role)`,
    ...(suggestion !== undefined ? { suggestion } : {}),
    ...(u.detail ? { detail: redactDetail(u.detail) } : {}),
    redacted: true,
  };
}

/** A failureError ({code, message, suggestion}) as `role` may see it. */
export function errorFor<E extends { code: string; message: string; suggestion?: string } | null | undefined>(e: E, role: Role | undefined): E {
  if (!e || seesRows(role) || !quotes(e.code)) return e;
  const suggestion = catalogueSuggestion(e.code);
  return { ...e, message: `The run failed with ${e.code} (the message can quote row data: it needs the operator role)`, ...(suggestion !== undefined ? { suggestion } : {}) };
}

/** A dead letter as `role` may see it. */
export function deadLetterFor<D extends { key: unknown; event: unknown; errorCode: string; errorMessage: string; suggestion: string | null; detail: Record<string, unknown>; table: string | null; field: string | null }>(
  d: D,
  role: Role | undefined,
): D {
  if (seesRows(role)) return d;
  return {
    ...d,
    key: redactKey(d.key),
    event: null,
    errorMessage: `${d.errorCode}${where(d.table, d.field)} (the record and the message need the operator role)`,
    suggestion: catalogueSuggestion(d.errorCode) ?? null,
    detail: redactDetail(d.detail) ?? {},
    redacted: true,
  };
}
