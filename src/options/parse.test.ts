import { test } from 'node:test';
import assert from 'node:assert/strict';
import { advancedOption, optionsObject, secretOption } from '../core';
import { SluiceError } from '../errors';
import { composeOptions, documentedUnion, OptionCollisionError, withoutDefaults } from './compose';
import { optionsTable, secretPaths, withoutSecrets } from './describe';
import { parseOptions, readOptions } from './parse';

const schema = optionsObject({
  maxBatchSize: { type: 'integer', minimum: 1, default: 1000, description: 'events per batch' },
  mode: { type: 'string', enum: ['a', 'b'], default: 'a' },
  note: { type: 'string' },
  retry: {
    type: 'object',
    additionalProperties: false,
    default: {},
    properties: { initialDelayMs: { type: 'integer', minimum: 1, default: 100 }, maxDelayMs: { type: 'integer', default: 5000 } },
  },
  sasl: {
    type: 'object',
    additionalProperties: false,
    properties: { username: { type: 'string' }, password: secretOption({ type: 'string', description: 'the SASL password' }) },
  },
  token: secretOption({ type: 'string' }),
  serverId: advancedOption({ type: 'integer', minimum: 1 }),
});

const refused = (fn: () => unknown, field: string, message: RegExp): void => {
  assert.throws(fn, (e: unknown) => {
    assert.ok(e instanceof SluiceError, String(e));
    assert.equal(e.code, 'VALIDATION_FAILED');
    assert.equal(e.status, 400);
    assert.equal(e.detail.field, field);
    assert.match(e.message, message);
    return true;
  });
};

test('defaults are applied, nested ones too, and the raw options are left as they were', () => {
  const raw = { note: 'x' };
  const { value, ignored } = parseOptions(schema, raw, { field: 'options' });
  assert.deepEqual(value, { note: 'x', maxBatchSize: 1000, mode: 'a', retry: { initialDelayMs: 100, maxDelayMs: 5000 } });
  assert.deepEqual(ignored, []);
  assert.deepEqual(raw, { note: 'x' }, 'the input is not changed');
  assert.deepEqual(parseOptions(schema, undefined, { field: 'options' }).value.maxBatchSize, 1000);
  assert.deepEqual(parseOptions(schema, { retry: { maxDelayMs: 7 } }, { field: 'options' }).value.retry, { initialDelayMs: 100, maxDelayMs: 7 });
});

test('an unknown option is refused naming it (nested ones with their path)', () => {
  refused(() => parseOptions(schema, { maxBatch: 5 }, { field: 'options' }), 'options.maxBatch', /options\.maxBatch is not a known option/);
  refused(() => parseOptions(schema, { retry: { tries: 3 } }, { field: 'options' }), 'options.retry.tries', /is not a known option/);
  refused(
    () => parseOptions(schema, { colour: 'red' }, { field: 'options', explain: () => 'this kind takes maxBatchSize, mode' }),
    'options.colour',
    /options\.colour is not a known option: this kind takes maxBatchSize, mode/,
  );
});

test('a wrong type or a value out of range is refused naming the option', () => {
  refused(() => parseOptions(schema, { maxBatchSize: '7' }, { field: 'options' }), 'options.maxBatchSize', /must be an integer/);
  refused(() => parseOptions(schema, { maxBatchSize: 0 }, { field: 'options' }), 'options.maxBatchSize', /must be >= 1/);
  refused(() => parseOptions(schema, { maxBatchSize: 1.5 }, { field: 'options' }), 'options.maxBatchSize', /must be an integer/);
  refused(() => parseOptions(schema, { mode: 'c' }, { field: 'options' }), 'options.mode', /must be one of "a", "b"/);
  refused(() => parseOptions(schema, { retry: { initialDelayMs: -1 } }, { field: 'sink.options' }), 'sink.options.retry.initialDelayMs', /must be >= 1/);
  refused(() => parseOptions(schema, [1], { field: 'options' }), 'options', /must be an object/);
});

test('lenient: what does not fit is dropped and reported, so its default applies; the rest is kept', () => {
  const { value, ignored } = parseOptions(schema, { maxBatchSize: 'big', mode: 'a', colour: 'red', retry: { initialDelayMs: 0, tries: 1 }, note: 'kept' }, { field: 'options', lenient: true });
  assert.deepEqual(value, { maxBatchSize: 1000, mode: 'a', note: 'kept', retry: { initialDelayMs: 100, maxDelayMs: 5000 } });
  assert.deepEqual(
    ignored.map((i) => [i.field, i.kind]).sort(),
    [
      ['options.colour', 'unknown'],
      ['options.maxBatchSize', 'invalid'],
      ['options.retry.initialDelayMs', 'invalid'],
      ['options.retry.tries', 'unknown'],
    ],
  );
  assert.ok(ignored.every((i) => i.reason.length > 0));
});

test("readOptions takes a connector's own keys out of a shared object, with defaults, and never throws", () => {
  const own = optionsObject({ maxBatchSize: { type: 'integer', minimum: 1, default: 1000 } });
  assert.deepEqual(readOptions(own, { maxBatchSize: 7, errorHandling: 'WARN', topicPrefix: 'x' }), { maxBatchSize: 7 });
  assert.deepEqual(readOptions(own, { maxBatchSize: 'seven' }), { maxBatchSize: 1000 });
  assert.deepEqual(readOptions(own, undefined), { maxBatchSize: 1000 });
});

test('secrets are marked: write-only, x-secret, found by path, and left out of what is shown', () => {
  const token = schema.properties.token!;
  assert.equal(token.writeOnly, true);
  assert.equal(token['x-secret'], true);
  assert.equal(token.format, 'password');
  assert.equal(schema.properties.serverId!['x-advanced'], true);
  assert.deepEqual(secretPaths(schema), ['sasl.password', 'token']);
  assert.deepEqual(withoutSecrets(schema, { token: 't0p', note: 'n', sasl: { username: 'u', password: 'pw' } }), { note: 'n', sasl: { username: 'u' } });
  assert.match(optionsTable(schema), /\| `token` \(secret\) \|/);
  assert.match(optionsTable(schema), /\| `sasl\.password` \(secret\) \|/);
  assert.match(optionsTable(schema), /\| `serverId` \(advanced\) \|/);
});

test('the docs table lists every option with its type, default and description', () => {
  const table = optionsTable(schema);
  assert.match(table, /^\| option \| type \| default \| description \|/);
  assert.match(table, /\| `maxBatchSize` \| integer \(≥ 1\) \| `1000` \| events per batch \|/);
  assert.match(table, /\| `mode` \| "a" \\\| "b" \| `"a"` \|/);
  assert.match(table, /\| `retry\.initialDelayMs` \| integer \(≥ 1\) \| `100` \|/);
  assert.equal(optionsTable(optionsObject({})), '(none)');
});

test("a stream's options are composed from its owners; a key two owners of one stream declare is a bug", () => {
  const run = optionsObject({ errorHandling: { type: 'string', default: 'FAIL' } });
  const src = optionsObject({ maxBatchSize: { type: 'integer', default: 1000 } });
  const sink = optionsObject({ dropCollections: { type: 'boolean', default: false } });
  const { schema: composed, ownerOf } = composeOptions([
    { role: 'run', schema: run },
    { role: 'source', kind: 'postgresql', schema: src },
    { role: 'sink', kind: 'mongodb', schema: sink },
  ]);
  assert.deepEqual(Object.keys(composed.properties).sort(), ['dropCollections', 'errorHandling', 'maxBatchSize']);
  assert.equal(ownerOf.get('maxBatchSize')?.kind, 'postgresql');
  assert.throws(() => composeOptions([{ role: 'source', kind: 'pg', schema: src }, { role: 'sink', kind: 'x', schema: src }]), OptionCollisionError);
  // The documented union keeps a key both sources declare once, saying who reads it.
  const union = documentedUnion([{ role: 'source', kind: 'postgresql', schema: src }, { role: 'source', kind: 'mysql', schema: src }, { role: 'sink', kind: 'mongodb', schema: sink }]);
  assert.match(union.properties.maxBatchSize!.description!, /^\(postgresql source, mysql source\)/);
  assert.deepEqual((union.properties.maxBatchSize as Record<string, unknown>)['x-sluice-owners'], ['source:postgresql', 'source:mysql']);
});

test('withoutDefaults strips default and example keywords, never an option that is named "default"', () => {
  const s = optionsObject({ default: { type: 'string', default: 'x', example: 'y' }, n: { type: 'integer', default: 1, enum: [1, 2] } });
  assert.deepEqual(withoutDefaults(s), { type: 'object', additionalProperties: false, properties: { default: { type: 'string' }, n: { type: 'integer', enum: [1, 2] } } });
});
