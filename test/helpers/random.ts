/**
 * A seeded pseudo-random source for fuzz tests (mulberry32): a failing case names its
 * seed, and the same seed replays it.
 */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** The seed from `envVar`, else a fresh one (printed with every failure by the caller). */
export const fuzzSeed = (envVar: string): number => Number(process.env[envVar] ?? Date.now() % 100000);
