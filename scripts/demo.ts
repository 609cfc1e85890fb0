#!/usr/bin/env node
/**
 * The README's first command (`npm start`): the main job (scripts/demo/main-job.ts). Exit code 0
 * when every check held, 1 when a check failed or a step failed (named, with the last lines of the
 * logs of the components involved), 2 for bad flags, 130 after Ctrl-C.
 */
import { mainJobCommand, MainJobOptionsError } from "./demo/options.js";
import { MainJobError, runMainJob } from "./demo/main-job.js";

const out = (line: string): void => void process.stdout.write(line + "\n");
const interrupted = new AbortController();
let onStop: (() => void) | undefined;
const stopRequested = new Promise<void>((resolve) => (onStop = resolve));
let firstSignalAt = 0;
/**
 * One Ctrl-C in a terminal reaches npm, tsx and this process at once, and tsx relays its own copy:
 * signals within two seconds of the first are that same Ctrl-C (taking the second for "quit at
 * once" left the network namespace and the pods' shims behind).
 */
const onSignal = (): void => {
  const now = Date.now();
  if (firstSignalAt === 0) {
    firstSignalAt = now;
    process.stderr.write("\nCtrl-C: stopping everything the main job started (again to quit at once)\n");
    interrupted.abort(new Error("interrupted"));
    onStop?.();
  } else if (now - firstSignalAt > 2000) {
    process.exit(130);
  }
};
process.on("SIGINT", onSignal);
process.on("SIGTERM", onSignal);

const program = mainJobCommand(async (options) => {
  const result = await runMainJob(options, {
    out,
    progressStream: process.stderr,
    signal: interrupted.signal,
    // With --keep, Ctrl-C is the normal end of the run: the exit code is still the checks'.
    untilStopped: () => stopRequested,
  });
  process.exitCode = result.ok ? 0 : 1;
});

try {
  await program.parseAsync(process.argv);
} catch (err) {
  if (err instanceof MainJobOptionsError) {
    process.stderr.write(`bad flag: ${err.message}\n`);
    process.exitCode = 2;
  } else if (interrupted.signal.aborted) {
    process.exitCode = 130;
  } else if (err instanceof MainJobError) {
    // The job printed the failed step and the components' log tails already.
    process.exitCode = 1;
  } else {
    process.stderr.write(`main job failed: ${(err as Error).stack ?? String(err)}\n`);
    process.exitCode = 1;
  }
}
