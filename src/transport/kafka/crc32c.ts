/**
 * The CRC-32C kafkajs puts on every record batch it produces, computed natively.
 *
 * kafkajs computes it in JavaScript, a table lookup per byte
 * (`kafkajs/src/protocol/recordBatch/crc32C`): with ~3 KiB records that was a fifth of
 * kafkajs's own CPU in the bench (README, "Dependency notes"). `@node-rs/crc32` ships
 * prebuilt binaries (SSE 4.2 / ARMv8 CRC instructions) through npm. Loading this module
 * puts its `crc32c` in the require cache under the path of kafkajs's module, so that
 * kafkajs, which loads that module lazily on its first produce, takes the native one.
 * Where the binary cannot load (a platform without a prebuilt one), kafkajs's own module
 * stays: slower, the same bytes.
 *
 * Loaded by clients.ts, before kafkajs opens a client, in the daemon and in a sink worker.
 */
import Module from 'node:module';

/** The module kafkajs requires for the checksum (`recordBatch/v0` requires `../crc32C`). */
export const KAFKAJS_CRC32C = require.resolve('kafkajs/src/protocol/recordBatch/crc32C/index.js');

type Crc = (buffer: Buffer) => number;

/** The native CRC-32C as kafkajs's module exports it (an unsigned 32-bit number), or null when the binary cannot load. */
export function nativeCrc32c(): Crc | null {
  try {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const { crc32c } = require('@node-rs/crc32') as { crc32c: (input: Uint8Array) => number };
    return (buffer: Buffer) => crc32c(buffer) >>> 0;
  } catch {
    return null;
  }
}

/** kafkajs's own JavaScript CRC-32C (the fallback, and the reference of the unit test). */
export function kafkajsCrc32c(): Crc {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  return require('kafkajs/src/protocol/recordBatch/crc32C/crc32C.js') as Crc;
}

/** Which implementation kafkajs uses: 'native' once installed, 'kafkajs' otherwise. */
export let crc32cImplementation: 'native' | 'kafkajs' = 'kafkajs';

/**
 * Puts the native CRC-32C in kafkajs's place, once; a no-op where the binary is missing or
 * kafkajs loaded its own already (then its batches keep that one: the same bytes).
 */
export function installNativeCrc32c(native: Crc | null = nativeCrc32c()): 'native' | 'kafkajs' {
  if (crc32cImplementation === 'native') return crc32cImplementation;
  const cache = require.cache;
  if (!native || cache[KAFKAJS_CRC32C]) return crc32cImplementation;
  const m = new Module(KAFKAJS_CRC32C);
  m.filename = KAFKAJS_CRC32C;
  m.loaded = true;
  m.exports = native;
  cache[KAFKAJS_CRC32C] = m;
  crc32cImplementation = 'native';
  return crc32cImplementation;
}

installNativeCrc32c();
