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
