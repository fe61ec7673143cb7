/**
 * Where the test stack's servers are. `test/run.js` sets the variables from
 * `bash test/stack/stack.sh status --json`; a user may point them at servers of their own
 * (e.g. a real MongoDB replica set).
 */

export interface StackUrls {
  /** postgresql://user:pass@host:port/db */
  postgres: string;
  /** mysql://user:pass@host:port/db (MariaDB on the stack) */
  mysql: string;
  /** Kafka bootstrap brokers, comma-separated host:port */
  kafka: string;
  /** mongodb://host:port (FerretDB on the stack) */
  mongodb: string;
}

const VARS: Record<keyof StackUrls, string> = {
  postgres: 'SLUICE_TEST_POSTGRES_URL',
  mysql: 'SLUICE_TEST_MYSQL_URL',
  kafka: 'SLUICE_TEST_KAFKA_BROKERS',
  mongodb: 'SLUICE_TEST_MONGODB_URL',
};

function need(key: keyof StackUrls): string {
  const name = VARS[key];
  const value = process.env[name];
  if (value === undefined || value.trim() === '') {
    throw new Error(
      `${name} is not set: run \`npm run stack:up\` (and the tests through \`npm test\`) or set ` +
        `SLUICE_TEST_POSTGRES_URL, SLUICE_TEST_MYSQL_URL, SLUICE_TEST_KAFKA_BROKERS and SLUICE_TEST_MONGODB_URL ` +
        `(\`npm run stack:status -- --json\` prints the stack's)`,
    );
  }
  return value.trim();
}

/** The four servers' addresses; throws naming the missing variable. */
export function stackUrls(): StackUrls {
  return { postgres: need('postgres'), mysql: need('mysql'), kafka: need('kafka'), mongodb: need('mongodb') };
}

/** One server's address, when its variable is set: a connector's tests need only their own server. */
export function stackUrl(key: keyof StackUrls): string | undefined {
  return process.env[VARS[key]]?.trim() || undefined;
}

/** A test's `skip`: false when the server's variable is set, else why the test cannot run. */
export function unlessServer(key: keyof StackUrls): string | false {
  return stackUrl(key) ? false : `${VARS[key]} is not set (start the test stack)`;
}

/** Kafka brokers as the array kafkajs wants. */
export function kafkaBrokers(): string[] {
  return stackUrls()
    .kafka.split(',')
    .map((b) => b.trim())
    .filter((b) => b !== '');
}

/** The stack's Prometheus: its HTTP API, the file_sd directory it watches, and promtool. */
export function prometheusStack(): { url: string; targetsDir: string; promtool: string } {
  return { url: required('SLUICE_TEST_PROMETHEUS_URL'), targetsDir: required('SLUICE_TEST_PROMETHEUS_TARGETS'), promtool: required('SLUICE_TEST_PROMTOOL') };
}

function required(name: string): string {
  const v = process.env[name]?.trim();
  if (!v) throw new Error(`${name} is not set: run the tests through \`npm test\` (test/run.js sets it from \`npm run stack:status -- --json\`)`);
  return v;
}

/**
 * The stack's schema registry (Apicurio Registry, Confluent API): the base URL, e.g.
 * http://127.0.0.1:58081/apis/ccompat/v7. Its default compatibility is NONE: a test that
 * relies on BACKWARD sets it (PUT <url>/config/<subject> {"compatibility":"BACKWARD"}).
 * Storage is in memory and shared by every test: use subjects of your own (a unique topic).
 */
export function schemaRegistryUrl(): string {
  return required('SLUICE_TEST_SCHEMA_REGISTRY_URL');
}

/** One call to the stack's registry (Confluent API), bounded at 10 s: its status and JSON body. */
export async function registryApi(method: string, pathname: string, body?: unknown): Promise<{ status: number; json: any }> {
  const r = await fetch(`${schemaRegistryUrl()}${pathname}`, {
    method,
    headers: { 'Content-Type': 'application/vnd.schemaregistry.v1+json' },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    signal: AbortSignal.timeout(10_000),
  });
  return { status: r.status, json: await r.json().catch(() => null) };
}

export interface KafkaSaslUser {
  mechanism: 'plain' | 'scram-sha-256' | 'scram-sha-512';
  username: string;
  password: string;
}

/**
 * The stack's TLS material and endpoints (test material only). Every TLS endpoint serves
 * one server certificate for 127.0.0.1 and localhost, signed by `ca`:
 * - PostgreSQL and MariaDB take TLS on their usual port (optional for clients);
 * - FerretDB: `mongodbTls` (mongodb://127.0.0.1:57019/?tls=true);
 * - Kafka: a SASL_SSL listener, `kafkaSaslSsl.brokers`, with the users in `kafkaSaslSsl.users`.
 * The wrong-host case: `wrongHost` (127.0.0.2) is not in the certificate. PostgreSQL and
 * MariaDB also listen there on the same port, Kafka's SASL_SSL at `kafkaSaslSsl.wrongHostBrokers`;
 * for FerretDB put a `TcpProxy` listening on 127.0.0.2 in front of it. `untrustedCa` signed
 * nothing the stack serves (the "unknown CA" case); `otherHostCert`/`Key` is a certificate
 * signed by `ca` for another host name, for a TLS server a test runs itself; `clientCert`/`Key`
 * is a client certificate signed by `ca` (Kafka verifies one when sent); `serverCert`/`Key` is
 * the certificate the stack's servers serve (127.0.0.1, localhost), for a TLS server a test
 * runs itself that clients reach by that name (the daemon's HTTPS API).
 */
export function tlsStack(): {
  ca: string;
  serverCert: string;
  serverKey: string;
  untrustedCa: string;
  clientCert: string;
  clientKey: string;
  otherHostCert: string;
  otherHostKey: string;
  wrongHost: string;
  mongodbTls: string;
  kafkaSaslSsl: { brokers: string; wrongHostBrokers: string; users: KafkaSaslUser[] };
} {
  return {
    ca: required('SLUICE_TEST_TLS_CA'),
    serverCert: required('SLUICE_TEST_TLS_SERVER_CERT'),
    serverKey: required('SLUICE_TEST_TLS_SERVER_KEY'),
    untrustedCa: required('SLUICE_TEST_TLS_UNTRUSTED_CA'),
    clientCert: required('SLUICE_TEST_TLS_CLIENT_CERT'),
    clientKey: required('SLUICE_TEST_TLS_CLIENT_KEY'),
    otherHostCert: required('SLUICE_TEST_TLS_OTHER_HOST_CERT'),
    otherHostKey: required('SLUICE_TEST_TLS_OTHER_HOST_KEY'),
    wrongHost: required('SLUICE_TEST_TLS_WRONG_HOST'),
    mongodbTls: required('SLUICE_TEST_MONGODB_TLS_URL'),
    kafkaSaslSsl: {
      brokers: required('SLUICE_TEST_KAFKA_SASL_SSL_BROKERS'),
      wrongHostBrokers: required('SLUICE_TEST_KAFKA_SASL_SSL_WRONG_HOST_BROKERS'),
      users: JSON.parse(required('SLUICE_TEST_KAFKA_SASL_USERS')) as KafkaSaslUser[],
    },
  };
}
