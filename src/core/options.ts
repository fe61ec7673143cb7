/**
 * What a plugin (a connector, a transport) declares about the options it reads, where
 * it registers: JSON Schema with defaults, descriptions and examples. src/options
 * parses options with it (defaults, validation naming the field) and the API builds
 * its schemas and OpenAPI document from it, so each option is declared exactly once.
 *
 * The schemas use the part of JSON Schema that OpenAPI 3.0 shares (`example`, not
 * `examples`; `enum`, not `const`), plus two annotations:
 * - `x-secret`: a credential. Write-only (never returned by the API, never logged),
 *   stored encrypted; declare it with `secretOption()`.
 * - `x-advanced`: rarely needed; the README lists it apart and tools may hide it.
 *
 * How a stream's `options` are shared out (README "Options"): the object is flat, and
 * each key has one owner among the run itself, the stream's source connector, its
 * sink connector and its transport. The keys a stream accepts are the union of the
 * declarations of the owners it actually uses; a key declared by none of them is
 * refused, naming it. Two owners of one stream may not declare the same key.
 */

export type OptionType = 'string' | 'integer' | 'number' | 'boolean' | 'object' | 'array';

export interface OptionSchema {
  type?: OptionType;
  description?: string;
  default?: unknown;
  /** One typical value, shown in the docs (OpenAPI 3.0's `example`). */
  example?: unknown;
  enum?: readonly unknown[];
  minimum?: number;
  maximum?: number;
  minLength?: number;
  maxLength?: number;
  pattern?: string;
  properties?: Record<string, OptionSchema>;
  additionalProperties?: boolean | OptionSchema;
  items?: OptionSchema;
  anyOf?: readonly OptionSchema[];
  required?: readonly string[];
  writeOnly?: boolean;
  deprecated?: boolean;
  format?: string;
  'x-secret'?: boolean;
  'x-advanced'?: boolean;
}

/** The top of a declaration: an object of named options; unknown names are refused. */
export interface OptionsObjectSchema extends OptionSchema {
  type: 'object';
  properties: Record<string, OptionSchema>;
  additionalProperties: false;
}

/** What a connector (or a transport's connection kind) declares about the options it reads. */
export interface PluginOptions {
  /** `options` of a connection of this kind. */
  connection: OptionsObjectSchema;
  /** The keys of a stream's `options` this plugin reads when a stream uses it (as source, sink or transport). */
  stream: OptionsObjectSchema;
  /**
   * Transports only: the fields of a stream's `transport` object besides `kind` and
   * `connectionId` (e.g. a serialization `format`).
   */
  transport?: OptionsObjectSchema;
}

/** The SQL dialect a source writes its whereClauses (and the preview's `where`) in. */
export type SqlDialect = 'postgresql' | 'mysql';

/** An object of options; unknown keys are refused. */
export function optionsObject(properties: Record<string, OptionSchema>, extra: Omit<OptionSchema, 'type' | 'properties' | 'additionalProperties'> = {}): OptionsObjectSchema {
  return { ...extra, type: 'object', additionalProperties: false, properties };
}

/** No options at all. */
export const NO_OPTIONS: OptionsObjectSchema = optionsObject({});

/** A credential: write-only in the API, never logged, stored encrypted. */
export function secretOption(schema: OptionSchema): OptionSchema {
  return { ...schema, writeOnly: true, format: 'password', 'x-secret': true };
}

/** An option few operators need. */
export function advancedOption(schema: OptionSchema): OptionSchema {
  return { ...schema, 'x-advanced': true };
}
