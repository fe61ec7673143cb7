/**
 * The schema registry as the registry formats use it (@confluentinc/schemaregistry's
 * client, Confluent API): register a subject's schema, fetch a schema by id. Each
 * request is bounded (RegistrySettings.timeoutMs), errors become sluice's codes: a
 * schema refused as incompatible is SCHEMA_REGISTRY_INCOMPATIBLE (the stream fails: a
 * person must decide), an unreachable or erroring registry SCHEMA_REGISTRY_UNAVAILABLE
 * (retriable: the batch is published again once it answers).
 */
import { SchemaRegistryClient, type SchemaInfo } from '@confluentinc/schemaregistry';
import { SluiceError } from '../../errors';
import type { RegistrySettings } from './settings';

export const REGISTRY_TIMEOUT_MS = 10_000;

export class Registry {
  readonly #client: SchemaRegistryClient;
  readonly #url: string;
  /** schema text → id, per subject: a table version registers once. */
  readonly #ids = new Map<string, Promise<number>>();
  readonly #byId = new Map<number, Promise<SchemaInfo | null>>();

  constructor(settings: RegistrySettings) {
    this.#url = settings.url.replace(/\/+$/, '');
    this.#client = new SchemaRegistryClient({
      baseURLs: [this.#url],
      createAxiosDefaults: { timeout: settings.timeoutMs ?? REGISTRY_TIMEOUT_MS },
      maxRetries: 1,
      ...(settings.username ? { basicAuthCredentials: { credentialsSource: 'USER_INFO' as const, userInfo: `${settings.username}:${settings.password ?? ''}` } } : {}),
    });
  }

  /** The id of `schema` under `subject`, registering it when the registry has not got it yet. */
  register(subject: string, schemaType: 'AVRO' | 'JSON' | 'PROTOBUF', schema: string): Promise<number> {
    const k = subject + '\n' + schema;
    let id = this.#ids.get(k);
    if (!id) {
      id = this.#client.register(subject, { schemaType, schema }).catch((err: unknown) => {
        this.#ids.delete(k);
        throw this.#error(err, { subject });
      });
      this.#ids.set(k, id);
    }
    return id;
  }

  /** The latest version registered under `subject`; null when the subject has none. */
  async latest(subject: string): Promise<SchemaInfo | null> {
    try {
      return await this.#client.getLatestSchemaMetadata(subject);
    } catch (err) {
      if (statusOf(err) === 404) return null;
      throw this.#error(err, { subject, reading: true });
    }
  }

  /** The schema with this id; null when the registry has none (a record error, not an outage). */
  schema(id: number, subject: string): Promise<SchemaInfo | null> {
    let s = this.#byId.get(id);
    if (!s) {
      s = this.#client.getBySubjectAndId(subject, id).catch((err: unknown) => {
        if (statusOf(err) === 404) return null;
        this.#byId.delete(id);
        throw this.#error(err, { id, subject });
      });
      this.#byId.set(id, s);
    }
    return s;
  }

  #error(err: unknown, { reading, ...detail }: { subject?: string; id?: number; reading?: boolean }): SluiceError {
    const status = statusOf(err);
    const msg = (err as Error)?.message ?? String(err);
    if (status === 409 && detail.subject && !reading) {
      return new SluiceError(
        'SCHEMA_REGISTRY_INCOMPATIBLE',
        `the schema registry refused the new schema of subject ${detail.subject} as incompatible: ${msg}`,
        { subject: detail.subject, url: this.#url, registryMessage: msg },
        { cause: err },
      );
    }
    const what = reading ? `reading the latest version of subject ${detail.subject}` : detail.subject !== undefined && detail.id === undefined ? `registering subject ${detail.subject}` : `reading schema id ${detail.id}`;
    return new SluiceError('SCHEMA_REGISTRY_UNAVAILABLE', `schema registry ${this.#url}: ${what} failed: ${msg}`, { ...detail, url: this.#url, ...(status ? { status } : {}) }, { cause: err });
  }

  close(): void {
    void Promise.resolve(this.#client.close()).catch(() => undefined);
  }
}

function statusOf(err: unknown): number | undefined {
  const e = err as { status?: unknown; response?: { status?: unknown } } | null;
  const s = e?.status ?? e?.response?.status;
  return typeof s === 'number' ? s : undefined;
}
