/**
 * The options of the run itself (every stream has them, whatever its connectors), and
 * the catalogue that puts every declaration together: which options a connection of a
 * kind takes, which a stream takes given its source, sink and transport, and how a
 * stored spec is checked when a run starts.
 *
 * Run-level settings (errorHandling, errorTolerance, the retry policy `retry
 * {maxRetries, maxBackoffMs, timeoutMs}`) are declared here once: the API, OpenAPI,
 * the README table and the run's parse all have them.
 */
import { optionsObject, type ConnectionSpec, type OptionsObjectSchema, type StreamSpec } from '../core';
import { composeOptions, documentedUnion, ownerLabel, parseOptions, secretPaths, type OptionIssue, type OptionOwner, type ParsedOptions } from '../options';
import type { ConnectorRegistry } from './registry';
import { IN_FLIGHT_BYTES } from './in-flight';

export const RUN_OPTIONS: OptionsObjectSchema = optionsObject({
  errorHandling: {
    type: 'string',
    enum: ['FAIL', 'WARN', 'SKIP'],
    default: 'FAIL',
    description: 'What a record the sink cannot convert or write does (README "Record errors"): FAIL the run, or dead-letter it with a WARNING job update (WARN) or quietly (SKIP).',
  },
  errorTolerance: { type: 'integer', minimum: 0, maximum: 1000000000, default: 0, description: 'Under WARN and SKIP: bad records tolerated per run; the next one fails it (RECORD_ERROR_TOLERANCE_EXCEEDED).' },
  inFlightBytes: {
    type: 'integer',
    minimum: 0,
    maximum: 1073741824,
    default: IN_FLIGHT_BYTES,
    description:
      'Pipelined publishing: how many bytes of batches (their rows in memory, roughly) may be on their way to the transport at once while the source reads on. Each position is acked and saved only once its batch and every earlier one are durable. 0: one batch at a time. Default 4 MiB.',
  },
  retry: {
    type: 'object',
    additionalProperties: false,
    default: {},
    description:
      'How a run heals (README "Self-healing"): a failure with a retriable code (SOURCE_UNREACHABLE, SINK_UNREACHABLE, KAFKA_UNREACHABLE, …) restarts the run from its last saved position after a jittered exponential backoff, the stream staying RUNNING; other failures, or retries past these bounds, fail it. Default: retry for ever.',
    properties: {
      maxRetries: { type: 'integer', minimum: 0, maximum: 1000000000, description: 'Restarts in a row before the stream fails (0: fail at once, as before sluice retried). Unset: no limit.' },
      maxBackoffMs: { type: 'integer', minimum: 1000, maximum: 86400000, default: 60000, description: 'Longest wait between two restarts, in milliseconds (the first waits about 1 s, doubling).' },
      timeoutMs: { type: 'integer', minimum: 0, maximum: 31536000000, description: 'How long, from the first failure of a series, restarts go on before the stream fails, in milliseconds. Unset: no limit.' },
    },
  },
});

/** The kinds a stream's options depend on. `transport` undefined: not fixed yet (the daemon's default decides at start). */
export interface StreamKinds {
  source?: string;
  sink?: string;
  transport?: string;
}

function transportModules(registry: ConnectorRegistry, kind: string | undefined) {
  const all = registry.list().filter((m) => m.roles.includes('transport'));
  return kind === undefined ? all : all.filter((m) => m.kind === kind);
}

/** Who declares the options of a stream with these kinds: the run, its source, its sink, its transport(s). */
export function streamOptionOwners(registry: ConnectorRegistry, kinds: StreamKinds): OptionOwner[] {
  const owners: OptionOwner[] = [{ role: 'run', schema: RUN_OPTIONS }];
  const source = kinds.source === undefined ? undefined : registry.find(kinds.source);
  // A kafka source (existing topics) reads its stream options as the kafka transport does: one owner.
  if (source && !source.roles.includes('transport')) owners.push({ role: 'source', kind: source.kind, schema: source.options.stream });
  const sink = kinds.sink === undefined ? undefined : registry.find(kinds.sink);
  if (sink) owners.push({ role: 'sink', kind: sink.kind, schema: sink.options.stream });
  for (const t of transportModules(registry, kinds.transport)) owners.push({ role: 'transport', kind: t.kind, schema: t.options.stream });
  return owners;
}

/** Every owner of stream options this build has, for the API's documentation. */
export function allStreamOptionOwners(registry: ConnectorRegistry): OptionOwner[] {
  const owners: OptionOwner[] = [{ role: 'run', schema: RUN_OPTIONS }];
  for (const m of registry.list()) {
    const role = m.roles.includes('transport') ? 'transport' : m.roles.includes('source') ? 'source' : 'sink';
    owners.push({ role, kind: m.kind, schema: m.options.stream });
  }
  return owners;
}

/** The union of every stream option, each saying who reads it (the API's `options` schema). */
export function documentedStreamOptions(registry: ConnectorRegistry): OptionsObjectSchema {
  return documentedUnion(allStreamOptionOwners(registry));
}

/** "it is an option of the mysql source, and this stream's source is postgresql". */
function explainer(registry: ConnectorRegistry, kinds: StreamKinds): (issue: OptionIssue) => string | undefined {
  return (issue) => {
    if (issue.kind !== 'unknown') return undefined;
    const key = issue.field.split('.').at(-1)!;
    const elsewhere = allStreamOptionOwners(registry).filter((o) => Object.hasOwn(o.schema.properties, key));
    if (elsewhere.length === 0) return undefined;
    const mine = (role: string): string | undefined => (role === 'source' ? kinds.source : role === 'sink' ? kinds.sink : kinds.transport);
    return `it is an option of ${elsewhere.map(ownerLabel).join(' and ')}, and this stream's ${elsewhere[0]!.role} is ${mine(elsewhere[0]!.role) ?? 'another kind'}`;
  };
}

/** A stream's options against the owners it uses: strict at create/replace, lenient at a run's start. */
export function parseStreamOptions(registry: ConnectorRegistry, options: unknown, kinds: StreamKinds, lenient = false): ParsedOptions<StreamSpec['options']> {
  const { schema } = composeOptions(streamOptionOwners(registry, kinds));
  return parseOptions<StreamSpec['options']>(schema, options, { field: 'options', lenient, explain: explainer(registry, kinds) });
}

/** The fields a stream's `transport` object may have besides kind and connectionId, for this transport kind. */
export function transportFieldsSchema(registry: ConnectorRegistry, kind: string): OptionsObjectSchema {
  return transportModules(registry, kind)[0]?.options.transport ?? optionsObject({});
}

/**
 * A stream spec's options and `transport` fields against the kinds it uses, strictly
 * (create, replace, /validate): a 400 VALIDATION_FAILED naming the field.
 */
export function validateStreamOptions(registry: ConnectorRegistry, spec: Pick<StreamSpec, 'options' | 'transport'>, kinds: StreamKinds): void {
  parseStreamOptions(registry, spec.options ?? {}, kinds);
  if (spec.transport) {
    const { kind, connectionId: _id, ...fields } = spec.transport as { kind: string; connectionId?: string };
    parseOptions(transportFieldsSchema(registry, kind), fields, {
      field: 'transport',
      explain: () => `the ${kind} transport takes ${Object.keys(transportFieldsSchema(registry, kind).properties).join(', ') || 'no fields'} besides kind and connectionId`,
    });
  }
}

/** A connection's options against its kind's declaration; an unknown kind has no options to check. */
export function parseConnectionOptions(registry: ConnectorRegistry, kind: string, options: unknown, lenient = false, field = 'options'): ParsedOptions<Record<string, unknown>> {
  const mod = registry.find(kind);
  if (!mod) return { value: (options ?? {}) as Record<string, unknown>, ignored: [] };
  return parseOptions(mod.options.connection, options, {
    field,
    lenient,
    explain: (issue) => (issue.kind === 'unknown' ? `${kind} connections take ${Object.keys(mod.options.connection.properties).join(', ') || 'no options'}` : undefined),
  });
}

/** The dotted paths of a connection kind's secret options (x-secret), for the store to encrypt. */
export function secretOptionsOf(registry: ConnectorRegistry, kind: string): string[] {
  const mod = registry.find(kind);
  return mod ? secretPaths(mod.options.connection) : [];
}

/** Something a run's start dropped from a stored spec: told as a WARNING job update and logged. */
export interface OptionWarning {
  field: string;
  message: string;
  suggestion: string;
}

/**
 * A stored stream and its connections as a run receives them: options parsed with
 * their defaults. What does not fit (a key stored before sluice checked options, a
 * value an older version ignored) is dropped, never fatal, and comes back as a
 * warning that says how to fix the spec.
 */
export function checkStoredOptions(
  registry: ConnectorRegistry,
  args: { stream: StreamSpec; source: ConnectionSpec; sink: ConnectionSpec; transport?: ConnectionSpec },
): { stream: StreamSpec; source: ConnectionSpec; sink: ConnectionSpec; warnings: OptionWarning[] } {
  const warnings: OptionWarning[] = [];
  const conn = (c: ConnectionSpec): ConnectionSpec => {
    const parsed = parseConnectionOptions(registry, c.kind, c.options, true);
    for (const i of parsed.ignored) {
      warnings.push({
        field: i.field,
        message: `connection "${c.name}" (${c.kind}): option ${i.field} ${i.reason} and is ignored`,
        suggestion: `Fix or remove it: PATCH /api/v1/connections/${c.id} with the connection's whole "options". ${c.kind} connections take: ${Object.keys(registry.find(c.kind)?.options.connection.properties ?? {}).join(', ') || 'no options'}.`,
      });
    }
    return { ...c, options: parsed.value };
  };
  const kinds: StreamKinds = { source: args.source.kind, sink: args.sink.kind, ...(args.stream.transport?.kind ? { transport: args.stream.transport.kind } : {}) };
  const parsed = parseStreamOptions(registry, args.stream.options, kinds, true);
  for (const i of parsed.ignored) {
    const more = i.kind === 'unknown' ? explainer(registry, kinds)(i) : undefined;
    warnings.push({
      field: i.field,
      message: `stream option ${i.field} ${i.reason}${more ? ` (${more})` : ''} and is ignored`,
      suggestion: `Fix or remove it: stop the stream and PUT /api/v1/streams/${args.stream.id} with the corrected spec.`,
    });
  }
  const source = conn(args.source);
  const sink = conn(args.sink);
  if (args.transport) conn(args.transport);
  return { stream: { ...args.stream, options: parsed.value }, source, sink, warnings };
}
