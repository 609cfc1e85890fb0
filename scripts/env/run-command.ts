import { spawn } from "node:child_process";
import { CommandFailedError } from "./errors.js";

export interface CommandResult {
  readonly stdout: string;
  readonly stderr: string;
}

export interface CommandOptions {
  readonly cwd?: string;
  readonly timeoutMs?: number;
}

/** Runs a helper command to completion, throwing CommandFailedError (cause: {code, signal}) on failure. */
export function runCommand(
  command: string,
  args: readonly string[],
  options: CommandOptions = {},
): Promise<CommandResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, [...args], {
      cwd: options.cwd,
      // Own process group: a Ctrl-C meant for the environment's CLI must not kill a helper
      // halfway through cleaning up (e.g. ctr removing containers).
      detached: true,
      stdio: ["ignore", "pipe", "pipe"],
      timeout: options.timeoutMs ?? 60_000,
    });
    const stdout: Buffer[] = [];
    const stderr: Buffer[] = [];
    child.stdout.on("data", (chunk: Buffer) => stdout.push(chunk));
    child.stderr.on("data", (chunk: Buffer) => stderr.push(chunk));
    child.once("error", (err) =>
      reject(new CommandFailedError(`${command} could not run: ${err.message}`, { cause: err })),
    );
    child.once("close", (code, signal) => {
      const out = Buffer.concat(stdout).toString("utf8");
      const err = Buffer.concat(stderr).toString("utf8");
      if (code === 0) {
        resolve({ stdout: out, stderr: err });
        return;
      }
      const how = signal === null ? `exit code ${code}` : `signal ${signal}`;
      reject(
        new CommandFailedError(`${command} ${args.join(" ")} failed (${how}): ${err.trim()}`, {
          cause: { code, signal },
        }),
      );
    });
  });
}
