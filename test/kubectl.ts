import { spawn, type ChildProcess } from "node:child_process";
import { request } from "node:http";
import { builtBinary, KUBERNETES_BIN_DIR } from "../scripts/env/binaries.js";

export const KUBECTL = builtBinary(KUBERNETES_BIN_DIR, "kubectl");

export interface CommandRun {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

/** Runs a command (kubectl, or `script` around it for a terminal) to its end, with optional stdin. */
export function runWith(
  kubeconfig: string,
  command: string,
  args: readonly string[],
  input?: string,
  timeoutMs = 60_000,
): Promise<CommandRun> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, [...args], {
      env: { ...process.env, KUBECONFIG: kubeconfig },
      stdio: ["pipe", "pipe", "pipe"],
      timeout: timeoutMs,
    });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (d: Buffer) => (stdout += d.toString("utf8")));
    child.stderr.on("data", (d: Buffer) => (stderr += d.toString("utf8")));
    child.on("error", reject);
    child.on("close", (code) => resolve({ code, stdout, stderr }));
    child.stdin.end(input);
  });
}

/** Starts a long-running kubectl (logs -f, port-forward) and collects its output as it comes. */
export function kubectlInBackground(
  kubeconfig: string,
  args: readonly string[],
): { child: ChildProcess; output: () => string } {
  const child = spawn(KUBECTL, [...args], {
    env: { ...process.env, KUBECONFIG: kubeconfig },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let out = "";
  child.stdout?.on("data", (d: Buffer) => (out += d.toString("utf8")));
  child.stderr?.on("data", (d: Buffer) => (out += d.toString("utf8")));
  return { child, output: () => out };
}

/** Stops a background kubectl (SIGTERM) and waits for it to exit. */
export function stopProcess(child: ChildProcess): Promise<void> {
  return new Promise((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) return resolve();
    child.once("close", () => resolve());
    child.kill("SIGTERM");
  });
}

/** GET http://127.0.0.1:<port>/ and its body. */
export function httpBody(port: number, path = "/"): Promise<string> {
  return new Promise((resolve, reject) => {
    const req = request({ host: "127.0.0.1", port, path, agent: false }, (res) => {
      let text = "";
      res.on("data", (d: Buffer) => (text += d.toString("utf8")));
      res.on("end", () => resolve(text));
    });
    req.on("error", reject);
    req.end();
  });
}
