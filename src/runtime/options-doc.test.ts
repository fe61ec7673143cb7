import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { optionsMarkdown, readmeSection } from './options-doc';

test('README "Options" lists exactly what the connectors declare (regenerate with npm run docs:options)', () => {
  const readme = fs.readFileSync(path.resolve(__dirname, '../../../README.md'), 'utf8');
  const section = readmeSection(readme);
  assert.ok(section !== null, 'README.md has the options markers');
  assert.equal(section, optionsMarkdown().trim(), 'README.md is out of date: run npm run build && npm run docs:options');
});

test('the generated section names every option of every kind', () => {
  const md = optionsMarkdown();
  for (const name of ['maxBatchSize', 'reconnectTimeoutMs', 'heartbeatIntervalMs', 'snapshotChunkSize', 'slotName', 'writeTimeoutMs', 'decimals', 'topicPrefix', 'topicPartitions', 'tombstones', 'errorHandling', 'dropCollections', 'serverId']) {
    assert.match(md, new RegExp(`\\| \`${name}\``), name);
  }
});
