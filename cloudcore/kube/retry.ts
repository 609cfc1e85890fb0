import { statusCodeOf } from "./kube-rest.js";

/** Extra attempts of a read-modify-write that lost a race. */
export const CONFLICT_RETRIES = 5;

/**
 * Runs `attempt` (which reads fresh and writes) again while it fails with one of `codes` — 409
 * Conflict by default — at most `retries` more times; any other error, or the last one, is thrown.
 */
export async function retryOn<T>(
  attempt: () => Promise<T>,
  codes: readonly number[] = [409],
  retries = CONFLICT_RETRIES,
): Promise<T> {
  for (let n = 0; ; n++) {
    try {
      return await attempt();
    } catch (err) {
      const code = statusCodeOf(err);
      if (code === undefined || !codes.includes(code) || n >= retries) throw err;
    }
  }
}
