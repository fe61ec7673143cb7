/**
 * A store written by a version before the one URL parser may hold a password in clear
 * inside a connection URL (issue 22, finding 3: a multi-host URL the standard parser
 * refused was stored as it came). Opening it moves such a password into the encrypted
 * secret and rewrites the URL; the clear text is gone from the files, not only from the
 * table; a URL that cannot be read at all is reported.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { openStore } from './index';
import { parseConnectionUrl } from '../connection-url';

test('opening a store rewrites URLs an older version kept with a password: encrypted apart, gone from the files', async () => {
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'sluice-scrub-'));
  try {
    const first = openStore({ dataDir, secretKey: '' });
    const insert = first.db.prepare(
      `INSERT INTO connections (id, name, kind, url, secret, save_password, options, created_at, updated_at) VALUES (?, ?, ?, ?, NULL, ?, '{}', 'x', 'x')`,
    );
    insert.run('a', 'legacy-multi', 'mongodb', 'mongodb://u:LegacySecret1@h1:27017,h2:27018/db', 1);
    insert.run('b', 'legacy-nosave', 'mongodb', 'mongodb://u:LegacySecret2@h1,h2/db', 0);
    insert.run('c', 'legacy-unreadable', 'postgresql', 'postgresql://u:LegacySecret3@h1,h2/db', 1);
    insert.run('d', 'clean', 'postgresql', 'postgresql://u@h/db', 1);
    await first.close();

    const store = openStore({ dataDir, secretKey: '' });
    try {
      assert.deepEqual(store.urlScrub, { scrubbed: ['a', 'b'], unreadable: ['c'] });
      assert.equal((await store.connections.get('a'))!.url, 'mongodb://u@h1:27017,h2:27018/db');
      assert.equal((await store.connections.get('a'))!.hasPassword, true);
      assert.equal(parseConnectionUrl((await store.connections.resolve('a'))!.url).password, 'LegacySecret1');
      assert.equal((await store.connections.get('b'))!.hasPassword, false, 'savePassword:false: the password is dropped, not kept');
      assert.equal((await store.connections.get('d'))!.url, 'postgresql://u@h/db');
    } finally {
      await store.close();
    }
    for (const f of ['sluice.db', 'sluice.db-wal']) {
      const p = path.join(dataDir, f);
      if (!fs.existsSync(p)) continue;
      const bytes = fs.readFileSync(p);
      for (const secret of ['LegacySecret1', 'LegacySecret2']) assert.equal(bytes.includes(secret), false, `${secret} still in ${f}`);
    }
  } finally {
    fs.rmSync(dataDir, { recursive: true, force: true });
  }
});
