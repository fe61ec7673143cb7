/**
 * Loads and strictly validates the configuration: defaults < config file
 * (SLUICE_CONFIG or --config, JSON or YAML) < environment variables. Any unknown
 * key, bad type or bad value is a CONFIG_INVALID error naming the key.
 */
import fs from 'node:fs';
import path from 'node:path';
import convict from 'convict';
import YAML from 'yaml';
import { SluiceError } from '../errors';
import { configSchema, type SluiceConfig } from './schema';

convict.addParser([
  { extension: 'json', parse: JSON.parse },
  { extension: ['yaml', 'yml'], parse: (text: string) => YAML.parse(text) ?? {} },
]);

export type { SluiceConfig } from './schema';

export interface LoadOptions {
  file?: string;
  env?: NodeJS.ProcessEnv;
  /** Extra values on top of everything (e.g. from tests). */
  overrides?: Record<string, unknown>;
}

export interface LoadedConfig {
  config: SluiceConfig;
  file: string | null;
  /** The configuration as text, secrets masked. */
  masked(): string;
}

/** The key a convict message is about: it names it in quotes, or as the first word. */
function keyFromMessage(message: string): string | undefined {
  return /param '([^']+)'/.exec(message)?.[1] ?? /^([A-Za-z0-9_.]+): /.exec(message)?.[1];
}

/** The environment variable that sets `key`, if the schema declares one. */
function envOf(key: string): string | undefined {
  let node: unknown = configSchema;
  for (const part of key.split('.')) node = (node as Record<string, unknown> | undefined)?.[part];
  return (node as { env?: string } | undefined)?.env;
}

function invalid(message: string, file: string | null, cause?: unknown): SluiceError {
  const key = keyFromMessage(message);
  const env = key ? envOf(key) : undefined;
  const where = [file ? `config file ${file}` : '', env ? `env ${env}` : ''].filter(Boolean).join(' or ');
  const whereText = where ? ` (set in ${where})` : '';
  return new SluiceError(
    'CONFIG_INVALID',
    `Invalid configuration${key ? ` key "${key}"` : ''}${whereText}: ${message}`,
    { key, file, env },
    { cause },
  );
}

export function loadConfig(opts: LoadOptions = {}): LoadedConfig {
  const env = opts.env ?? process.env;
  const file = opts.file ?? (env.SLUICE_CONFIG ? env.SLUICE_CONFIG : null);
  const conf = convict(configSchema, { env, args: [] });
  if (file) {
    const resolved = path.resolve(file);
    if (!fs.existsSync(resolved)) throw invalid(`config file not found: ${resolved}`, file);
    try {
      conf.loadFile(resolved);
    } catch (err) {
      throw invalid(`cannot parse: ${(err as Error).message}`, file, err);
    }
  }
  if (opts.overrides) conf.load(opts.overrides);
  try {
    conf.validate({ allowed: 'strict' });
  } catch (err) {
    // convict joins every problem with newlines; report the first, it names the key.
    const first = String((err as Error).message).split('\n')[0] ?? '';
    throw invalid(first, file, err);
  }
  const config = conf.getProperties() as SluiceConfig;
  return { config, file, masked: () => conf.toString() };
}

/** Kafka brokers from the config, as a list (empty when none are configured). */
export function kafkaBrokers(config: SluiceConfig): string[] {
  return config.kafka.brokers.split(',').map((b) => b.trim()).filter(Boolean);
}
