/** Polls `probe` until it yields a value, failing with `what` after `timeoutMs`. */
export async function untilValue<T>(
  what: string,
  timeoutMs: number,
  probe: () => Promise<T | undefined>,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** Polls `probe` until it returns true, failing with `what` after `timeoutMs`. */
export async function until(what: string, probe: () => boolean, timeoutMs: number): Promise<void> {
  await untilValue(what, timeoutMs, async () => (probe() ? true : undefined));
}
