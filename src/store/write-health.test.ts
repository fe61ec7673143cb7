import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import Database from 'better-sqlite3';
import { openStore } from './index';
import { STORE_FILE } from './db';
import { isStoreWriteFailure, WriteHealth } from './write-health';

test('a write SQLite refuses (a read-only store) becomes STATE_STORE_WRITE_FAILED, remembered until a write succeeds', async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sluice-wh-'));
  try {
    const store = openStore({ dataDir: dir, secretKey: '' });
    await store.close();
    const ro = new Database(path.join(dir, STORE_FILE), { readonly: true });
    const health = new WriteHealth('sluice.db');
    let thrown: unknown;
    try {
      await health.guard(() => ro.prepare("INSERT INTO meta (key, value) VALUES ('x', 'y')").run());
    } catch (err) {
      thrown = err;
    }
    ro.close();
    assert.equal((thrown as { code?: string }).code, 'STATE_STORE_WRITE_FAILED');
    assert.equal((thrown as { retriable?: boolean }).retriable, true);
    assert.match((thrown as Error).message, /SQLITE_READONLY/);
    assert.equal(health.failure?.sqliteCode, 'SQLITE_READONLY');
    const since = health.failure!.since;
    await assert.rejects(() => health.guard(() => { throw Object.assign(new Error('database or disk is full'), { code: 'SQLITE_FULL' }); }), /SQLITE_FULL/);
    assert.equal(health.failure!.since, since, 'the failure series keeps its start');
    assert.equal(await health.guard(() => 1), 1);
    assert.equal(health.failure, null, 'a successful write clears it');
    // Anything else passes through as it was.
    const other = Object.assign(new Error('constraint'), { code: 'SQLITE_CONSTRAINT_UNIQUE' });
    await assert.rejects(() => health.guard(() => { throw other; }), (e) => e === other);
    assert.equal(health.failure, null);
    assert.equal(isStoreWriteFailure({ code: 'SQLITE_IOERR_WRITE' }), true);
    assert.equal(isStoreWriteFailure({ code: 'SQLITE_BUSY' }), false);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('the store reports a write failure for /readyz and clears it once a probe write succeeds', async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sluice-wh-'));
  const store = openStore({ dataDir: dir, secretKey: '' });
  try {
    assert.equal((await store.writeFailure()), null);
    await assert.rejects(() => store.writes.guard(() => { throw Object.assign(new Error('database or disk is full'), { code: 'SQLITE_FULL' }); }));
    assert.equal(store.writes.failure?.code, 'STATE_STORE_WRITE_FAILED');
    // The disk is writable here: the probe heals it.
    assert.equal((await store.writeFailure()), null);
  } finally {
    await store.close();
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
