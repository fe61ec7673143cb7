/**
 * JSON schemas shared by the routes. Bodies reject unknown fields, so a typo is a
 * 400 naming the field instead of a silently ignored option.
 */
import { ERRORS, SluiceError, errorEnvelopeSchema, type ErrorCode } from '../errors';

export { errorEnvelopeSchema };

export const ID_PATTERN = '^[A-Za-z0-9-]+$';

export const idParams = {
  type: 'object',
  required: ['id'],
  properties: { id: { type: 'string', pattern: ID_PATTERN, maxLength: 64 } },
} as const;

/** limit/offset/sort on every list; field filters are added per route. */
export function listQuery(sortFields: readonly string[], filters: Record<string, object> = {}) {
  return {
    type: 'object',
    additionalProperties: false,
    properties: {
      limit: { type: 'integer', minimum: 1, maximum: 1000, default: 100 },
      // Bounded so it fits SQLite's integer: a larger one (a float past 2^53 in JS) made the query fail.
      offset: { type: 'integer', minimum: 0, maximum: Number.MAX_SAFE_INTEGER, default: 0 },
      sort: { type: 'string', enum: sortFields.flatMap((f) => [f, `-${f}`]) },
      ...filters,
    },
  } as const;
}

export function pageOf(item: object) {
  return {
    type: 'object',
    required: ['items', 'total', 'limit', 'offset'],
    properties: {
      items: { type: 'array', items: item },
      total: { type: 'integer' },
      limit: { type: 'integer' },
      offset: { type: 'integer' },
    },
  } as const;
}

const ENVELOPE_REF = { $ref: 'ErrorEnvelope#' } as const;

/** The error responses a route can give, for the OpenAPI document: status → envelope, with the codes listed. */
export function errorResponses(...codes: ErrorCode[]): Record<string, object> {
  const all: ErrorCode[] = ['AUTH_REQUIRED', 'AUTH_INVALID_KEY', 'AUTH_RATE_LIMITED', 'FORBIDDEN_ROLE', 'VALIDATION_FAILED', 'INTERNAL', 'SHUTTING_DOWN', ...codes];
  const byStatus = new Map<number, ErrorCode[]>();
  for (const c of all) byStatus.set(ERRORS[c].status, [...(byStatus.get(ERRORS[c].status) ?? []), c]);
  const out: Record<string, object> = {};
  for (const [status, list] of byStatus) out[String(status)] = { description: `Error: ${[...new Set(list)].join(', ')}`, ...ENVELOPE_REF };
  return out;
}

/** `passwords` of a request body: for connections saved with savePassword:false, by connection id. */
export const PASSWORDS_PROPERTY = {
  type: 'object',
  description: 'Passwords of connections saved with savePassword:false, by connection id. Never stored, never returned.',
  propertyNames: { pattern: ID_PATTERN },
  additionalProperties: { type: 'string', maxLength: 4096, writeOnly: true },
  maxProperties: 16,
} as const;

/** Destructive bulk operations run only with `X-Confirm-Delete: true`; anything else is a 428. */
export function confirmDelete(header: string | string[] | undefined, what: string): void {
  const value = Array.isArray(header) ? header[0] : header;
  if (value?.trim().toLowerCase() !== 'true') {
    throw new SluiceError('CONFIRMATION_REQUIRED', `Deleting ${what} needs the header X-Confirm-Delete: true.`, { header: 'X-Confirm-Delete' });
  }
}

const RFC3339 = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$/i;

/**
 * An RFC 3339 date-time sent by a client, as epoch ms; VALIDATION_FAILED naming the
 * field otherwise. (The request validators do not check `format`: it documents.)
 */
export function dateTimeField(value: string, location: 'body' | 'querystring', field: string): number {
  const at = Date.parse(value);
  if (!RFC3339.test(value) || Number.isNaN(at)) {
    throw new SluiceError('VALIDATION_FAILED', `${location} field "${field}" must be an RFC 3339 date-time, e.g. 2027-01-31T00:00:00Z`, { location, field, rule: 'format' });
  }
  return at;
}
