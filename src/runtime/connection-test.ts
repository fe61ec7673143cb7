/**
 * `POST /connections/{id}/test`: asks the connector registered for the kind to
 * check reachability, version, settings and privileges. A kind without a
 * connector (yet) answers with one failed check rather than an error.
 */
import type { Logger } from 'pino';
import type { ConnectionSpec, TestReport } from '../core';
import type { ConnectorRegistry } from './registry';
import { brokerList } from '../connection-url';
import { probeKafka } from '../transport/kafka/probe';
import { kafkaConnectionSettings } from '../transport/kafka/options';

export async function testConnection(registry: ConnectorRegistry, connection: ConnectionSpec, logger: Logger): Promise<TestReport> {
  // A kafka connection is a transport's broker list: the transport's probe tests it (brokers answer, a topic can be made).
  if (connection.kind === 'kafka') {
    const settings = kafkaConnectionSettings({ brokers: brokerList(connection.url) }, connection.options);
    const checks = await probeKafka(brokerList(connection.url), { security: settings });
    return { reachable: checks[0]?.ok === true, checks };
  }
  const mod = registry.find(connection.kind);
  if (!mod?.test) {
    return {
      reachable: false,
      checks: [
        {
          name: 'connector',
          ok: false,
          message: `no connector of kind "${connection.kind}" can test connections in this build`,
          suggestion: `supported kinds: ${registry.kinds((m) => m.test !== undefined).join(', ') || '(none)'}`,
        },
      ],
    };
  }
  try {
    return await mod.test(connection, logger.child({ connectionId: connection.id }));
  } catch (err) {
    // A connector's test must not throw; if one does, it is still a report, not a 500.
    logger.error({ err, connectionId: connection.id }, 'connection test threw');
    return { reachable: false, checks: [{ name: 'connect', ok: false, message: (err as Error).message }] };
  }
}
