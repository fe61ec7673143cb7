/**
 * Which partition a keyed record goes to: the Java client's (and kafkajs's) default,
 * `toPositive(murmur2(key)) % partitions`, so our topics are partitioned the way Kafka
 * Connect and Debezium partition theirs.
 *
 * kafkajs's own murmur2 computes in 64-bit `Long` objects, a dozen allocations per four
 * key bytes; with Debezium JSON keys (~250 bytes with their schema) it cost a fifth of
 * the daemon's CPU while publishing. The hash only ever keeps the low 32 bits, so
 * `Math.imul` computes exactly the same value; partition.test.ts checks it against
 * kafkajs's implementation.
 */
const SEED = 0x9747b28c;
const M = 0x5bd1e995;

/** Kafka's murmur2 of `data` (Utils.murmur2 in the Java client), as a signed 32-bit int. */
export function murmur2(data: Uint8Array): number {
  const length = data.length;
  let h = SEED ^ length;
  const tail = length & ~3;
  for (let i = 0; i < tail; i += 4) {
    let k = data[i]! | (data[i + 1]! << 8) | (data[i + 2]! << 16) | (data[i + 3]! << 24);
    k = Math.imul(k, M);
    k ^= k >>> 24;
    k = Math.imul(k, M);
    h = Math.imul(h, M) ^ k;
  }
  const rest = length & 3;
  if (rest === 3) h ^= data[tail + 2]! << 16;
  if (rest >= 2) h ^= data[tail + 1]! << 8;
  if (rest >= 1) h = Math.imul(h ^ data[tail]!, M);
  h ^= h >>> 13;
  h = Math.imul(h, M);
  h ^= h >>> 15;
  return h | 0;
}

/** The partition of a record with this key, among `partitions` (the default partitioner's choice). */
export function partitionOf(key: Uint8Array, partitions: number): number {
  return (murmur2(key) & 0x7fffffff) % partitions;
}
