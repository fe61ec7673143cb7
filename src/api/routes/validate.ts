/**
 * `POST /validate`: pre-flight checks of a stream spec, without creating or starting
 * anything (Atlas Live Migration's validate, Kafka Connect's config validation). Each
 * check passes or fails with a suggestion; a check that depends on a failed one is
 * reported as skipped. 200 whatever the checks say; 400 only for a malformed body.
 * The checks are the connectors' own (`test`, `checkTables`: the catalogue code their
 * start paths use), the filter compiler, the sink's probe write and a Kafka probe topic.
 */
import type { FastifyInstance } from 'fastify';
import type { Logger } from 'pino';
import type { ApiDeps } from '../deps';
import { parseTableName, type CheckResult, type ConnectionSpec, type ConnectorModule, type StreamSpec } from '../../core';
import { isSluiceError } from '../../errors';
import { testConnection } from '../../runtime/connection-test';
import { assertTablesAllowed } from '../../runtime/system-schemas';
import { validateFilters } from '../../transform/filters';
import { moduleDialect } from '../../runtime/registry';
import { parseConnectionOptions, validateStreamOptions } from '../../runtime/run-options';
import { needsTableList, resolveTables } from '../../transform/tables';
import { kafkaBrokers } from '../../config';
import { brokerList } from '../../connection-url';
import { probeKafka } from '../../transport/kafka/probe';
import { checkRecordFormat, kafkaConnectionSettings } from '../../transport/kafka/options';
import type { KafkaSettings } from '../../transport/kafka/settings';
import { errorResponses } from '../schemas';
import { passwordsBody } from './streams';
import { streamBodySchema } from './stream-body';
import type { StreamInput } from '../../store/streams';

type Body = StreamInput & { passwords?: Record<string, string> };

const checkSchema = {
  type: 'object',
  required: ['name', 'ok', 'message'],
  properties: {
    name: { type: 'string' },
    ok: { type: 'boolean' },
    skipped: { type: 'boolean' },
    message: { type: 'string' },
    suggestion: { type: 'string' },
    code: { type: 'string', description: 'The catalogue code of a failed check, when one fits' },
    detail: { type: 'object', additionalProperties: true },
  },
} as const;

const messageOf = (err: unknown): string => (err instanceof Error ? err.message : String(err));
const skip = (name: string, why: string): CheckResult => ({ name, ok: false, skipped: true, message: `skipped: ${why}` });
const prefixed = (prefix: string, checks: CheckResult[]): CheckResult[] => checks.map((c) => ({ ...c, name: `${prefix}.${c.name}` }));
const failed = (name: string, err: unknown): CheckResult => ({
  name,
  ok: false,
  message: messageOf(err),
  ...(isSluiceError(err) ? { code: err.code, suggestion: err.suggestion, detail: { code: err.code, ...err.detail } } : {}),
});

export async function validateRoutes(app: FastifyInstance, deps: ApiDeps): Promise<void> {
  const { store, connectors, config } = deps;
  const bodySchema = streamBodySchema(connectors);

  /** The connection for `role`, with its password, or a failed check saying why not. */
  const connection = async (role: 'source' | 'sink', id: string, passwords: Record<string, string>): Promise<{ conn?: ConnectionSpec; mod?: ConnectorModule; check: CheckResult }> => {
    const name = `${role}.connection`;
    let conn: ConnectionSpec | undefined;
    try {
      conn = await store.connections.resolve(id, passwords[id]);
    } catch (err) {
      return { check: failed(name, err) };
    }
    if (!conn) return { check: { name, ok: false, message: `no connection ${id}`, suggestion: 'List connections with GET /api/v1/connections to find the right id.', detail: { id } } };
    const mod = connectors.find(conn.kind);
    if (!mod || !mod.roles.includes(role)) {
      const supported = connectors.kinds((m) => m.roles.includes(role));
      return { check: { name, ok: false, message: `a ${conn.kind} connection cannot be a ${role}`, suggestion: `Use a connection of kind ${supported.join(', ')}.`, detail: { kind: conn.kind, supported } } };
    }
    return { conn, mod, check: { name, ok: true, message: `${conn.name} (${conn.kind})`, detail: { id, kind: conn.kind } } };
  };

  app.post<{ Body: Body }>(
    '/validate',
    {
      schema: {
        tags: ['streams'],
        summary: 'Pre-flight checks of a stream spec: connectivity, privileges, wal_level / binlog settings, keys, filters, sink writable, Kafka topics',
        description:
          'The body is a stream spec as for POST /streams, plus `passwords` for connections saved with savePassword:false. Nothing is created or started (the sink probe writes and deletes one document in _sluice_probe; the Kafka probe creates and deletes one topic). Answers 200 with ok:false when a check fails; a check that depends on a failed one is reported with skipped:true.',
        body: { ...bodySchema, properties: { ...bodySchema.properties, ...passwordsBody.properties } },
        response: {
          200: { type: 'object', required: ['ok', 'checks'], properties: { ok: { type: 'boolean' }, checks: { type: 'array', items: checkSchema } } },
          ...errorResponses(),
        },
      },
    },
    async (req) => {
      const body = req.body;
      const passwords = body.passwords ?? {};
      const log = req.log as unknown as Logger;
      const checks: CheckResult[] = [];
      const spec = { ...body, id: 'validate', mode: body.mode ?? 'CDC', tables: body.tables ?? [], options: body.options ?? {} } as StreamSpec;

      // Source: the connection, the connector's own test, the filters, the tables.
      const src = await connection('source', body.source.connectionId, passwords);
      checks.push(src.check);
      let reachable = false;
      if (src.conn && src.mod) {
        const report = await testConnection(connectors, src.conn, log);
        reachable = report.reachable;
        checks.push(...prefixed('source', report.checks));
        try {
          validateFilters(spec, moduleDialect(src.mod));
          checks.push({ name: 'filters', ok: true, message: spec.relationalTableFilters ? 'every whereClause compiles' : 'no filters' });
        } catch (err) {
          checks.push(failed('filters', err));
        }
      } else {
        checks.push(skip('source.reachable', 'the source connection is not usable'), skip('filters', 'the source connection is not usable'));
      }
      if (!src.conn || !src.mod || !reachable) {
        checks.push(skip('source.tables', src.conn ? 'the source is not reachable' : 'the source connection is not usable'));
      } else {
        try {
          let tables = spec.tables;
          if (needsTableList(spec.tables, spec.excludeTables)) {
            if (!src.mod.listTables) throw new Error(`the ${src.conn.kind} source cannot list its tables: name them without patterns`);
            const listed = await src.mod.listTables(src.conn, log);
            tables = resolveTables(spec.tables, spec.excludeTables, listed.tables, listed.defaultSchema);
          }
          assertTablesAllowed(src.conn, tables);
          checks.push(
            tables.length > 0
              ? { name: 'source.tables', ok: true, message: `${tables.length} table(s): ${tables.join(', ')}`, detail: { tables } }
              : { name: 'source.tables', ok: false, message: 'the stream selects no table', suggestion: 'Name tables (or patterns that match some) in "tables".' },
          );
          if (src.mod.checkTables) checks.push(...prefixed('source', await src.mod.checkTables(src.conn, spec, tables.map(parseTableName), log)));
        } catch (err) {
          checks.push(failed('source.tables', err));
        }
      }

      // Sink: the connection and its test (reachable, database named, a probe write).
      const sink = await connection('sink', body.sink.connectionId, passwords);
      checks.push(sink.check);
      if (sink.conn) checks.push(...prefixed('sink', (await testConnection(connectors, sink.conn, log)).checks));
      else checks.push(skip('sink.connect', 'the sink connection is not usable'));

      // Options: the stream's against the kinds it uses, and what the two connections hold.
      if (src.conn && sink.conn) {
        try {
          validateStreamOptions(connectors, spec, { source: src.conn.kind, sink: sink.conn.kind, ...(body.transport ? { transport: body.transport.kind } : {}) });
          for (const [role, c] of [['source', src.conn], ['sink', sink.conn]] as const) parseConnectionOptions(connectors, c.kind, c.options, false, `${role} connection options`);
          checks.push({ name: 'options', ok: true, message: 'the stream\'s and its connections\' options are all known and valid' });
        } catch (err) {
          checks.push(failed('options', err));
        }
      } else {
        checks.push(skip('options', 'a connection is not usable'));
      }

      // Transport: the spec's, else the daemon's default (Kafka when it has brokers).
      const kind = body.transport?.kind ?? (kafkaBrokers(config).length ? 'kafka' : 'direct');
      if (kind === 'direct') {
        checks.push({ name: 'transport', ok: true, message: 'direct: events go from the source to MongoDB in-process' });
      } else {
        const connectionId = body.transport && 'connectionId' in body.transport ? body.transport.connectionId : undefined;
        let brokers = kafkaBrokers(config);
        let usable = true;
        let security: Pick<KafkaSettings, 'tls' | 'sasl'> = {};
        if (connectionId) {
          const k = await store.connections.get(connectionId);
          if (!k || k.kind !== 'kafka') {
            usable = false;
            checks.push({ name: 'transport.connection', ok: false, message: k ? `connection ${connectionId} is a ${k.kind} connection, not kafka` : `no connection ${connectionId}`, suggestion: 'Name a connection of kind kafka in transport.connectionId.', detail: { id: connectionId } });
          } else {
            brokers = brokerList(k.url);
            try {
              // Resolved: its TLS files read and its SASL password unsealed.
              security = kafkaConnectionSettings({ brokers }, (await store.connections.resolve(connectionId))?.options);
              checks.push({ name: 'transport.connection', ok: true, message: `${k.name} (kafka)` });
            } catch (err) {
              usable = false;
              checks.push(failed('transport.connection', err));
            }
          }
        }
        try {
          const options = connectionId === undefined ? undefined : (await store.connections.get(connectionId))?.options;
          checkRecordFormat(body as Pick<StreamSpec, 'transport'>, (id) => (id === connectionId ? options : undefined));
        } catch (err) {
          checks.push(failed('transport.format', err));
        }
        if (usable) checks.push(...(await probeKafka(brokers, { security })));
        else checks.push(skip('kafka.brokers', 'the kafka connection is not usable'), skip('kafka.topics', 'the kafka connection is not usable'));
      }

      return { ok: checks.every((c) => c.ok), checks };
    },
  );
}
