import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { spawn } from 'node:child_process';
import { openStore } from './index';

/**
 * Guarantee: whatever the store reported as written survives kill -9. A child
 * process writes positions as fast as it can and prints each one after the write
 * returned; we SIGKILL it mid-stream and check the store against what it printed.
 */
test('the store survives kill -9: every acknowledged write is there and the file is intact', async () => {
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'sluice-crash-'));
  const seed = openStore({ dataDir, secretKey: '' });
  const conn = seed.connections.create({ name: 'c', kind: 'postgresql', url: 'postgresql://u:pw@h/db' });
  const sink = await seed.connections.create({ name: 'm', kind: 'mongodb', url: 'mongodb://h:27017/db' });
  const stream = seed.streams.create({ name: 's', source: { connectionId: (await conn).id }, sink: { connectionId: sink.id }, transport: { kind: 'direct' }, mode: 'CDC', tables: [], options: {} });
  await seed.close();

  const child = spawn(
    process.execPath,
    [
      '-e',
      `const { openStore } = require(${JSON.stringify(path.join(__dirname, 'index.js'))});
       const s = openStore({ dataDir: ${JSON.stringify(dataDir)}, secretKey: '' });
       let i = 0;
       for (;;) { i++; s.positions.save(${JSON.stringify((await stream).spec.id)}, 'cdc', { seq: i }); s.runs.addUpdate(${JSON.stringify((await stream).spec.id)}, null, { level: 'INFO', stage: 'CDC', message: 'n' + i }); process.stdout.write(i + '\\n'); }`,
    ],
    { stdio: ['ignore', 'pipe', 'inherit'] },
  );
  let lastPrinted = 0;
  let buffered = '';
  await new Promise<void>((resolve) => {
    child.stdout.on('data', (chunk: Buffer) => {
      buffered += chunk.toString();
      const lines = buffered.split('\n');
      buffered = lines.pop() ?? '';
      for (const l of lines) lastPrinted = Number(l);
      if (lastPrinted >= 300 && !child.killed) {
        child.kill('SIGKILL');
        resolve();
      }
    });
  });
  await new Promise((r) => child.once('exit', r));
  assert.ok(lastPrinted >= 300);

  const store = openStore({ dataDir, secretKey: '' });
  assert.equal((store.db.pragma('integrity_check', { simple: true }) as string), 'ok');
  const saved = (await store.positions.load((await stream).spec.id, 'cdc')) as { seq: number };
  assert.ok(saved.seq >= lastPrinted, `saved ${saved.seq} < acknowledged ${lastPrinted}`);
  assert.ok((await store.runs.listUpdates((await stream).spec.id, { limit: 1000 })).total >= lastPrinted);
  assert.equal((await store.connections.resolve((await conn).id))?.url, 'postgresql://u:pw@h/db');
  await store.close();
});
