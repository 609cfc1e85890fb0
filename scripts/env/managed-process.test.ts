import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { ProcessExitedError, StartTimeoutError } from "./errors.js";
import { ManagedProcess } from "./managed-process.js";

const dir = mkdtempSync(join(tmpdir(), "edgefleet-proc-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function shell(
  name: string,
  script: string,
  ready: () => Promise<boolean>,
  readyTimeoutMs = 5000,
): ManagedProcess {
  return new ManagedProcess({
    name,
    command: "sh",
    args: ["-c", script],
    logFile: join(dir, `${name}.log`),
    ready,
    readyTimeoutMs,
    stopTimeoutMs: 300,
  });
}

describe("managed process", () => {
  it("start - fails with the log tail when the process exits before it is ready", async () => {
    const proc = shell("dies", "echo boom-reason; exit 7", async () => false);
    const error = await proc.start().catch((err: unknown) => err);
    expect(error).toBeInstanceOf(ProcessExitedError);
    expect((error as Error).message).toMatch(/code 7/);
    expect((error as Error).message).toContain("boom-reason");
    expect(proc.state).toEqual({ type: "stopped", code: 7, signal: null });
  });

  it("start - times out, and stops the process, when it never becomes ready", async () => {
    const proc = shell("slow", "sleep 30", async () => false, 300);
    await expect(proc.start()).rejects.toBeInstanceOf(StartTimeoutError);
    expect(proc.state.type).toBe("stopped");
  });

  it("stop - escalates to SIGKILL when SIGTERM is ignored, and is safe to call twice", async () => {
    // Ready only once the trap is installed, or the SIGTERM could win the race.
    const proc = shell("stubborn", "trap '' TERM; echo armed; while :; do sleep 0.1; done", async () =>
      readFileSync(join(dir, "stubborn.log"), "utf8").includes("armed"),
    );
    await proc.start();
    expect(proc.state.type).toBe("running");
    await proc.stop();
    expect(proc.state).toMatchObject({ type: "stopped", signal: "SIGKILL" });
    await proc.stop();
  });
});
