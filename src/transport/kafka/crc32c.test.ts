import test from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { spawnSync } from 'node:child_process';
import { crc32cImplementation, installNativeCrc32c, kafkajsCrc32c, KAFKAJS_CRC32C, nativeCrc32c } from './crc32c';

// CRC-32C (Castagnoli) check values: RFC 3720 appendix B.4 and the catalogue's "123456789".
const VECTORS: Array<[string, Buffer, number]> = [
  ['"123456789"', Buffer.from('123456789'), 0xe3069283],
  ['32 zero bytes', Buffer.alloc(32, 0x00), 0x8a9136aa],
  ['32 0xff bytes', Buffer.alloc(32, 0xff), 0x62a8ab43],
  ['32 ascending bytes', Buffer.from(Array.from({ length: 32 }, (_, i) => i)), 0x46dd794e],
  ['32 descending bytes', Buffer.from(Array.from({ length: 32 }, (_, i) => 31 - i)), 0x113fdb5c],
  ['nothing', Buffer.alloc(0), 0],
];

test('kafkajs takes the native CRC-32C from the require cache', () => {
  assert.equal(crc32cImplementation, 'native', 'the @node-rs/crc32 binary is installed here, so it is used');
  // What recordBatch/v0 requires ('../crc32C') is the native function.
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const taken = require('kafkajs/src/protocol/recordBatch/crc32C') as (b: Buffer) => number;
  assert.equal(require.cache[KAFKAJS_CRC32C]?.exports, taken);
  for (const [name, bytes, want] of VECTORS) assert.equal(taken(bytes), want, name);
});

test('the native CRC-32C gives the known check values and the same numbers as kafkajs\'s own', () => {
  const native = nativeCrc32c();
  assert.ok(native, 'the native binary loads');
  const js = kafkajsCrc32c();
  for (const [name, bytes, want] of VECTORS) {
    assert.equal(native(bytes), want, `native, ${name}`);
    assert.equal(js(bytes) >>> 0, want, `kafkajs, ${name}`);
  }
  for (const size of [1, 7, 64, 3000, 65537]) {
    const bytes = randomBytes(size);
    assert.equal(native(bytes), js(bytes) >>> 0, `${size} random bytes`);
    assert.ok(native(bytes) >= 0, 'unsigned, as kafkajs writes it with writeUInt32');
  }
});

test('a record batch kafkajs encodes carries the CRC-32C of its body', async () => {
  // recordBatch v0 writes the CRC of everything after the CRC field (attributes onwards).
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const { RecordBatch } = require('kafkajs/src/protocol/recordBatch/v0') as { RecordBatch: (o: Record<string, unknown>) => Promise<{ buffer: Buffer }> };
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const Record = require('kafkajs/src/protocol/recordBatch/record/v0') as (o: Record<string, unknown>) => unknown;
  const records = [Record({ key: Buffer.from('k'), value: randomBytes(3000), offsetDelta: 0, timestampDelta: 0, headers: {} })];
  const batch = (await RecordBatch({ compression: 0, firstTimestamp: Date.now(), maxTimestamp: Date.now(), records })).buffer;
  // baseOffset int64, length int32, partitionLeaderEpoch int32, magic int8, crc uint32, then the body.
  const crc = batch.readUInt32BE(8 + 4 + 4 + 1);
  const body = batch.subarray(8 + 4 + 4 + 1 + 4);
  assert.equal(crc, kafkajsCrc32c()(body) >>> 0, 'the CRC field kafkajs wrote is what its own implementation computes over the body');
});

test('without the native binary kafkajs keeps its own CRC-32C, and the batches the same checksum', () => {
  // A process of its own (a fresh require cache) in which '@node-rs/crc32' cannot be found.
  const script = `
    const Module = require('node:module');
    const resolve = Module._resolveFilename;
    Module._resolveFilename = function (request, ...rest) {
      if (request === '@node-rs/crc32') throw Object.assign(new Error('no prebuilt binary'), { code: 'MODULE_NOT_FOUND' });
      return resolve.call(this, request, ...rest);
    };
    const mod = require(${JSON.stringify(require.resolve('./crc32c'))});
    const taken = require('kafkajs/src/protocol/recordBatch/crc32C');
    process.stdout.write(JSON.stringify({ impl: mod.crc32cImplementation, crc: taken(Buffer.from('123456789')) }));`;
  const r = spawnSync(process.execPath, ['-e', script], { encoding: 'utf8', cwd: __dirname });
  assert.equal(r.status, 0, r.stderr);
  assert.deepEqual(JSON.parse(r.stdout), { impl: 'kafkajs', crc: 0xe3069283 });
  assert.equal(installNativeCrc32c(null), 'native', 'here, installed already: a later call changes nothing');
});
