import type { ChildProcess } from "node:child_process";

/** Resolves with the child's next IPC message of `type`; rejects on its `error` message or a timeout. */
export function next<T extends { type: string }>(
  child: ChildProcess,
  type: T["type"],
  timeoutMs = 600_000,
): Promise<T> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(
      () => reject(new Error(`no ${type} from child within ${timeoutMs} ms`)),
      timeoutMs,
    );
    const onMessage = (message: T | { type: "error"; message: string }): void => {
      if (message.type === "error") {
        clearTimeout(timer);
        child.off("message", onMessage);
        reject(new Error((message as { message: string }).message));
      } else if (message.type === type) {
        clearTimeout(timer);
        child.off("message", onMessage);
        resolve(message as T);
      }
    };
    child.on("message", onMessage);
  });
}

/**
 * Starts edges in waves of `waveSize` and waits for each wave to connect (or time out), so a
 * benchmark measures the handshake rate rather than a thundering herd. Resolves to how many failed.
 */
export async function connectInWaves(
  edges: readonly { start(): void; connected(): Promise<void> }[],
  waveSize = 500,
  timeoutMs = 120_000,
): Promise<number> {
  let failed = 0;
  for (let i = 0; i < edges.length; i += waveSize) {
    const wave = edges.slice(i, i + waveSize);
    wave.forEach((e) => e.start());
    const results = await Promise.allSettled(
      wave.map((e) =>
        Promise.race([
          e.connected(),
          new Promise((_, reject) => setTimeout(() => reject(new Error("timeout")), timeoutMs)),
        ]),
      ),
    );
    failed += results.filter((r) => r.status === "rejected").length;
  }
  return failed;
}
