import type { ObservedContainer } from "./pod-status.js";

export const BACKOFF_INITIAL_MS = 10_000;
export const BACKOFF_MAX_MS = 300_000;
/** A container that ran this long before exiting starts its back-off over (the kubelet's 10 min). */
const STABLE_RUN_MS = 600_000;

/** Whether a container that exited should run again, per the pod's restartPolicy. */
export function shouldRestart(policy: "Always" | "OnFailure" | "Never", exited: ObservedContainer): boolean {
  if (policy === "Always") return true;
  if (policy === "OnFailure") return exited.exitCode !== 0;
  return false;
}

export type RestartDecision =
  | { readonly action: "restart" }
  | { readonly action: "wait"; readonly untilMs: number; readonly message: string };

/**
 * The kubelet's CrashLoopBackOff, per container: the first restart is immediate; a container that
 * exits again is restarted 10 s after it finished, then 20 s, 40 s… up to 5 min. A run longer than
 * 10 minutes resets the delay.
 */
export class RestartBackoff {
  readonly #delays = new Map<string, number>();

  decide(key: string, exited: ObservedContainer, now: number, describe: string): RestartDecision {
    const ran = exited.finishedAt - exited.startedAt;
    if (ran >= STABLE_RUN_MS) this.#delays.delete(key);
    const delay = this.#delays.get(key);
    if (delay === undefined) {
      this.#delays.set(key, BACKOFF_INITIAL_MS);
      return { action: "restart" };
    }
    const until = exited.finishedAt + delay;
    if (now < until)
      return {
        action: "wait",
        untilMs: until,
        message: `back-off ${Math.round(delay / 1000)}s restarting failed ${describe}`,
      };
    this.#delays.set(key, Math.min(delay * 2, BACKOFF_MAX_MS));
    return { action: "restart" };
  }

  /** Forgets the containers of a pod that is gone (keys start with the pod UID). */
  forget(prefix: string): void {
    for (const key of this.#delays.keys()) if (key.startsWith(prefix)) this.#delays.delete(key);
  }
}
