import { spawn, type ChildProcess } from "node:child_process";
import {
  appendFileSync,
  closeSync,
  existsSync,
  openSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { ProcessExitedError } from "./errors.js";
import { waitFor } from "./wait.js";

export interface ProcessSpec {
  /** Short component name, used in errors and log file names. */
  readonly name: string;
  readonly command: string;
  readonly args: readonly string[];
  readonly logFile: string;
  readonly env?: NodeJS.ProcessEnv;
  readonly cwd?: string;
  /** Returns true once the component serves requests. */
  readonly ready: () => Promise<boolean>;
  readonly readyTimeoutMs: number;
  /** How long a graceful stop may take before SIGKILL. */
  readonly stopTimeoutMs?: number;
}

export type ProcessState =
  | { readonly type: "new" }
  | { readonly type: "starting" }
  | { readonly type: "running"; readonly pid: number }
  | { readonly type: "stopped"; readonly code: number | null; readonly signal: NodeJS.Signals | null };

// Every process group we started, so that a crashing test runner does not leave servers behind.
const live = new Set<ChildProcess>();

/**
 * A runner killed by a signal (vitest exits on SIGTERM before any async teardown) runs no exit
 * hook, and our servers, each in its own process group, would outlive it. A detached shell watches
 * this process and SIGKILLs the groups listed in a file once it is gone.
 */
const REAPER_FILE = join(tmpdir(), `edgefleet-reaper-${process.pid}.pgids`);
let reaperStarted = false;

function registerGroup(pgid: number): void {
  appendFileSync(REAPER_FILE, `${pgid}\n`);
  if (reaperStarted) return;
  reaperStarted = true;
  const script =
    `while kill -0 ${process.pid} 2>/dev/null; do sleep 1; done; ` +
    `if [ -f "${REAPER_FILE}" ]; then for g in $(cat "${REAPER_FILE}"); do kill -KILL -$g 2>/dev/null; done; rm -f "${REAPER_FILE}"; fi`;
  spawn("sh", ["-c", script], { detached: true, stdio: "ignore" }).unref();
}

function unregisterGroup(pgid: number): void {
  if (!existsSync(REAPER_FILE)) return;
  const rest = readFileSync(REAPER_FILE, "utf8")
    .split("\n")
    .filter((line) => line !== "" && line !== String(pgid));
  writeFileSync(REAPER_FILE, rest.map((g) => `${g}\n`).join(""));
}

process.once("exit", () => {
  rmSync(REAPER_FILE, { force: true });
  for (const child of live) {
    if (child.pid !== undefined) {
      try {
        process.kill(-child.pid, "SIGKILL");
      } catch {
        // Already gone: nothing to clean up.
      }
    }
  }
});

/**
 * One server process owned by the test environment: started in its own process group with its
 * output in a log file, health-checked until ready, stopped with SIGTERM then SIGKILL.
 */
export class ManagedProcess {
  #state: ProcessState = { type: "new" };
  #child: ChildProcess | undefined;
  #exited: Promise<void> | undefined;

  constructor(readonly spec: ProcessSpec) {}

  get state(): ProcessState {
    return this.#state;
  }

  /** Whether the process is up (started and not exited). */
  get running(): boolean {
    return this.#state.type === "running";
  }

  get pid(): number | undefined {
    return this.#child?.pid;
  }

  async start(): Promise<void> {
    if (this.#state.type !== "new")
      throw new Error(`${this.spec.name}: start() called in state ${this.#state.type}`);
    this.#state = { type: "starting" };
    const logFd = openSync(this.spec.logFile, "a");
    const child = spawn(this.spec.command, [...this.spec.args], {
      cwd: this.spec.cwd,
      env: this.spec.env ?? process.env,
      stdio: ["ignore", logFd, logFd],
      detached: true,
    });
    closeSync(logFd);
    this.#child = child;
    live.add(child);
    const pgid = child.pid;
    if (pgid !== undefined) registerGroup(pgid);
    const exitedEarly = new AbortController();
    this.#exited = new Promise<void>((resolve) => {
      const onExit = (code: number | null, signal: NodeJS.Signals | null): void => {
        live.delete(child);
        if (pgid !== undefined) unregisterGroup(pgid);
        this.#state = { type: "stopped", code, signal };
        exitedEarly.abort(
          new ProcessExitedError(
            `${this.spec.name} exited (code ${code}, signal ${signal}) before it was ready; log ${this.spec.logFile}:\n${this.logTail(30)}`,
          ),
        );
        resolve();
      };
      child.once("exit", onExit);
      child.once("error", (err) => {
        live.delete(child);
        this.#state = { type: "stopped", code: null, signal: null };
        exitedEarly.abort(
          new ProcessExitedError(`${this.spec.name} failed to spawn: ${err.message}`, { cause: err }),
        );
        resolve();
      });
    });
    try {
      await waitFor(this.spec.ready, {
        what: this.spec.name,
        timeoutMs: this.spec.readyTimeoutMs,
        signal: exitedEarly.signal,
      });
    } catch (err) {
      const reason = exitedEarly.signal.aborted ? exitedEarly.signal.reason : err;
      await this.stop();
      throw reason;
    }
    if (child.pid === undefined) throw new ProcessExitedError(`${this.spec.name} has no pid`);
    this.#state = { type: "running", pid: child.pid };
  }

  /** Graceful stop; safe to call twice and in any state. */
  async stop(signal: NodeJS.Signals = "SIGTERM"): Promise<void> {
    const child = this.#child;
    if (child === undefined || this.#exited === undefined || this.#state.type === "stopped") return;
    this.#signalGroup(child, signal);
    const timeout = this.spec.stopTimeoutMs ?? 10_000;
    const stopped = await Promise.race([
      this.#exited.then(() => true),
      sleep(timeout, false, { ref: false }),
    ]);
    if (!stopped) {
      this.#signalGroup(child, "SIGKILL");
      await this.#exited;
    }
  }

  /** Forced stop, for failover tests: SIGKILL to the whole group. */
  async kill(): Promise<void> {
    await this.stop("SIGKILL");
  }

  /** The last `lines` lines of the component's log. */
  logTail(lines: number): string {
    try {
      return readFileSync(this.spec.logFile, "utf8").split("\n").slice(-lines).join("\n");
    } catch {
      return "(no log)";
    }
  }

  #signalGroup(child: ChildProcess, signal: NodeJS.Signals): void {
    if (child.pid === undefined) return;
    try {
      process.kill(-child.pid, signal);
    } catch {
      // The group is already gone.
    }
  }
}
