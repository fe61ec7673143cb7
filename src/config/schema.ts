/**
 * Every configuration key sluice reads, declared once: doc, format, default and
 * environment variable, and `sensitive` for secrets (masked by `config print`).
 * The defaults run the daemon on this machine alone: API on 127.0.0.1:8278,
 * state in ./data (SQLite), the direct transport.
 */
import convict from 'convict';

convict.addFormat({
  name: 'host',
  validate(value: unknown) {
    if (typeof value !== 'string' || value.length === 0 || /[\s/]/.test(value)) {
      throw new Error('must be a host name or IP address');
    }
  },
});

convict.addFormat({
  name: 'broker-list',
  validate(value: unknown) {
    if (typeof value !== 'string') throw new Error('must be a comma-separated list of host:port');
    if (value === '') return;
    for (const b of value.split(',')) {
      if (!/^[^\s:,]+:\d{1,5}$/.test(b.trim())) throw new Error(`"${b}" is not host:port`);
    }
  },
});

convict.addFormat({
  name: 'optional-secret-key',
  validate(value: unknown) {
    if (value === '') return;
    if (typeof value !== 'string' || Buffer.from(value, 'base64').length !== 32) {
      throw new Error('must be empty (generate a key file) or 32 bytes in base64 (openssl rand -base64 32)');
    }
  },
});

export const configSchema = {
  dataDir: {
    doc: 'Directory for the state store (SQLite), the generated admin key and the secret key file.',
    format: String,
    default: './data',
    env: 'SLUICE_DATA_DIR',
    arg: 'data-dir',
  },
  api: {
    host: {
      doc: 'Address the control API listens on. Keep loopback unless the API is behind a proxy or firewall.',
      format: 'host',
      default: '127.0.0.1',
      env: 'SLUICE_API_HOST',
    },
    port: {
      doc: 'Port of the control API (0 picks a free port and logs it).',
      format: 'port',
      default: 8278,
      env: 'SLUICE_API_PORT',
    },
    metricsOpen: {
      doc: 'Serve /metrics without an API key, for Prometheus scrapers.',
      format: Boolean,
      default: true,
      env: 'SLUICE_METRICS_OPEN',
    },
    bodyLimitBytes: {
      doc: 'Largest request body the API accepts.',
      format: 'nat',
      default: 1048576,
      env: 'SLUICE_API_BODY_LIMIT_BYTES',
    },
    tls: {
      cert: {
        doc: 'TLS certificate chain (PEM file) of the control API. With tls.key set, the API speaks HTTPS only. Empty: plain HTTP, which is allowed on a loopback address only (see api.insecure).',
        format: String,
        default: '',
        env: 'SLUICE_API_TLS_CERT',
      },
      key: {
        doc: 'Private key (PEM file) of api.tls.cert. Read at start; a key mounted as a Kubernetes or Docker secret works as it is.',
        format: String,
        default: '',
        env: 'SLUICE_API_TLS_KEY',
      },
    },
    insecure: {
      doc: 'Allow plain HTTP on an address other than loopback (0.0.0.0, a LAN address), e.g. behind a proxy or service mesh that terminates TLS. Without it, such a bind without api.tls is refused at start.',
      format: Boolean,
      default: false,
      env: 'SLUICE_API_INSECURE',
    },
    authFailures: {
      max: {
        doc: 'Failed authentications allowed per client address within the window before it gets 429.',
        format: 'nat',
        default: 20,
        env: 'SLUICE_API_AUTH_FAILURES_MAX',
      },
      windowSeconds: {
        doc: 'Length of the failed-authentication window, in seconds.',
        format: 'nat',
        default: 60,
        env: 'SLUICE_API_AUTH_FAILURES_WINDOW_SECONDS',
      },
    },
  },
  auth: {
    adminKey: {
      doc: 'Bootstrap admin API key, used on the first start only. Empty: a key is generated into <dataDir>/admin.key (mode 0600).',
      format: String,
      default: '',
      env: 'SLUICE_ADMIN_KEY',
      sensitive: true,
    },
    adminKeyFile: {
      doc: 'A file holding auth.adminKey (a mounted Kubernetes or Docker secret); one trailing newline is ignored. Set one of the two, not both.',
      format: String,
      default: '',
      env: 'SLUICE_ADMIN_KEY_FILE',
    },
  },
  store: {
    secretKey: {
      doc: 'Key that encrypts stored secrets (connection passwords): 32 bytes, base64. Empty: generated into <dataDir>/secret.key (mode 0600).',
      format: 'optional-secret-key',
      default: '',
      env: 'SLUICE_SECRET_KEY',
      sensitive: true,
    },
    secretKeyFile: {
      doc: 'A file holding store.secretKey (32 bytes, base64; a mounted Kubernetes or Docker secret); one trailing newline is ignored. Set one of the two, not both.',
      format: String,
      default: '',
      env: 'SLUICE_SECRET_KEY_FILE',
    },
  },
  secrets: {
    fileDir: {
      doc: 'The directory a connection\'s "passwordFile" must lie in (e.g. /run/secrets, where Docker and Kubernetes mount secrets). The file is read each time the connection is used, so rotating the mounted secret needs no API call. Empty: passwordFile is refused.',
      format: String,
      default: '',
      env: 'SLUICE_SECRETS_FILE_DIR',
    },
  },
  audit: {
    retentionDays: {
      doc: 'Days the audit trail (GET /api/v1/audit) keeps an entry; older entries are deleted at start and every hour. 0 keeps them for ever.',
      format: 'nat',
      default: 90,
      env: 'SLUICE_AUDIT_RETENTION_DAYS',
    },
  },
  log: {
    level: {
      doc: 'Log level.',
      format: ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'],
      default: 'info',
      env: 'SLUICE_LOG_LEVEL',
    },
    pretty: {
      doc: 'Human-readable logs: auto (when stdout is a TTY), true or false (JSON lines).',
      format: ['auto', 'true', 'false'],
      default: 'auto',
      env: 'SLUICE_LOG_PRETTY',
    },
  },
  kafka: {
    brokers: {
      doc: 'Default Kafka brokers (host:port,...). When set, streams that name no transport use Kafka; empty: the direct transport.',
      format: 'broker-list',
      default: '',
      env: 'SLUICE_KAFKA_BROKERS',
    },
    clientId: {
      doc: 'Kafka client id prefix.',
      format: String,
      default: 'sluice',
      env: 'SLUICE_KAFKA_CLIENT_ID',
    },
    topicPartitions: {
      doc: 'Partitions of each topic sluice creates (one topic per table). Order is kept per key, across partitions.',
      format: 'nat',
      default: 3,
      env: 'SLUICE_KAFKA_TOPIC_PARTITIONS',
    },
    replicationFactor: {
      doc: 'Replication factor of the topics sluice creates; -1 takes the broker default.',
      format: 'int',
      default: -1,
      env: 'SLUICE_KAFKA_REPLICATION_FACTOR',
    },
    compression: {
      doc: 'Producer compression.',
      format: ['none', 'gzip'],
      default: 'none',
      env: 'SLUICE_KAFKA_COMPRESSION',
    },
    tombstones: {
      doc: 'Write a tombstone (key, null value) after each delete, for log compaction.',
      format: Boolean,
      default: true,
      env: 'SLUICE_KAFKA_TOMBSTONES',
    },
    sinkWorker: {
      doc: "Run each stream's Kafka sink end (consumer, decoding, MongoDB writes) in a worker thread of its own, so that it gets a core apart from the source and the producer. false keeps it in the daemon's thread (for debugging).",
      format: Boolean,
      default: true,
      env: 'SLUICE_KAFKA_SINK_WORKER',
    },
  },
  memory: {
    heapGrowingPercent: {
      doc: "V8's heap growing factor for the daemon and its sink workers, as 1 + N/100 of what the last full collection kept; 0 leaves V8's own (up to 4x). A lower factor trades CPU for memory: measured on the Kafka path (README, Benchmarks), 30 cut peak RSS by ~15% and doubled the CPU per event.",
      format: 'nat',
      default: 0,
      env: 'SLUICE_HEAP_GROWING_PERCENT',
    },
  },
  shutdown: {
    deadlineMs: {
      doc: 'On SIGTERM/SIGINT, how long streams get to reach a clean point before the daemon exits anyway.',
      format: 'nat',
      default: 30000,
      env: 'SLUICE_SHUTDOWN_DEADLINE_MS',
    },
  },
};

export interface SluiceConfig {
  dataDir: string;
  api: {
    host: string;
    port: number;
    metricsOpen: boolean;
    bodyLimitBytes: number;
    tls: { cert: string; key: string };
    insecure: boolean;
    authFailures: { max: number; windowSeconds: number };
  };
  auth: { adminKey: string; adminKeyFile: string };
  store: { secretKey: string; secretKeyFile: string };
  secrets: { fileDir: string };
  audit: { retentionDays: number };
  log: { level: string; pretty: 'auto' | 'true' | 'false' };
  kafka: { brokers: string; clientId: string; topicPartitions: number; replicationFactor: number; compression: 'none' | 'gzip'; tombstones: boolean; sinkWorker: boolean };
  memory: { heapGrowingPercent: number };
  shutdown: { deadlineMs: number };
}
