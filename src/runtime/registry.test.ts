import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createRegistry, DuplicateConnectorError, UnknownConnectorError } from './registry';
import { NO_OPTIONS, type ConnectorModule } from '../core';

const mod = (kind: string): ConnectorModule => ({ kind, options: { connection: NO_OPTIONS, stream: NO_OPTIONS }, roles: ['source'] });

test('a registered connector is found by its kind, and listed', () => {
  const r = createRegistry();
  const pg = mod('postgresql');
  r.register(pg);
  r.register(mod('mysql'));
  assert.equal(r.get('postgresql'), pg);
  assert.deepEqual(r.list().map((m) => m.kind), ['mysql', 'postgresql']);
});

test('an unknown kind throws CONNECTOR_UNKNOWN naming the supported kinds', () => {
  const r = createRegistry();
  r.register(mod('mysql'));
  assert.throws(() => r.get('oracle'), (err: unknown) => {
    assert.ok(err instanceof UnknownConnectorError);
    assert.equal(err.code, 'CONNECTOR_UNKNOWN');
    assert.deepEqual(err.detail, { kind: 'oracle', supported: ['mysql'] });
    return true;
  });
});

test('registering a kind twice throws, also when the name is taken by an alias', () => {
  const r = createRegistry();
  r.register(mod('postgresql'));
  assert.throws(() => r.register(mod('postgresql')), DuplicateConnectorError);
  r.registerAlias('postgres', 'postgresql');
  assert.throws(() => r.register(mod('postgres')), DuplicateConnectorError);
});

test('an alias resolves to its kind and is reported as deprecated', () => {
  const r = createRegistry();
  const pg = mod('postgresql');
  r.register(pg);
  r.registerAlias('postgres', 'postgresql');
  assert.equal(r.get('postgres'), pg);
  assert.deepEqual(r.resolve('postgres'), { module: pg, deprecatedAlias: 'postgres' });
  assert.deepEqual(r.resolve('postgresql'), { module: pg });
  assert.deepEqual(r.listAliases(), [{ alias: 'postgres', kind: 'postgresql', deprecated: true }]);
  assert.throws(() => r.registerAlias('pg', 'nope'), UnknownConnectorError);
});

test('registries are isolated from each other', () => {
  const a = createRegistry();
  const b = createRegistry();
  a.register(mod('mysql'));
  assert.equal(b.has('mysql'), false);
});
