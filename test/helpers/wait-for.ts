/**
 * Polls until a condition holds: tests wait for an observable state, never for a
 * fixed time. The timeout only bounds a broken test; it is not an assertion.
 */
export async function waitFor<T>(
  probe: () => T | Promise<T>,
  opts: { timeoutMs?: number; intervalMs?: number; message?: string } = {},
): Promise<NonNullable<T>> {
  const timeoutMs = opts.timeoutMs ?? 5000;
  const intervalMs = opts.intervalMs ?? 2;
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const value = await probe();
      // Any falsy value (0 and "" included) means "not yet".
      if (value) return value as NonNullable<T>;
      last = value;
    } catch (err) {
      last = err;
    }
    if (Date.now() > deadline) {
      const why = last instanceof Error ? last.message : JSON.stringify(last);
      throw new Error(`waitFor timed out after ${timeoutMs}ms: ${opts.message ?? 'condition'} (last: ${why})`);
    }
    await new Promise((r) => setTimeout(r, intervalMs));
  }
}
