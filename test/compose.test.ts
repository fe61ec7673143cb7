import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import YAML from 'yaml';
import { checkCompose, PINNED_TAG } from './helpers/compose';

const root = path.resolve(__dirname, '../..');

test('docker-compose.yml: every service pinned and health-checked, start-up ordered by health, sources set up for CDC', () => {
  checkCompose(YAML.parse(fs.readFileSync(path.join(root, 'docker-compose.yml'), 'utf8')));
});

test('the compose checks catch an unpinned image, a missing healthcheck and a start-up that does not wait', () => {
  const good = YAML.parse(fs.readFileSync(path.join(root, 'docker-compose.yml'), 'utf8'));
  const broken = (edit: (doc: any) => void) => {
    const doc = structuredClone(good);
    edit(doc);
    return () => checkCompose(doc);
  };
  assert.throws(broken((d) => (d.services.grafana.image = 'grafana/grafana:latest')), /not pinned/);
  assert.throws(broken((d) => (d.services.postgres.image = 'postgres')), /not pinned/);
  assert.throws(broken((d) => delete d.services.kafka.healthcheck), /kafka: no healthcheck/);
  assert.throws(broken((d) => (d.services.sluice.depends_on.kafka = { condition: 'service_started' })), /sluice waits for kafka/);
  assert.throws(broken((d) => delete d.services['schema-registry']), /no schema-registry/);
});

test('the Dockerfile builds from pinned base images', () => {
  const froms = [...fs.readFileSync(path.join(root, 'Dockerfile'), 'utf8').matchAll(/^FROM\s+(\S+)/gm)].map((m) => m[1] as string);
  assert.ok(froms.length > 0);
  for (const f of froms) assert.match(f.slice(f.lastIndexOf(':') + 1), PINNED_TAG, f);
});
