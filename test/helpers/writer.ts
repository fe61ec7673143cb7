/** A background writer: `step` runs again and again until stop(), which rethrows its first failure. */
export function untilStopped(step: () => Promise<void>): { stop: () => Promise<void> } {
  let running = true;
  let failed: unknown;
  const loop = (async () => {
    while (running) await step();
  })().catch((err: unknown) => {
    failed = err;
  });
  return {
    stop: async () => {
      running = false;
      await loop;
      if (failed !== undefined) throw failed;
    },
  };
}
