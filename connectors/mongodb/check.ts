/**
 * `POST /connections/{id}/test` for a MongoDB sink: reachable, which server, the
 * database is named, and a write goes through. Reports problems as failed checks
 * with a suggestion; it never throws for a bad or unreachable server.
 */
import type { Logger } from 'pino';
import type { MongoClient } from 'mongodb';
import type { CheckResult, ConnectionSpec, TestReport } from '../../src/core';
import { ERRORS, isSluiceError } from '../../src/errors';
import { tlsFailure } from '../../src/connection-tls';
import { createClient, databaseFromUrl, describeUrl, detectServer, effectiveDecimalMode, effectiveWriteConcern, parseOptions, probeMongoUrl, serverLabel } from './client';
import type { ProbeResult } from './wire-probe';

const PROBE_COLLECTION = '_sluice_probe';

const messageOf = (err: unknown): string => (err instanceof Error ? err.message : String(err));

export async function testConnection(connection: ConnectionSpec, logger: Logger): Promise<TestReport> {
  const checks: CheckResult[] = [];
  const where = describeUrl(connection.url);

  let database: string | null = null;
  try {
    database = databaseFromUrl(connection.url);
    checks.push({ name: 'database', ok: true, message: `Target database is "${database}".`, detail: { database } });
  } catch (err) {
    checks.push({
      name: 'database',
      ok: false,
      message: messageOf(err),
      suggestion: isSluiceError(err) ? err.suggestion : 'Name the target database in the connection string: mongodb://host:port/<database>.',
    });
  }

  let options: ReturnType<typeof parseOptions>;
  try {
    options = parseOptions(connection.options);
  } catch (err) {
    checks.push({ name: 'options', ok: false, message: messageOf(err), ...(isSluiceError(err) ? { suggestion: err.suggestion } : {}) });
    options = parseOptions({});
  }
  // The wire probe first (wire-probe.ts): a port where something else answers never reaches the driver.
  let probed: ProbeResult[];
  try {
    probed = await probeMongoUrl(connection.url, 3000, options.tls !== undefined);
  } catch (err) {
    const e = err as { code?: string; message?: string };
    checks.push({
      name: 'connect',
      ok: false,
      code: isSluiceError(err) ? err.code : 'SINK_UNREACHABLE',
      message: `${where}: ${messageOf(err)}`,
      suggestion: isSluiceError(err) ? err.suggestion : 'Use mongodb://[user:password@]host:port/<database>[?options].',
    });
    logger.debug({ code: e.code, server: where }, 'mongodb test: refused by the wire probe');
    return { reachable: false, checks };
  }
  if (!probed.some((r) => r.outcome === 'mongodb')) {
    // No seed answered a hello: the driver could do no better, so the test ends here, in bounded time.
    const closed = probed.every((r) => r.outcome === 'closed');
    checks.push({
      name: 'connect',
      ok: false,
      code: closed ? 'CONNECTION_PROTOCOL_MISMATCH' : 'SINK_UNREACHABLE',
      message: `No MongoDB server answers at ${where}: ${probed.map((r) => `${r.host}: ${'reason' in r ? r.reason : r.outcome}`).join('; ')}`,
      suggestion: closed
        ? 'The server accepted the connection and closed it on a MongoDB hello: check the port (is it a MongoDB server?) and the URL\'s tls option (tls=true for a server that only speaks TLS, none for one that does not).'
        : 'Check that the server is running, that host and port are right and reachable from sluice.',
      detail: { hosts: probed.map((r) => ({ host: r.host, outcome: r.outcome })) },
    });
    return { reachable: false, checks };
  }
  let client: MongoClient;
  try {
    // Short: a test answers in seconds, whatever the sink's own retry settings.
    client = createClient(connection.url, { serverSelectionTimeoutMS: Math.min(options.serverSelectionTimeoutMS, 3000), ...(options.tls ? { tls: options.tls } : {}) });
  } catch (err) {
    checks.push({ name: 'connect', ok: false, message: `The connection string is not valid: ${messageOf(err)}`, suggestion: 'Use mongodb://[user:password@]host:port/<database>[?options].' });
    return { reachable: false, checks };
  }

  try {
    try {
      await client.db('admin').command({ ping: 1 });
      checks.push({ name: 'connect', ok: true, message: `Connected to ${where}.` });
    } catch (err) {
      logger.debug({ err: messageOf(err), server: where }, 'mongodb test: ping failed');
      const tls = tlsFailure(err);
      checks.push({
        name: 'connect',
        ok: false,
        code: tls?.code ?? 'SINK_UNREACHABLE',
        message: tls ? `TLS to MongoDB at ${where} failed: ${tls.message}` : `Cannot reach MongoDB at ${where}: ${messageOf(err)}`,
        suggestion: tls ? ERRORS[tls.code].suggestion : 'Check that the server is running, that host and port are right and reachable from sluice, and the credentials.',
        ...(tls ? { detail: { reason: tls.reason } } : {}),
      });
      return { reachable: false, checks };
    }

    let version: string | undefined;
    try {
      const info = await detectServer(client);
      version = serverLabel(info);
      const decimals = effectiveDecimalMode(options, info);
      checks.push({
        name: 'server',
        ok: true,
        message: `${version}${info.replicaSet ? `, replica set ${info.replicaSet}` : ', not a replica set'}.`,
        detail: {
          product: info.product,
          version: info.version,
          replicaSet: info.replicaSet,
          writeConcern: effectiveWriteConcern(options, info),
          decimals,
        },
        ...(decimals === 'string'
          ? { suggestion: 'This server has no Decimal128: exact decimals are stored as strings with their exact text.' }
          : {}),
      });
    } catch (err) {
      checks.push({ name: 'server', ok: false, message: `Could not read the server version: ${messageOf(err)}`, suggestion: 'Grant the user the buildInfo and hello commands (any role has them by default).' });
    }

    if (database) {
      const coll = client.db(database).collection(PROBE_COLLECTION);
      const probeId = `probe-${process.pid}-${Date.now()}`;
      try {
        await coll.insertOne({ _id: probeId as never, at: new Date() });
        await coll.deleteOne({ _id: probeId as never });
        checks.push({ name: 'write', ok: true, message: `Inserted and deleted a document in ${database}.${PROBE_COLLECTION}.` });
      } catch (err) {
        checks.push({
          name: 'write',
          ok: false,
          message: `Cannot write to ${database}.${PROBE_COLLECTION}: ${messageOf(err)}`,
          suggestion: `Give the user the readWrite role on database "${database}".`,
        });
      }
    }
    return { reachable: true, ...(version ? { version } : {}), checks };
  } finally {
    await client.close().catch(() => undefined);
  }
}
