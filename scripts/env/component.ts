import type { ManagedProcess } from "./managed-process.js";

/** A running server of the environment. */
export interface Component {
  readonly name: string;
  readonly logFile: string;
  /** False once its process has exited (what a failure report looks for); absent: not known. */
  readonly running?: boolean;
  /** Graceful stop; safe to call twice. */
  stop(): Promise<void>;
}

/** Adapts a ManagedProcess to Component. */
export function processComponent(process: ManagedProcess): Component {
  return {
    name: process.spec.name,
    logFile: process.spec.logFile,
    get running() {
      return process.running;
    },
    stop: () => process.stop(),
  };
}
