/**
 * V8's heap growing factor for the daemon and its sink worker threads (V8's flags are per
 * process): `memory.heapGrowingPercent` (SLUICE_HEAP_GROWING_PERCENT), set by `sluice start`
 * before the streams run.
 *
 * V8's default grows the old generation by a factor it picks per collection, up to 4x what
 * the last full collection kept. The Kafka path allocates a ~3 KiB buffer and its objects
 * per record (kafkajs's encoder, the fetch decoding), nearly all garbage soon, so a fixed
 * lower factor collects sooner and holds less. Measured in `npm run bench -- pg`
 * (2026-12-06, README "Benchmarks"): 30 took the daemon's peak RSS from ~500 to ~420 MB
 * and doubled its CPU per event into Kafka (V8 then marks almost without pause, on the
 * same 2 cores), 50 the same, 100 changed nothing; so the default is 0, V8's own, and a
 * deployment short of memory rather than CPU can set it.
 *
 * An operator's own `--heap-growing-percent=N` on node's command line wins (node refuses
 * this V8 flag in NODE_OPTIONS, but one there is respected too).
 */
import v8 from 'node:v8';

const FLAG = '--heap-growing-percent';

/** Whether node's command line (execArgv) or NODE_OPTIONS set the flag already. */
export function heapGrowingSet(execArgv: readonly string[], nodeOptions: string | undefined): boolean {
  const given = [...execArgv, ...(nodeOptions ?? '').split(/\s+/)];
  return given.some((a) => a === FLAG || a.startsWith(`${FLAG}=`) || a === '--heap_growing_percent' || a.startsWith('--heap_growing_percent='));
}

/**
 * Sets the heap growing factor to 1 + percent/100, unless percent is 0 (V8's own) or the
 * command line or NODE_OPTIONS set it; returns the flag it set, or null.
 */
export function tuneHeap(
  percent: number,
  execArgv: readonly string[] = process.execArgv,
  nodeOptions: string | undefined = process.env.NODE_OPTIONS,
  set: (flags: string) => void = v8.setFlagsFromString,
): string | null {
  if (percent <= 0 || heapGrowingSet(execArgv, nodeOptions)) return null;
  const flag = `${FLAG}=${Math.floor(percent)}`;
  set(flag);
  return flag;
}
