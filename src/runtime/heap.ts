/**
 * How far V8 lets the heap grow past what the last garbage collection kept, for the daemon
 * (`sluice start`) and its sink worker threads (V8's flags are per process).
 *
 * V8's default grows the heap by a factor chosen per collection, up to 4x the live size
 * when collections are cheap. The Kafka path allocates a new ~3 KiB buffer per record in
 * kafkajs's encoder and fetch decoding, almost all of it garbage at once, so the default
 * let the daemon sit at ~380 MB RSS in `npm run bench` with a fraction of that live. A
 * fixed factor of 1 + HEAP_GROWING_PERCENT/100 collects sooner: measured in bench/results
 * (2026-12-06), it trades a little CPU for the RSS target.
 *
 * An operator's own `--heap-growing-percent=N` on node's command line wins (node refuses
 * V8 flags of this kind in NODE_OPTIONS, but one there is respected too).
 */
import v8 from 'node:v8';

/** The growing factor sluice sets: 1 + 30/100. */
export const HEAP_GROWING_PERCENT = 30;

const FLAG = '--heap-growing-percent';

/** Whether node's command line (execArgv) or NODE_OPTIONS set the flag already. */
export function heapGrowingSet(execArgv: readonly string[], nodeOptions: string | undefined): boolean {
  const given = [...execArgv, ...(nodeOptions ?? '').split(/\s+/)];
  return given.some((a) => a === FLAG || a.startsWith(`${FLAG}=`) || a === '--heap_growing_percent' || a.startsWith('--heap_growing_percent='));
}

/**
 * Sets the heap growing factor unless the command line or NODE_OPTIONS did; returns the
 * flag it set, or null. Called first thing by `sluice start`.
 */
export function tuneHeap(execArgv: readonly string[] = process.execArgv, nodeOptions: string | undefined = process.env.NODE_OPTIONS, set: (flags: string) => void = v8.setFlagsFromString): string | null {
  if (heapGrowingSet(execArgv, nodeOptions)) return null;
  const flag = `${FLAG}=${HEAP_GROWING_PERCENT}`;
  set(flag);
  return flag;
}
