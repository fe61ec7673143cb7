/**
 * What the routes that read a stream's source and sink without running it share
 * (POST /streams/{id}/verify, POST /streams/{id}/mapping/preview): the errors they can
 * answer with, and the stream's two connections with their passwords put back.
 */
import type { ApiDeps } from '../deps';
import { SluiceError, type ErrorCode } from '../../errors';
import type { ConnectionSpec, StreamSpec } from '../../core';
import { PASSWORDS_PROPERTY } from '../schemas';

/** Every error a read of the stream's source and sink can end in, for the OpenAPI responses. */
export const STREAM_READ_ERRORS: readonly ErrorCode[] = [
  'CONNECTION_PASSWORD_REQUIRED',
  'CONNECTION_NOT_FOUND',
  'MAPPING_NOT_FOUND',
  'MAPPING_INVALID',
  'CONNECTOR_ROLE_UNSUPPORTED',
  'SOURCE_TABLE_NOT_FOUND',
  'FILTER_CLAUSE_INVALID',
  'FILTER_COLUMN_UNKNOWN',
  'FILTER_COLUMNS_INVALID',
  'SOURCE_TYPE_UNSUPPORTED',
  'SOURCE_PRIVILEGES_MISSING',
  'SOURCE_CONFIG_INVALID',
  'SINK_DATABASE_MISSING',
  'CONFIG_INVALID',
  'SOURCE_UNREACHABLE',
  'SOURCE_AUTH_FAILED',
  'SOURCE_READ_FAILED',
  'SINK_UNREACHABLE',
  'SOURCE_SCHEMA_FORBIDDEN',
  'CONNECTION_PROTOCOL_MISMATCH',
  'CONNECTION_URL_INVALID',
];

/** The request body: `passwords` (for connections saved with savePassword:false) and the route's own fields, nothing else. */
export function streamReadBody<P extends Record<string, object>>(properties: P) {
  return { type: 'object', additionalProperties: false, properties: { passwords: PASSWORDS_PROPERTY, ...properties } } as const;
}

/**
 * The stream's source and sink connections, with the passwords supplied in the body, else
 * those held for the stream's current or last run (connections saved with savePassword:false).
 */
export async function streamConnections(
  deps: Pick<ApiDeps, 'store' | 'supervisor'>,
  streamId: string,
  spec: Pick<StreamSpec, 'source' | 'sink'>,
  supplied: Readonly<Record<string, string>> | undefined,
): Promise<{ source: ConnectionSpec; sink: ConnectionSpec }> {
  const passwords = { ...deps.supervisor.heldPasswords(streamId), ...supplied };
  const source = await deps.store.connections.resolve(spec.source.connectionId, passwords[spec.source.connectionId]);
  const sink = await deps.store.connections.resolve(spec.sink.connectionId, passwords[spec.sink.connectionId]);
  if (!source || !sink) {
    throw new SluiceError('CONNECTION_NOT_FOUND', `A connection of stream ${streamId} no longer exists.`, { id: !source ? spec.source.connectionId : spec.sink.connectionId });
  }
  return { source, sink };
}
