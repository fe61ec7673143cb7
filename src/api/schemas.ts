/**
 * JSON schemas shared by the routes. Bodies reject unknown fields, so a typo is a
 * 400 naming the field instead of a silently ignored option.
 */
import { ERRORS, SluiceError, errorEnvelopeSchema, type ErrorCode } from '../errors';

export { errorEnvelopeSchema };

export const ID_PATTERN = '^[A-Za-z0-9-]+$';

/**
 * The rule for names of connections, streams, mappings and API keys (issue 22; README,
 * "Security"): 1..200 characters of printable text. Refused: control characters (C0,
 * DEL, C1: NUL, newlines, escapes), invisible and direction-changing format characters
 * (bidi overrides and isolates, zero-width characters, the BOM), U+FFFD (what a body
 * that was not valid UTF-8 decodes to), and line/paragraph separators; lone surrogates
 * (`\ud800` in JSON) are refused in any body (validBodyText). Uniqueness is per kind
 * and case-insensitive (src/store/names.ts).
 */
export const NAME_PATTERN =
  '^[^\\u0000-\\u001f\\u007f-\\u009f\\u00ad\\u061c\\u180e\\u200b-\\u200f\\u2028-\\u202e\\u2060-\\u206f\\ufeff\\ufff9-\\ufffb\\ufffd]+$';

export const NAME_RULE = 'printable text (no control, bidirectional or zero-width characters, no invalid UTF-8)';

export const nameSchema = { type: 'string', minLength: 1, maxLength: 200, pattern: NAME_PATTERN, description: `A name: ${NAME_RULE}; unique per kind, compared case-insensitively.` } as const;

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
  const all: ErrorCode[] = ['AUTH_REQUIRED', 'AUTH_INVALID_KEY', 'AUTH_RATE_LIMITED', 'FORBIDDEN_ROLE', 'VALIDATION_FAILED', 'HTTP_REQUEST_MALFORMED', 'URI_TOO_LONG', 'INTERNAL', 'SHUTTING_DOWN', ...codes];
  const byStatus = new Map<number, ErrorCode[]>();
  for (const c of all) byStatus.set(ERRORS[c].status, [...(byStatus.get(ERRORS[c].status) ?? []), c]);
  const out: Record<string, object> = {};
  for (const [status, list] of byStatus) out[String(status)] = { description: `Error: ${[...new Set(list)].join(', ')}`, ...ENVELOPE_REF };
  return out;
}

/**
 * The path of the first string in a JSON body (keys included) that holds a lone
 * surrogate (`"\ud800"`: text no UTF-8 can carry, so the store would keep another
 * text), or null. Checked before validation (server.ts), iteratively.
 */
export function loneSurrogateAt(body: unknown): string | null {
  const stack: Array<[unknown, string]> = [[body, '']];
  const lone = /\p{Cs}/u;
  while (stack.length) {
    const [v, at] = stack.pop()!;
    if (typeof v === 'string') {
      if (lone.test(v)) return at || 'body';
    } else if (v !== null && typeof v === 'object') {
      for (const [k, x] of Object.entries(v)) {
        const path = at ? `${at}.${k}` : k;
        if (lone.test(k)) return path;
        stack.push([x, path]);
      }
    }
  }
  return null;
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
