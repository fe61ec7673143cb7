#!/usr/bin/env node
/**
 * The `sluice` command.
 *   sluice [start] [--config FILE]      run the daemon (SLUICE_CONFIG works too)
 *   sluice config validate FILE         check a config file; exit 2 naming the bad key
 *   sluice config print [--config FILE] the effective configuration, secrets masked
 *   sluice --version
 *   sluice streams|connections|api-keys|audit|api …  a client of a running daemon (client.ts)
 * Exit codes: 0 success, 1 the daemon failed, 2 bad usage or configuration.
 */
import { loadConfig, type LoadedConfig } from '../config';
import { createLogger, flushAndExit } from '../logger';
import { isSluiceError } from '../errors';
import { VERSION } from '../version';
import { startDaemon } from '../daemon';
import { tuneHeap } from '../runtime/heap';
import { isClientResource, runClient } from './client';

const USAGE = `sluice ${VERSION}: change-data-capture from PostgreSQL and MySQL/MariaDB to MongoDB

Usage:
  sluice [start] [--config FILE]        run the daemon
  sluice config validate FILE           validate a configuration file
  sluice config print [--config FILE]   print the effective configuration (secrets masked)
  sluice --version                      print the version

Client of a running daemon (--url URL, --key KEY, --cacert CA.pem, --json; or SLUICE_API_URL,
SLUICE_API_KEY, SLUICE_API_CA, else the key in <dataDir>/admin.key):
  sluice streams ls [--state S] [--name N]
  sluice streams get|stats|runs|logs ID
  sluice streams start|stop|pause|resume|cutover|verify ID
  sluice streams create --file SPEC.json | delete ID
  sluice connections ls | get|test|delete ID | create --file CONN.json
  sluice api-keys ls | get|revoke ID | create --name N --role R [--expires-at 2027-01-31T00:00:00Z]
  sluice audit ls [--key-id K] [--target-id T] [--route R] [--method M] [--since T] [--until T]
  sluice api METHOD PATH [--data JSON | --file F]
  sluice --help                         this text

Environment: SLUICE_CONFIG, SLUICE_DATA_DIR, SLUICE_API_HOST, SLUICE_API_PORT, SLUICE_API_TLS_CERT,
SLUICE_API_TLS_KEY, SLUICE_ADMIN_KEY(_FILE), SLUICE_SECRET_KEY(_FILE), SLUICE_LOG_LEVEL,
SLUICE_KAFKA_BROKERS and more: see config/sluice.example.yaml.
`;

class UsageError extends Error {}

/**
 * Past `shutdown.deadlineMs`, how long the rest of the shutdown (API connections,
 * the store, the last log lines) may take before the daemon exits regardless.
 */
export const SHUTDOWN_MARGIN_MS = 5000;

interface Parsed {
  command: 'start' | 'config-validate' | 'config-print' | 'version' | 'help';
  file?: string;
}

export function parseArgs(argv: string[]): Parsed {
  const rest: string[] = [];
  let file: string | undefined;
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i] as string;
    if (a === '--version' || a === '-v') return { command: 'version' };
    if (a === '--help' || a === '-h') return { command: 'help' };
    if (a === '--config' || a === '-c') {
      file = argv[++i];
      if (!file) throw new UsageError('--config needs a file path');
    } else if (a.startsWith('--config=')) file = a.slice('--config='.length);
    else if (a.startsWith('-')) throw new UsageError(`unknown option ${a}`);
    else rest.push(a);
  }
  const [cmd, sub, arg, extra] = rest;
  if (cmd === undefined || (cmd === 'start' && sub === undefined)) return { command: 'start', file };
  if (cmd === 'config' && sub === 'validate' && extra === undefined) {
    const target = arg ?? file;
    if (!target) throw new UsageError('config validate needs a FILE');
    return { command: 'config-validate', file: target };
  }
  if (cmd === 'config' && sub === 'print' && arg === undefined) return { command: 'config-print', file };
  throw new UsageError(`unknown command: ${rest.join(' ')}`);
}

function load(file: string | undefined): LoadedConfig {
  return loadConfig({ file });
}

async function runDaemon(file: string | undefined): Promise<void> {
  const { config } = load(file);
  const logger = createLogger({ level: config.log.level, pretty: config.log.pretty });
  // Before the streams allocate: the heap's growing factor, when configured (runtime/heap.ts).
  const heapFlag = tuneHeap(config.memory.heapGrowingPercent);
  if (heapFlag) logger.info({ v8: heapFlag }, 'heap growing factor set');
  let signals = 0;
  const onSignal = (sig: NodeJS.Signals): void => {
    signals++;
    if (signals > 1) {
      logger.warn({ signal: sig }, 'second signal: exiting now; streams resume from their last durable position');
      flushAndExit(logger, 130);
      return;
    }
    logger.info({ signal: sig }, 'signal received: graceful shutdown (send it again to force)');
    // Whatever hangs (an API connection, the store, a stuck stdout), the daemon is gone
    // shortly after the deadline; streams resume from their last durable position.
    const hardExitMs = config.shutdown.deadlineMs + SHUTDOWN_MARGIN_MS;
    setTimeout(() => {
      logger.error({ afterMs: hardExitMs }, 'shutdown did not finish in time: exiting; streams resume from their last durable position');
      flushAndExit(logger, 1);
    }, hardExitMs).unref();
    // A signal during start-up stops the daemon once it has started (a failed start exits on its own).
    void starting
      .then((daemon) => daemon.close())
      .then(() => flushAndExit(logger, 0))
      .catch((err: unknown) => {
        logger.error({ err }, 'shutdown failed');
        flushAndExit(logger, 1);
      });
  };
  process.on('SIGTERM', onSignal);
  process.on('SIGINT', onSignal);
  process.on('unhandledRejection', (reason) => logger.error({ err: reason }, 'unhandled rejection (a bug; the daemon keeps running)'));
  const starting = startDaemon(config, logger);
  try {
    await starting;
  } catch (err) {
    logger.fatal({ err }, isSluiceError(err) ? err.message : 'sluice failed to start');
    flushAndExit(logger, 1);
  }
}

export async function main(argv: string[]): Promise<void> {
  if (isClientResource(argv[0])) {
    process.exitCode = await runClient(argv, process.env, { out: (t) => process.stdout.write(t), err: (t) => process.stderr.write(t) });
    return;
  }
  let parsed: Parsed;
  try {
    parsed = parseArgs(argv);
  } catch (err) {
    process.stderr.write(`sluice: ${(err as Error).message}\n\n${USAGE}`);
    process.exitCode = 2;
    return;
  }
  try {
    switch (parsed.command) {
      case 'version':
        process.stdout.write(`${VERSION}\n`);
        return;
      case 'help':
        process.stdout.write(USAGE);
        return;
      case 'config-validate':
        load(parsed.file);
        process.stdout.write(`${parsed.file}: valid\n`);
        return;
      case 'config-print':
        process.stdout.write(load(parsed.file).masked() + '\n');
        return;
      case 'start':
        await runDaemon(parsed.file);
        return;
    }
  } catch (err) {
    if (isSluiceError(err) && err.code === 'CONFIG_INVALID') {
      process.stderr.write(`sluice: ${err.message}\n`);
      process.exitCode = 2;
      return;
    }
    throw err;
  }
}

if (require.main === module) {
  main(process.argv.slice(2)).catch((err: unknown) => {
    process.stderr.write(`sluice: ${(err as Error).stack ?? String(err)}\n`);
    process.exit(1);
  });
}
