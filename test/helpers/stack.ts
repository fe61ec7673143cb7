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

/** Kafka brokers as the array kafkajs wants. */
export function kafkaBrokers(): string[] {
  return stackUrls()
    .kafka.split(',')
    .map((b) => b.trim())
    .filter((b) => b !== '');
}

/** The stack's Prometheus: its HTTP API, the file_sd directory it watches, and promtool. */
export function prometheusStack(): { url: string; targetsDir: string; promtool: string } {
  const get = (name: string): string => {
    const v = process.env[name]?.trim();
    if (!v) throw new Error(`${name} is not set: run the tests through \`npm test\` (test/run.js sets it from \`npm run stack:status -- --json\`)`);
    return v;
  };
  return { url: get('SLUICE_TEST_PROMETHEUS_URL'), targetsDir: get('SLUICE_TEST_PROMETHEUS_TARGETS'), promtool: get('SLUICE_TEST_PROMTOOL') };
}
