/**
 * docker-compose.yml validated by a real Compose implementation without an engine:
 * Debian's docker-compose (installed into the stack cache by test/stack/docker-compose.sh)
 * parses, interpolates and schema-checks it; its normalised output passes the same
 * pinning and healthcheck checks as the file itself.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { spawnSync } from 'node:child_process';
import YAML from 'yaml';
import { checkCompose } from '../helpers/compose';

const root = path.resolve(__dirname, '../../..');
const compose = (dir: string, file: string) =>
  spawnSync('bash', [path.join(root, 'test/stack/docker-compose.sh'), '--project-directory', dir, '-f', file, 'config'], { encoding: 'utf8', cwd: dir });

test('docker-compose config accepts docker-compose.yml, and its normalised form is pinned, health-checked and ordered', () => {
  const r = compose(root, path.join(root, 'docker-compose.yml'));
  assert.equal(r.status, 0, r.stderr);
  checkCompose(YAML.parse(r.stdout));
});

test('docker-compose config rejects a file that breaks the Compose schema (the validator validates)', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sluice-compose-'));
  try {
    const doc = YAML.parse(fs.readFileSync(path.join(root, 'docker-compose.yml'), 'utf8'));
    doc.services.sluice.healthcheck.retries = 'many';
    fs.writeFileSync(path.join(dir, 'docker-compose.yml'), YAML.stringify(doc));
    const r = compose(dir, path.join(dir, 'docker-compose.yml'));
    assert.notEqual(r.status, 0, 'an invalid file passed');
    assert.match(r.stderr, /retries/);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
