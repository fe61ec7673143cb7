/**
 * What a run is made of, resolved before it is opened: the stream (its mapping resource
 * resolved into rules), both connections (with the passwords supplied for this run) and
 * the connector modules that play source and sink. A bad reference is the caller's error
 * (a 4xx), never a failed run.
 */
import type { ConnectionSpec, ConnectorContext, ConnectorModule, StreamSpec } from '../core';
import type { StreamPersistence } from './persistence';
import type { ConnectorRegistry } from './registry';
import { ConnectionNotFoundError, ConnectorRoleError, MappingNotFoundError, StreamNotFoundError } from './supervisor-types';
import { checkStoredOptions, type OptionWarning } from './run-options';
import { TOPICS_SOURCE_KIND, topicsStream } from '../transport/kafka/topics-source';

/** Everything a run needs, resolved and validated by the supervisor beforehand. */
export interface RunPlan {
  stream: StreamSpec;
  sourceConnection: ConnectionSpec;
  sinkConnection: ConnectionSpec;
  sourceModule: ConnectorModule;
  sinkModule: ConnectorModule;
  /** Stored options the start dropped (unknown, or a value that does not fit), for the operator. */
  warnings?: OptionWarning[];
}

/** The id of the mapping resource a stream names (`"mapping": {"mappingId": "…"}`), if it names one. */
export function mappingIdOf(stream: Pick<StreamSpec, 'mapping'>): string | undefined {
  const id = stream.mapping?.mappingId;
  return typeof id === 'string' ? id : undefined;
}

/**
 * A stream whose `mapping` names a mapping resource gets that resource's rules, as
 * they are now: a mapping changed between runs takes effect at the next start.
 */
export async function resolveMapping(stream: StreamSpec, store: Pick<StreamPersistence, 'getMapping'>): Promise<StreamSpec> {
  const mappingId = mappingIdOf(stream);
  if (mappingId === undefined) return stream;
  const mapping = await store.getMapping(mappingId);
  if (!mapping) throw new MappingNotFoundError(mappingId, stream.id);
  // The id stays beside the rules: a shared resource may hold rules for tables this stream
  // does not read, which validateMapping then leaves out instead of refusing.
  return { ...stream, mapping: { mappingId, ...mapping } as Record<string, unknown> };
}

/**
 * Resolves connections, connectors and the mapping before a run is opened, so a bad
 * reference is the caller's error (a 4xx), not a failed run. `resolveMappings: false`
 * for callers that never write (release drops the slot of a stream whatever it maps).
 */
export async function planRun(
  streamId: string,
  store: StreamPersistence,
  registry: ConnectorRegistry,
  logger: ConnectorContext['logger'],
  opts: {
    /** false for callers that never write (release drops the slot of a stream whatever it maps). */
    resolveMappings?: boolean;
    /** Passwords supplied for this run, by connection id (connections saved with savePassword:false). */
    passwords?: Readonly<Record<string, string>>;
  } = {},
): Promise<RunPlan> {
  const passwords = opts.passwords ?? {};
  const spec = await store.getStream(streamId);
  if (!spec) throw new StreamNotFoundError(streamId);
  let stream = opts.resolveMappings === false ? spec : await resolveMapping(spec, store);
  const sourceConnection = await store.getConnection(stream.source.connectionId, passwords[stream.source.connectionId]);
  if (!sourceConnection) throw new ConnectionNotFoundError(stream.source.connectionId, streamId);
  const sinkConnection = await store.getConnection(stream.sink.connectionId, passwords[stream.sink.connectionId]);
  if (!sinkConnection) throw new ConnectionNotFoundError(stream.sink.connectionId, streamId);
  const module = (kind: string, role: 'source' | 'sink') => roleModule(registry, logger, streamId, kind, role);
  const sourceModule = module(sourceConnection.kind, 'source');
  const sinkModule = module(sinkConnection.kind, 'sink');
  // A kafka source reads existing topics: CDC_ONLY, its connection as the stream's transport.
  if (sourceModule.kind === TOPICS_SOURCE_KIND) stream = topicsStream(stream);
  // Options as the connectors get them: parsed, defaults applied; what a stored spec holds that does not fit is dropped and told.
  const checked = checkStoredOptions(registry, { stream, source: sourceConnection, sink: sinkConnection, ...(await transportConnection(stream, store)) });
  return { stream: checked.stream, sourceConnection: checked.source, sinkConnection: checked.sink, sourceModule, sinkModule, warnings: checked.warnings };
}

/** The stream's kafka connection, for checking its options; none when it names none (or it needs a password not given). */
async function transportConnection(stream: StreamSpec, store: StreamPersistence): Promise<{ transport?: ConnectionSpec }> {
  const id = stream.transport && 'connectionId' in stream.transport ? stream.transport.connectionId : undefined;
  try {
    const conn = id === undefined ? undefined : await store.getConnection(id);
    return conn ? { transport: conn } : {};
  } catch {
    return {};
  }
}

function roleModule(registry: ConnectorRegistry, logger: ConnectorContext['logger'], streamId: string, kind: string, role: 'source' | 'sink'): ConnectorModule {
  const { module: mod, deprecatedAlias } = registry.resolve(kind);
  if (deprecatedAlias) logger.warn({ streamId, alias: deprecatedAlias, kind: mod.kind }, 'connection kind is a deprecated alias');
  if (!mod.roles.includes(role) || !(role === 'source' ? mod.createSource : mod.createSink)) {
    const supported = registry.kinds((m) => m.roles.includes(role));
    throw new ConnectorRoleError(kind, role, supported);
  }
  return mod;
}

/** planRun's sink side alone (the stream's own spec, no mapping resolved): the source connection's password is not needed. */
export async function planSink(
  streamId: string,
  store: StreamPersistence,
  registry: ConnectorRegistry,
  logger: ConnectorContext['logger'],
  passwords: Readonly<Record<string, string>> = {},
): Promise<Pick<RunPlan, 'stream' | 'sinkConnection' | 'sinkModule'>> {
  const stream = await store.getStream(streamId);
  if (!stream) throw new StreamNotFoundError(streamId);
  const sinkConnection = await store.getConnection(stream.sink.connectionId, passwords[stream.sink.connectionId]);
  if (!sinkConnection) throw new ConnectionNotFoundError(stream.sink.connectionId, streamId);
  return { stream, sinkConnection, sinkModule: roleModule(registry, logger, streamId, sinkConnection.kind, 'sink') };
}
