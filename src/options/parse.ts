/**
 * The one options parser: applies a declaration's defaults and validates against it
 * (ajv). Three ways to call it:
 *
 * - `parseOptions(schema, raw, {field})`, strict: what the API does at create and
 *   replace. The first problem is a SluiceError VALIDATION_FAILED whose
 *   `detail.field` names the option (`options.maxBatchSize`).
 * - `parseOptions(schema, raw, {field, lenient: true})`: what a run does at its start
 *   with what the store holds. An unknown or invalid option is dropped (its default
 *   applies) and reported in `ignored`, so a stream stored before sluice checked its
 *   options still starts, and the operator is told which option to fix and how.
 * - `readOptions(schema, raw)`: what a connector does with the options it is handed:
 *   only its own keys, defaults applied, invalid values dropped (the API and the run's
 *   start have already said so), typed by the caller.
 *
 * Raw values are never changed: defaults go into a copy.
 */
import Ajv, { type ErrorObject, type ValidateFunction } from 'ajv';
import type { OptionSchema, OptionsObjectSchema } from '../core';
import { SluiceError } from '../errors';

/** One option a lenient parse dropped, and why. */
export interface OptionIssue {
  /** Dotted path, e.g. `options.maxBatchSize`. */
  field: string;
  reason: string;
  /** 'unknown': no owner declares it; 'invalid': declared, but the value does not fit. */
  kind: 'unknown' | 'invalid';
}

export interface ParsedOptions<T> {
  value: T;
  ignored: OptionIssue[];
}

// format 'password' (secretOption) is a hint for documentation and UIs, never a check.
const ajv = new Ajv({ useDefaults: true, coerceTypes: false, allErrors: true, strict: false, formats: { password: true } });
const compiled = new WeakMap<object, ValidateFunction>();

function validatorOf(schema: OptionSchema): ValidateFunction {
  let v = compiled.get(schema);
  if (!v) {
    v = ajv.compile(schema);
    compiled.set(schema, v);
  }
  return v;
}

const clone = <T>(v: T): T => (v === undefined ? v : (structuredClone(v) as T));

function pathOf(e: ErrorObject, field: string): string[] {
  const parts = field ? [field] : [];
  parts.push(...e.instancePath.split('/').filter(Boolean).map((p) => p.replace(/~1/g, '/').replace(/~0/g, '~')));
  const extra = (e.params as { additionalProperty?: string; missingProperty?: string }).additionalProperty ?? (e.params as { missingProperty?: string }).missingProperty;
  if (extra !== undefined) parts.push(extra);
  return parts;
}

/** A reason an operator can act on, for one ajv error. */
export function reasonOf(e: ErrorObject): string {
  switch (e.keyword) {
    case 'additionalProperties':
      return 'is not a known option';
    case 'required':
      return 'is required';
    case 'enum':
      return `must be one of ${((e.params as { allowedValues?: unknown[] }).allowedValues ?? []).map((v) => JSON.stringify(v)).join(', ')}`;
    case 'type':
      return `must be ${(e.params as { type?: string }).type === 'integer' ? 'an integer' : `a ${(e.params as { type?: string }).type}`}`;
    default:
      return e.message ?? 'is invalid';
  }
}

/** The most useful error first: a wrong key or type before the anyOf/oneOf summaries ajv adds. */
function ranked(errors: readonly ErrorObject[]): ErrorObject[] {
  const weight = (e: ErrorObject): number => (e.keyword === 'anyOf' || e.keyword === 'oneOf' ? 1 : 0);
  return [...errors].sort((a, b) => weight(a) - weight(b));
}

function toIssue(e: ErrorObject, field: string): OptionIssue {
  return { field: pathOf(e, field).join('.'), reason: reasonOf(e), kind: e.keyword === 'additionalProperties' ? 'unknown' : 'invalid' };
}

/** Removes the value at `path` (relative to `root`); false when there is nothing to remove. */
function drop(root: Record<string, unknown>, path: string[]): boolean {
  if (path.length === 0) return false;
  let node: unknown = root;
  for (const p of path.slice(0, -1)) {
    if (node === null || typeof node !== 'object') return false;
    node = (node as Record<string, unknown>)[p];
  }
  if (node === null || typeof node !== 'object') return false;
  const last = path[path.length - 1]!;
  if (Array.isArray(node)) return false;
  if (!(last in (node as Record<string, unknown>))) return false;
  delete (node as Record<string, unknown>)[last];
  return true;
}

export interface ParseArgs {
  /** Where the options sit in the request or spec, for messages: `options`, `sink.options`. */
  field: string;
  /** Drop what does not fit (and report it) instead of refusing. */
  lenient?: boolean;
  /** Appended to a refusal's message, e.g. which owner declares the option. */
  explain?: (issue: OptionIssue) => string | undefined;
}

export function parseOptions<T = Record<string, unknown>>(schema: OptionsObjectSchema, raw: unknown, args: ParseArgs): ParsedOptions<T> {
  const validate = validatorOf(schema);
  const value = clone(raw ?? {}) as Record<string, unknown>;
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    if (args.lenient) return { value: parseOptions<T>(schema, {}, args).value, ignored: [{ field: args.field, reason: 'must be an object', kind: 'invalid' }] };
    throw new SluiceError('VALIDATION_FAILED', `${args.field} must be an object`, { field: args.field, rule: 'type' });
  }
  const ignored: OptionIssue[] = [];
  // Each pass drops what ajv found; a dropped value may uncover a default, so re-validate.
  for (let pass = 0; pass < 20; pass++) {
    if (validate(value)) return { value: value as T, ignored };
    const errors = ranked(validate.errors ?? []);
    if (!args.lenient) {
      const first = toIssue(errors[0]!, args.field);
      const more = args.explain?.(first);
      throw new SluiceError('VALIDATION_FAILED', `${first.field} ${first.reason}${more ? `: ${more}` : ''}`, {
        field: first.field,
        rule: errors[0]!.keyword,
        errors: errors.slice(0, 10).map((e) => toIssue(e, args.field)),
      });
    }
    let dropped = false;
    for (const e of errors) {
      const rel = pathOf(e, '');
      // A bad value inside an anyOf is reported on the value itself; drop that.
      if (drop(value, rel)) {
        ignored.push(toIssue(e, args.field));
        dropped = true;
      }
    }
    if (!dropped) break;
  }
  // Nothing left to drop and still invalid (a required option missing): refuse even when lenient.
  const first = toIssue(ranked(validate.errors ?? [])[0]!, args.field);
  throw new SluiceError('VALIDATION_FAILED', `${first.field} ${first.reason}`, { field: first.field });
}

/** The keys of `raw` that `schema` declares. */
export function ownKeys(schema: OptionsObjectSchema, raw: unknown): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  if (raw === null || typeof raw !== 'object') return out;
  for (const [k, v] of Object.entries(raw)) if (Object.hasOwn(schema.properties, k)) out[k] = v;
  return out;
}

/**
 * A connector's own options out of what it was handed (a stream's options hold other
 * owners' keys too), defaults applied, anything invalid dropped: typed by the caller,
 * who declares the interface beside the schema.
 */
export function readOptions<T>(schema: OptionsObjectSchema, raw: unknown): T {
  return parseOptions<T>(schema, ownKeys(schema, raw), { field: 'options', lenient: true }).value;
}
