/** Helpers for the PostgreSQL integration tests: drive a Source directly against the stack's server. */
import { Client } from 'pg';
import type { StreamSpec } from '../../src/core';
import { PostgresSource } from './source';
import { slotName } from './naming';
import { stackUrl, unlessServer } from '../../test/helpers/stack';
import { waitFor } from '../../test/helpers/wait-for';
import { logger } from '../../test/helpers/source-driver';

export { context, logger, Puller, uniqueId } from '../../test/helpers/source-driver';

/** The stack's PostgreSQL; only SLUICE_TEST_POSTGRES_URL is needed to run these tests alone. */
export const postgresUrl = (): string | undefined => stackUrl('postgres');

export const skipReason = (): string | false => unlessServer('postgres');

export async function admin(): Promise<Client> {
  const c = new Client({ connectionString: postgresUrl() });
  c.on('error', () => undefined); // a server restart shows up on the next query instead
  await c.connect();
  return c;
}

export function streamSpec(id: string, tables: string[], options: Record<string, unknown> = {}, extra: Partial<StreamSpec> = {}): StreamSpec {
  return {
    id,
    name: id,
    source: { connectionId: 'pg' },
    sink: { connectionId: 'mongo' },
    transport: { kind: 'direct' },
    mode: 'CDC',
    tables,
    options,
    ...extra,
  };
}

export function makeSource(stream: StreamSpec, url = postgresUrl()!): PostgresSource {
  return new PostgresSource({ connection: { id: 'pg', name: 'pg', kind: 'postgresql', url, options: {} }, stream, logger });
}

export async function confirmedFlush(c: Client, streamId: string): Promise<bigint | null> {
  const { rows } = await c.query('SELECT confirmed_flush_lsn::text AS lsn FROM pg_replication_slots WHERE slot_name = $1', [slotName(streamId)]);
  const lsn = (rows[0] as { lsn: string | null } | undefined)?.lsn;
  if (!lsn) return null;
  const [hi, lo] = lsn.split('/');
  return (BigInt(`0x${hi}`) << 32n) | BigInt(`0x${lo}`);
}

/** Drops what a test's source created, whatever state it is in. */
export async function cleanup(source: PostgresSource): Promise<void> {
  await source.close().catch(() => undefined);
  await source.drop().catch(() => undefined);
}

/**
 * Resolves once a walsender streams from the stream's slot. (The slot shows up as
 * "active" already while pg_create_logical_replication_slot waits for a consistent
 * point; writes made before that point are not part of the stream.)
 */
export async function streaming(c: Client, streamId: string): Promise<void> {
  await waitFor(
    async () =>
      ((await c.query('SELECT 1 FROM pg_replication_slots s JOIN pg_stat_replication r ON r.pid = s.active_pid WHERE s.slot_name = $1', [slotName(streamId)])).rowCount ?? 0) > 0,
    { timeoutMs: 20_000, intervalMs: 20, message: `a walsender on ${slotName(streamId)}` },
  );
}
