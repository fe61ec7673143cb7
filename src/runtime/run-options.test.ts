import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { ConnectionSpec, OptionSchema, StreamSpec } from '../core';
import { SluiceError } from '../errors';
import { parseOptions } from '../options';
import { builtinRegistry, BUILTIN_MODULES } from './builtin-connectors';
import { allStreamOptionOwners, checkStoredOptions, parseConnectionOptions, parseStreamOptions, validateStreamOptions } from './run-options';

const registry = builtinRegistry();
const kinds = (role: 'source' | 'sink' | 'transport') => registry.kinds((m) => m.roles.includes(role));

const refused = (fn: () => unknown, field: string, message?: RegExp): void => {
  assert.throws(fn, (e: unknown) => {
    assert.ok(e instanceof SluiceError, String(e));
    assert.equal(e.code, 'VALIDATION_FAILED');
    assert.equal(e.detail.field, field);
    if (message) assert.match(e.message, message);
    return true;
  });
};

test('every source × sink × transport of this build composes: no stream option has two owners in one stream', () => {
  let n = 0;
  for (const source of kinds('source')) {
    for (const sink of kinds('sink')) {
      for (const transport of [undefined, 'direct', ...kinds('transport')]) {
        assert.doesNotThrow(() => parseStreamOptions(registry, {}, { source, sink, ...(transport ? { transport } : {}) }), `${source} → ${transport} → ${sink}`);
        n++;
      }
    }
  }
  assert.ok(n >= 6);
});

test('every declared option documents itself, and its default fits its own schema', () => {
  const check = (where: string, props: Record<string, OptionSchema>): void => {
    for (const [k, s] of Object.entries(props)) {
      assert.ok(s.description && s.description.length > 10, `${where}.${k} has a description`);
      if (s.properties) check(`${where}.${k}`, s.properties);
    }
  };
  for (const m of BUILTIN_MODULES) {
    check(`${m.kind} connection`, m.options.connection.properties);
    check(`${m.kind} stream`, m.options.stream.properties);
    // The defaults alone are a valid set of options.
    assert.doesNotThrow(() => parseOptions(m.options.connection, {}, { field: 'options' }));
    assert.doesNotThrow(() => parseOptions(m.options.stream, {}, { field: 'options' }));
  }
  for (const o of allStreamOptionOwners(registry)) {
    for (const [k, s] of Object.entries(o.schema.properties)) {
      if (s.default !== undefined) assert.doesNotThrow(() => parseOptions(o.schema, { [k]: s.default }, { field: 'options' }), `${k}'s default`);
    }
  }
});

test('maxBatchSize and reconnectTimeoutMs are options now: parsed with their defaults, set values kept', () => {
  const my = parseStreamOptions(registry, { maxBatchSize: 7, reconnectTimeoutMs: 5000 }, { source: 'mysql', sink: 'mongodb', transport: 'direct' }).value;
  assert.equal(my.maxBatchSize, 7);
  assert.equal(my.reconnectTimeoutMs, 5000);
  assert.equal(my.snapshotChunkSize, 5000, 'defaults applied');
  assert.equal(my.errorHandling, 'FAIL', 'run options too');
  assert.equal(my.dropCollections, false, 'and the sink\'s');
  const pg = parseStreamOptions(registry, { maxBatchSize: 7 }, { source: 'postgresql', sink: 'mongodb' }).value;
  assert.equal(pg.maxBatchSize, 7);
  assert.equal(pg.reconnectTimeoutMs, undefined);
});

test("another kind's option is refused naming it and saying whose it is; a bad value names the option", () => {
  refused(
    () => parseStreamOptions(registry, { reconnectTimeoutMs: 5000 }, { source: 'postgresql', sink: 'mongodb' }),
    'options.reconnectTimeoutMs',
    /options\.reconnectTimeoutMs is not a known option: it is an option of the mysql source, and this stream's source is postgresql/,
  );
  refused(() => parseStreamOptions(registry, { topicPrefix: 'x' }, { source: 'postgresql', sink: 'mongodb', transport: 'direct' }), 'options.topicPrefix', /the kafka transport, and this stream's transport is direct/);
  assert.doesNotThrow(() => parseStreamOptions(registry, { topicPrefix: 'x' }, { source: 'postgresql', sink: 'mongodb' }), 'the transport is not fixed yet: kafka is possible');
  refused(() => parseStreamOptions(registry, { maxBatchSize: 0 }, { source: 'mysql', sink: 'mongodb' }), 'options.maxBatchSize', />= 1/);
  refused(() => parseStreamOptions(registry, { maxBatchSize: 'ten' }, { source: 'mysql', sink: 'mongodb' }), 'options.maxBatchSize', /integer/);
  refused(() => validateStreamOptions(registry, { options: {}, transport: { kind: 'kafka', colour: 'x' } as never }, { source: 'mysql', sink: 'mongodb', transport: 'kafka' }), 'transport.colour', /the kafka transport takes format besides kind and connectionId/);
  refused(() => validateStreamOptions(registry, { options: {}, transport: { kind: 'kafka', format: 'nope' } as never }, { source: 'mysql', sink: 'mongodb', transport: 'kafka' }), 'transport.format', /must be one of "json", "json-payload", "avro", "json-schema", "protobuf"/);
  assert.doesNotThrow(() => validateStreamOptions(registry, { options: {}, transport: { kind: 'kafka', format: 'protobuf' } as never }, { source: 'mysql', sink: 'mongodb', transport: 'kafka' }), 'protobuf is a format');
  refused(() => validateStreamOptions(registry, { options: {}, transport: { kind: 'direct', format: 'avro' } as never }, { source: 'mysql', sink: 'mongodb', transport: 'direct' }), 'transport.format', /the direct transport takes no fields besides kind and connectionId/);
});

test('connection options: each kind its own, unknown and wrong-typed ones refused naming them', () => {
  assert.equal(parseConnectionOptions(registry, 'postgresql', {}).value.connectTimeoutMs, 10000);
  assert.equal(parseConnectionOptions(registry, 'mongodb', { writeTimeoutMs: 1500 }).value.writeTimeoutMs, 1500);
  assert.equal(parseConnectionOptions(registry, 'kafka', { topicPartitions: 6 }).value.topicPartitions, 6);
  refused(() => parseConnectionOptions(registry, 'postgresql', { connectTimeoutMs: '10s' }), 'options.connectTimeoutMs', /must be an integer/);
  refused(() => parseConnectionOptions(registry, 'mysql', { tinyint1AsBoolean: false }), 'options.tinyint1AsBoolean', /mysql connections take connectTimeoutMs, sslmode, tls, allowSystemSchemas, serverId, tinyInt1AsBoolean/);
  refused(() => parseConnectionOptions(registry, 'mongodb', { writeConcern: { w: 0 } }), 'options.writeConcern.w');
});

const conn = (kind: string, options: Record<string, unknown>): ConnectionSpec => ({ id: `${kind}-id`, name: kind, kind, url: 'x', options });
const spec = (options: Record<string, unknown>, transport: StreamSpec['transport'] = { kind: 'direct' }): StreamSpec => ({
  id: 's1', name: 's', source: { connectionId: 'a' }, sink: { connectionId: 'b' }, transport, mode: 'CDC', tables: ['public.t'], options,
});

test('a stored spec that predates option checks still runs: what does not fit is dropped, defaults applied, each told with how to fix it', () => {
  const r = checkStoredOptions(registry, {
    stream: spec({ heartbeatIntervalMs: 1000, maxBatch: 5, snapshotChunkSize: -1 }),
    source: conn('postgresql', { applicationName: 'app', colour: 'red', connectTimeoutMs: '10s' }),
    sink: conn('mongodb', {}),
  });
  assert.equal(r.stream.options.heartbeatIntervalMs, 1000, 'a good stored option is kept');
  assert.equal(r.stream.options.snapshotChunkSize, 5000, 'a bad one is dropped: its default applies');
  assert.equal('maxBatch' in r.stream.options, false);
  assert.deepEqual(r.source.options, { applicationName: 'app', connectTimeoutMs: 10000 });
  assert.equal(r.sink.options.writeTimeoutMs, 60000);
  assert.deepEqual(r.warnings.map((w) => w.field).sort(), ['options.colour', 'options.connectTimeoutMs', 'options.maxBatch', 'options.snapshotChunkSize']);
  const colour = r.warnings.find((w) => w.field === 'options.colour')!;
  assert.match(colour.message, /connection "postgresql" \(postgresql\): option options\.colour is not a known option and is ignored/);
  assert.match(colour.suggestion, /PATCH \/api\/v1\/connections\/postgresql-id .*postgresql connections take: applicationName, connectTimeoutMs, sslmode, tls, allowSystemSchemas/);
  assert.match(r.warnings.find((w) => w.field === 'options.maxBatch')!.suggestion, /PUT \/api\/v1\/streams\/s1/);
  // A spec that fits gives no warning, and the run sees every default.
  const clean = checkStoredOptions(registry, { stream: spec({ maxBatchSize: 7 }, { kind: 'kafka' }), source: conn('mysql', {}), sink: conn('mongodb', {}), transport: conn('kafka', { topicPartitions: 2 }) });
  assert.deepEqual(clean.warnings, []);
  assert.equal(clean.stream.options.maxBatchSize, 7);
  assert.equal(clean.stream.options.reconnectTimeoutMs, 300000);
  assert.equal(clean.source.options.tinyInt1AsBoolean, true);
});
