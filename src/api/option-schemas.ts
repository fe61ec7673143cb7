/**
 * The API's schemas for options, built from the connector registry when the API is
 * built, so that every declared option (connectors/<kind>/options.ts, the Kafka
 * transport, the run's own) reaches validation and the OpenAPI document, and nothing
 * else does:
 *
 * - a connection's body is one schema per kind (`PostgresqlConnection`, …), chosen by
 *   `kind` (oneOf + discriminator), each with its kind's `options`
 *   (`PostgresqlConnectionOptions`, …);
 * - a stream's `options` are documented as one object holding every stream option,
 *   each saying who reads it (`StreamOptions`), with per-kind documents beside it
 *   (`PostgresqlStreamOptions`, `RunStreamOptions`, …). Which of them a given stream
 *   takes depends on the kinds of the connections it names, so the route checks that
 *   exactly (runtime/run-options.ts parseStreamOptions).
 *
 * Component schemas carry defaults for the docs; the validator gets copies without
 * them, so a body is stored as sent and defaults apply when options are parsed (a
 * changed default reaches existing connections and streams).
 */
import type { OptionsObjectSchema } from '../core';
import { withoutDefaults } from '../options';
import type { ConnectorRegistry } from '../runtime/registry';
import { documentedStreamOptions, RUN_OPTIONS } from '../runtime/run-options';
import { nameSchema } from './schemas';

/** `postgresql` → `Postgresql`, `my-kind` → `MyKind`: a component name part. */
export function pascal(kind: string): string {
  return kind
    .split(/[^A-Za-z0-9]+/)
    .filter(Boolean)
    .map((p) => p[0]!.toUpperCase() + p.slice(1))
    .join('');
}

const ref = (id: string) => ({ $ref: `${id}#` }) as const;

export interface OptionSchemas {
  /** Connection kinds, in the registry's order. */
  kinds: string[];
  /** Shared schemas with defaults: `app.addSchema` (they become OpenAPI components). */
  docs: Array<Record<string, unknown> & { $id: string }>;
  /** The same $ids without defaults, for the body validator. */
  validation: Array<Record<string, unknown> & { $id: string }>;
  /** POST /connections body: the per-kind bodies, chosen by `kind`. */
  connectionBody: Record<string, unknown>;
  /** A stream's `options` (every option of every kind, see StreamOptions). */
  streamOptions: Record<string, unknown>;
  /** A stream's `transport`: kind, connectionId, and the fields transports declare. */
  transportBody: Record<string, unknown>;
}

/** Fields of a connection body, the same for every kind. */
export const CONNECTION_FIELDS = {
  name: nameSchema,
  url: {
    type: 'string',
    minLength: 1,
    maxLength: 4096,
    description:
      'postgresql://…, mysql://…, jdbc:…, mongodb://host[,host…]/db, mongodb+srv://…/db, or host:port,… for kafka (no credentials). Percent-encode reserved characters in the user and password; the password is split off and stored apart, or the URL refused with CONNECTION_URL_INVALID (README, "Security").',
  },
  password: { type: 'string', maxLength: 4096, writeOnly: true },
  passwordFile: {
    type: ['string', 'null'],
    minLength: 1,
    maxLength: 4096,
    description:
      'Instead of a password: a file holding it (e.g. /run/secrets/pg, a mounted Docker or Kubernetes secret), read each time the connection is used, so a rotated secret needs no API call. ' +
      'It must lie inside the directory the daemon allows (secrets.fileDir, SLUICE_SECRETS_FILE_DIR), after symbolic links; a relative path is taken from there. null (PATCH) drops it.',
  },
  savePassword: { type: 'boolean', default: true },
} as const;

export function optionSchemas(registry: ConnectorRegistry): OptionSchemas {
  const mods = registry.list();
  const kinds = mods.map((m) => m.kind);
  const docs: OptionSchemas['docs'] = [];
  const add = (id: string, schema: OptionsObjectSchema | Record<string, unknown>, description: string): void => {
    docs.push({ ...schema, $id: id, description: (schema as { description?: string }).description ?? description });
  };
  for (const m of mods) {
    const name = pascal(m.kind);
    add(`${name}ConnectionOptions`, m.options.connection, `options of a ${m.kind} connection`);
    add(`${name}StreamOptions`, m.options.stream, `a stream's options that the ${m.kind} ${m.roles.join('/')} reads`);
    docs.push({
      $id: `${name}Connection`,
      type: 'object',
      additionalProperties: false,
      required: ['name', 'kind', 'url'],
      description: `A ${m.kind} connection${m.roles.length ? ` (${m.roles.join(', ')})` : ''}.`,
      properties: {
        ...CONNECTION_FIELDS,
        kind: { type: 'string', enum: [m.kind] },
        options: ref(`${name}ConnectionOptions`),
      },
    });
  }
  add('RunStreamOptions', RUN_OPTIONS, "a stream's options that the run itself reads, whatever its connectors");
  add('StreamOptions', documentedStreamOptions(registry), '');
  // The union's description: how the flat object is shared out.
  docs[docs.length - 1]!.description =
    "A stream's options, one flat object: each option belongs to the run (RunStreamOptions), to the stream's source, its sink or its transport " +
    '(e.g. PostgresqlStreamOptions, KafkaStreamOptions), and says so. A stream takes the options of the kinds it uses; another kind\'s option is refused naming it. ' +
    'Defaults apply when the stream starts; they are not stored.';
  return {
    kinds,
    docs,
    validation: docs.map((d) => withoutDefaults(d)),
    connectionBody: {
      type: 'object',
      required: ['kind'],
      discriminator: { propertyName: 'kind' },
      oneOf: kinds.map((k) => ref(`${pascal(k)}Connection`)),
    },
    streamOptions: { default: {}, allOf: [ref('StreamOptions')] },
    transportBody: transportBody(registry),
  };
}

function transportBody(registry: ConnectorRegistry): Record<string, unknown> {
  const transports = registry.list().filter((m) => m.roles.includes('transport'));
  const fields: Record<string, unknown> = {};
  for (const t of transports) {
    for (const [k, s] of Object.entries(t.options.transport?.properties ?? {})) fields[k] = { ...s, description: `(${t.kind}) ${s.description ?? ''}`.trim() };
  }
  return {
    type: 'object',
    additionalProperties: false,
    required: ['kind'],
    description: 'How the stream carries its events: direct (in-process) or kafka (a kafka connection, or the daemon\'s default brokers). Left out: kafka when the daemon has default brokers, else direct.',
    properties: {
      // direct is the in-process transport: it has no connection kind, hence no module.
      kind: { type: 'string', enum: ['direct', ...transports.map((t) => t.kind)] },
      connectionId: { type: 'string', pattern: '^[A-Za-z0-9-]+$', description: 'A connection of the transport\'s kind (kafka).' },
      ...Object.fromEntries(Object.entries(fields).map(([k, s]) => [k, withoutDefaults(s)])),
    },
  };
}

/**
 * OpenAPI 3.0 reads a discriminator's values from its `mapping` (else from component
 * names); ajv refuses `mapping`, so the document gets it here, from each branch's `kind`.
 */
export function addDiscriminatorMappings(doc: Record<string, unknown>): Record<string, unknown> {
  const components = ((doc.components as { schemas?: Record<string, { properties?: Record<string, { enum?: unknown[] }> }> } | undefined)?.schemas) ?? {};
  const visit = (node: unknown): void => {
    if (Array.isArray(node)) return node.forEach(visit);
    if (node === null || typeof node !== 'object') return;
    const n = node as { discriminator?: { propertyName: string; mapping?: Record<string, string> }; oneOf?: Array<{ $ref?: string }> };
    if (n.discriminator && !n.discriminator.mapping && n.oneOf) {
      const mapping: Record<string, string> = {};
      for (const branch of n.oneOf) {
        const name = branch.$ref?.replace('#/components/schemas/', '');
        const value = name ? components[name]?.properties?.[n.discriminator.propertyName]?.enum?.[0] : undefined;
        if (typeof value === 'string' && branch.$ref) mapping[value] = branch.$ref;
      }
      n.discriminator.mapping = mapping;
    }
    Object.values(node).forEach(visit);
  };
  visit(doc);
  return doc;
}
