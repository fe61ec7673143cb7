/**
 * A stream's `options` are one flat object shared by several owners (src/core/options.ts):
 * the run itself, the stream's source, its sink and its transport. This composes the
 * declarations of the owners one stream uses into the schema its options are parsed
 * with, and all declarations of every kind into the one the API documents.
 */
import type { OptionSchema, OptionsObjectSchema } from '../core';
import { optionsObject } from '../core';

export type OwnerRole = 'run' | 'source' | 'sink' | 'transport';

/** One declaration of stream options and who made it. */
export interface OptionOwner {
  role: OwnerRole;
  /** The connector or transport kind; none for the run's own options. */
  kind?: string;
  schema: OptionsObjectSchema;
}

/** "the postgresql source", "the run", for messages and docs. */
export function ownerLabel(o: Pick<OptionOwner, 'role' | 'kind'>): string {
  return o.role === 'run' ? 'every stream (run options)' : `the ${o.kind} ${o.role}`;
}

/** A key two owners of one stream both declare: a bug in a declaration, found by a unit test. */
export class OptionCollisionError extends Error {
  constructor(key: string, a: OptionOwner, b: OptionOwner) {
    super(`stream option "${key}" is declared by both ${ownerLabel(a)} and ${ownerLabel(b)}; each option has one owner`);
    this.name = 'OptionCollisionError';
  }
}

/** The options one stream accepts: the union of its owners' declarations. */
export function composeOptions(owners: readonly OptionOwner[]): { schema: OptionsObjectSchema; ownerOf: Map<string, OptionOwner> } {
  const properties: Record<string, OptionSchema> = {};
  const ownerOf = new Map<string, OptionOwner>();
  for (const owner of owners) {
    for (const [key, schema] of Object.entries(owner.schema.properties)) {
      const prior = ownerOf.get(key);
      if (prior) throw new OptionCollisionError(key, prior, owner);
      ownerOf.set(key, owner);
      properties[key] = schema;
    }
  }
  return { schema: optionsObject(properties), ownerOf };
}

const KIND_LABELS: Record<OwnerRole, string> = { run: 'every stream', source: 'source', sink: 'sink', transport: 'transport' };

/** "PostgreSQL and MySQL sources" style prefix: who reads an option. */
export function ownersText(owners: readonly Pick<OptionOwner, 'role' | 'kind'>[]): string {
  if (owners.some((o) => o.role === 'run')) return KIND_LABELS.run;
  return owners.map((o) => `${o.kind} ${KIND_LABELS[o.role]}`).join(', ');
}

/**
 * Every stream option of every owner, for the API's schema and documentation: each
 * option says who reads it (`x-sluice-owners` and its description). A key several
 * connectors declare (both SQL sources have `snapshotChunkSize`) appears once, with
 * the first declaration's schema; the per-kind documents keep each one exact.
 */
export function documentedUnion(owners: readonly OptionOwner[]): OptionsObjectSchema {
  const byKey = new Map<string, { schema: OptionSchema; owners: OptionOwner[] }>();
  for (const owner of owners) {
    for (const [key, schema] of Object.entries(owner.schema.properties)) {
      const seen = byKey.get(key);
      if (seen) seen.owners.push(owner);
      else byKey.set(key, { schema, owners: [owner] });
    }
  }
  const properties: Record<string, OptionSchema> = {};
  for (const [key, { schema, owners: os }] of [...byKey].sort(([a], [b]) => a.localeCompare(b))) {
    const who = ownersText(os);
    properties[key] = {
      ...schema,
      description: `(${who}) ${schema.description ?? ''}`.trim(),
      ...({ 'x-sluice-owners': os.map((o) => (o.kind ? `${o.role}:${o.kind}` : o.role)) } as object),
    };
  }
  return optionsObject(properties);
}

/** A copy without `default` keywords: the API's validator must not fill in another kind's defaults. */
export function withoutDefaults<T>(schema: T): T {
  if (Array.isArray(schema)) return schema.map((s: unknown) => withoutDefaults(s)) as T;
  if (schema === null || typeof schema !== 'object') return schema;
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(schema)) {
    if (k === 'default' || k === 'example') continue;
    if (k === 'properties' && v && typeof v === 'object') {
      // Option names are keys here, not keywords: an option may be called "default".
      out[k] = Object.fromEntries(Object.entries(v).map(([name, s]) => [name, withoutDefaults(s)]));
    } else {
      out[k] = k === 'enum' ? v : withoutDefaults(v);
    }
  }
  return out as T;
}
