/**
 * What docker-compose.yml must promise, as a function of its parsed form, so the same
 * checks run on the file as written (test/compose.test.ts) and on docker-compose's
 * own normalised `config` output (test/observability/compose.integration.test.ts).
 */
import assert from 'node:assert/strict';

interface Service {
  image?: string;
  build?: unknown;
  command?: string | string[];
  environment?: Record<string, string | number | null> | string[];
  healthcheck?: { test?: string | string[]; disable?: boolean };
  depends_on?: string[] | Record<string, { condition?: string }>;
  volumes?: Array<string | { source?: string; target?: string; type?: string }>;
}

/** A tag that names a release: digits and dots (optionally v-prefixed and suffixed), never "latest". */
export const PINNED_TAG = /^v?\d+\.\d+(\.\d+)?([-.][\w.-]+)?$/;

/** Who must be healthy before whom: the start-up order the healthchecks enforce. */
export const START_ORDER: Record<string, string[]> = {
  'schema-registry': ['kafka'],
  sluice: ['postgres', 'mysql', 'kafka', 'mongodb', 'schema-registry'],
  prometheus: ['sluice'],
  grafana: ['prometheus'],
};

const text = (v: unknown): string => (Array.isArray(v) ? v.join(' ') : String(v ?? ''));
const env = (s: Service): Record<string, string> =>
  Array.isArray(s.environment)
    ? Object.fromEntries(s.environment.map((e) => [e.slice(0, e.indexOf('=')), e.slice(e.indexOf('=') + 1)]))
    : Object.fromEntries(Object.entries(s.environment ?? {}).map(([k, v]) => [k, String(v)]));
const mounts = (s: Service): string[] =>
  (s.volumes ?? []).map((v) => (typeof v === 'string' ? v : `${v.source ?? ''}:${v.target ?? ''}`));

export function checkCompose(doc: { services?: Record<string, Service> }): void {
  const services = doc.services ?? {};
  for (const name of ['postgres', 'mysql', 'kafka', 'schema-registry', 'mongodb', 'sluice', 'prometheus', 'grafana']) {
    assert.ok(services[name], `no ${name} service`);
  }
  for (const [name, s] of Object.entries(services)) {
    assert.ok(s.image, `${name}: no image`);
    const tag = s.image!.includes(':') ? s.image!.slice(s.image!.lastIndexOf(':') + 1) : '';
    assert.match(tag, PINNED_TAG, `${name}: image ${s.image} is not pinned to a release tag`);
    assert.ok(s.healthcheck && !s.healthcheck.disable && text(s.healthcheck.test).trim() !== '', `${name}: no healthcheck`);
  }
  assert.ok(services.sluice!.build, 'sluice is built from the repository');
  for (const [name, deps] of Object.entries(START_ORDER)) {
    const d = services[name]!.depends_on;
    assert.ok(d && !Array.isArray(d), `${name}: depends_on must use conditions`);
    for (const dep of deps) assert.equal((d as Record<string, { condition?: string }>)[dep]?.condition, 'service_healthy', `${name} waits for ${dep} to be healthy`);
  }
  assert.match(text(services.postgres!.command), /wal_level=logical/);
  assert.match(text(services.mysql!.command), /--binlog-format=ROW/i);
  assert.match(env(services.kafka!).KAFKA_PROCESS_ROLES ?? '', /controller/, 'kafka runs in KRaft mode');
  assert.match(text(services.mongodb!.command), /--replSet/);
  assert.match(text(services.mongodb!.healthcheck!.test), /rs\.initiate/);
  assert.ok(mounts(services.prometheus!).some((m) => /(^|\/)prometheus:\/etc\/prometheus/.test(m)), `prometheus mounts ${mounts(services.prometheus!)}`);
  assert.ok(mounts(services.grafana!).some((m) => /grafana\/provisioning:\/etc\/grafana\/provisioning/.test(m)), `grafana mounts ${mounts(services.grafana!)}`);
}
