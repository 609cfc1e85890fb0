import { setTimeout as sleep } from "node:timers/promises";
import { StartTimeoutError } from "./errors.js";

export interface WaitOptions {
  /** What is being waited for, for the error message. */
  readonly what: string;
  readonly timeoutMs: number;
  readonly intervalMs?: number;
  /** Stops the wait early (for example when the process being probed has exited). */
  readonly signal?: AbortSignal;
}

/**
 * Polls `probe` until it returns true, throwing StartTimeoutError (with the last probe error as
 * cause) when the deadline passes. A probe that throws counts as "not yet".
 */
export async function waitFor(probe: () => Promise<boolean>, options: WaitOptions): Promise<void> {
  const deadline = Date.now() + options.timeoutMs;
  const interval = options.intervalMs ?? 200;
  let lastError: unknown;
  for (;;) {
    options.signal?.throwIfAborted();
    try {
      if (await probe()) return;
    } catch (err) {
      lastError = err;
    }
    if (Date.now() >= deadline) {
      throw new StartTimeoutError(`${options.what} not ready after ${options.timeoutMs} ms`, {
        cause: lastError,
      });
    }
    await sleep(interval, undefined, options.signal ? { signal: options.signal } : undefined);
  }
}

export interface SettleOptions {
  readonly intervalMs: number;
  readonly timeoutMs: number;
  readonly signal?: AbortSignal;
}

/**
 * Samples a figure that drifts for a while (a just-started process's resident memory, which sheds
 * start-up garbage) until three samples in a row are within 1% of each other, or `timeoutMs`
 * passes; resolves to the lowest sample seen, the baseline later growth is measured from.
 */
export async function settledLowest(sample: () => Promise<number>, options: SettleOptions): Promise<number> {
  const deadline = Date.now() + options.timeoutMs;
  const samples: number[] = [];
  for (;;) {
    samples.push(await sample());
    const last = samples.slice(-3);
    const low = Math.min(...samples);
    if (last.length === 3 && low > 0 && (Math.max(...last) - Math.min(...last)) / low < 0.01) return low;
    if (Date.now() >= deadline) return low;
    await sleep(options.intervalMs, undefined, options.signal ? { signal: options.signal } : undefined);
  }
}
