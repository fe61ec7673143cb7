import { test } from 'node:test';
import assert from 'node:assert/strict';
import { PassThrough } from 'node:stream';
import { createLogger } from './logger';

test('secret headers and fields are redacted by path: X-Connection-Password, X-API-Key, Authorization, password', () => {
  const out = new PassThrough();
  const lines: string[] = [];
  out.on('data', (b: Buffer) => lines.push(b.toString()));
  const logger = createLogger({ level: 'debug', pretty: 'false', destination: out });
  logger.info({ req: { headers: { 'x-connection-password': 'pw-header-1', 'x-api-key': 'key-2', authorization: 'Bearer tok-3', accept: 'json' } } }, 'request');
  logger.info({ headers: { 'x-connection-password': 'pw-header-4' }, body: { password: 'pw-5', passwords: { c1: 'pw-6' } } }, 'other');
  logger.flush();
  const text = lines.join('');
  for (const secret of ['pw-header-1', 'key-2', 'tok-3', 'pw-header-4', 'pw-5', 'pw-6']) assert.equal(text.includes(secret), false, `${secret} in ${text}`);
  assert.match(text, /"accept":"json"/, 'other headers stay');
  assert.match(text, /\[redacted\]/);
});
