/**
 * The one place that maps a connection `kind` to its connector module. The
 * supervisor and the API look connectors up here and never import one directly,
 * so adding a connector is one `registerConnector` call.
 */
import type { ConnectorModule, SqlDialect } from '../core';
import { SluiceError } from '../errors';

export class UnknownConnectorError extends SluiceError {
  constructor(kind: string, supported: string[]) {
    super('CONNECTOR_UNKNOWN', `no connector of kind "${kind}"; supported kinds: ${supported.join(', ') || '(none)'}`, { kind, supported });
    this.name = 'UnknownConnectorError';
  }
}

export class DuplicateConnectorError extends SluiceError {
  constructor(kind: string) {
    super('CONNECTOR_DUPLICATE', `a connector (or alias) named "${kind}" is already registered`, { kind });
    this.name = 'DuplicateConnectorError';
  }
}

export interface ConnectorAlias {
  alias: string;
  kind: string;
  deprecated: true;
}

export interface ResolvedConnector {
  module: ConnectorModule;
  /** Set when the caller used an old name: log it so operators migrate their configs. */
  deprecatedAlias?: string;
}

export interface ConnectorRegistry {
  register(mod: ConnectorModule): void;
  /** An old name kept working for a renamed connector; always reported as deprecated. */
  registerAlias(alias: string, kind: string): void;
  get(kind: string): ConnectorModule;
  resolve(kind: string): ResolvedConnector;
  /** The module for `kind` or one of its aliases, or undefined: for callers that answer an unknown kind themselves. */
  find(kind: string): ConnectorModule | undefined;
  has(kind: string): boolean;
  list(): ConnectorModule[];
  /** The kinds (sorted) whose module passes `filter` (all without one): the "supported kinds" of an error. */
  kinds(filter?: (mod: ConnectorModule) => boolean): string[];
  listAliases(): ConnectorAlias[];
}

export function createRegistry(): ConnectorRegistry {
  const modules = new Map<string, ConnectorModule>();
  const aliases = new Map<string, string>();
  const taken = (name: string): boolean => modules.has(name) || aliases.has(name);

  const lookup = (kind: string): ResolvedConnector | undefined => {
    const direct = modules.get(kind);
    if (direct) return { module: direct };
    const target = aliases.get(kind);
    const viaAlias = target === undefined ? undefined : modules.get(target);
    return viaAlias ? { module: viaAlias, deprecatedAlias: kind } : undefined;
  };
  const resolve = (kind: string): ResolvedConnector => {
    const found = lookup(kind);
    if (found) return found;
    throw new UnknownConnectorError(kind, [...modules.keys()].sort());
  };
  const list = (): ConnectorModule[] => [...modules.values()].sort((a, b) => a.kind.localeCompare(b.kind));

  return {
    register(mod) {
      if (!mod.kind) throw new TypeError('a connector module needs a non-empty kind');
      if (taken(mod.kind)) throw new DuplicateConnectorError(mod.kind);
      modules.set(mod.kind, mod);
    },
    registerAlias(alias, kind) {
      if (taken(alias)) throw new DuplicateConnectorError(alias);
      // Aliases point at real kinds only: a chain of renames would hide which name is current.
      if (!modules.has(kind)) throw new UnknownConnectorError(kind, [...modules.keys()].sort());
      aliases.set(alias, kind);
    },
    get: (kind) => resolve(kind).module,
    resolve,
    find: (kind) => lookup(kind)?.module,
    has: (kind) => modules.has(kind) || aliases.has(kind),
    list,
    kinds: (filter = () => true) => list().filter(filter).map((m) => m.kind),
    listAliases: () =>
      [...aliases.entries()]
        .map(([alias, kind]) => ({ alias, kind, deprecated: true as const }))
        .sort((a, b) => a.alias.localeCompare(b.alias)),
  };
}

/**
 * The SQL dialect of a source kind's whereClauses, as its connector declares it (no
 * guessing from the kind's name): VALIDATION_FAILED for a kind that takes no SQL filters.
 */
export function sourceDialect(registry: ConnectorRegistry, kind: string): SqlDialect {
  return moduleDialect(registry.find(kind) ?? { kind }, registry.kinds((m) => m.dialect !== undefined));
}

/** sourceDialect for a module already looked up. */
export function moduleDialect(mod: Pick<ConnectorModule, 'kind' | 'dialect'>, supported?: string[]): SqlDialect {
  if (!mod.dialect) {
    throw new SluiceError('VALIDATION_FAILED', `the ${mod.kind} connector takes no SQL whereClause${supported ? ` (kinds that do: ${supported.join(', ') || 'none'})` : ''}`, { kind: mod.kind, field: 'source.connectionId' });
  }
  return mod.dialect;
}

/** The daemon's registry; tests build their own with createRegistry(). */
export const defaultRegistry: ConnectorRegistry = createRegistry();

export function registerConnector(mod: ConnectorModule): void {
  defaultRegistry.register(mod);
}

export function getConnector(kind: string): ConnectorModule {
  return defaultRegistry.get(kind);
}

export function listConnectors(): ConnectorModule[] {
  return defaultRegistry.list();
}
