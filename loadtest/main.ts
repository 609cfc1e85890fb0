#!/usr/bin/env node
import { Command } from "commander";
import { EDGEFLEET_VERSION } from "../protocol/version.js";
import { COMPARE_EXIT, compareCommand } from "./cli/compare.js";
import { runCommand, scenariosCommand } from "./cli/run.js";

const program = new Command("edgefleet-load")
  .description("load scenarios and reports from simulator runs and Prometheus metrics")
  .version(EDGEFLEET_VERSION);

program.addCommand(runCommand());
program.addCommand(scenariosCommand());
// compare's exit status is read by CI, where 1 means a regression: a usage error (a missing file
// argument, an unknown option) exits 2 like any other bad input.
program.addCommand(
  compareCommand().exitOverride((err) => process.exit(err.exitCode === 0 ? 0 : COMPARE_EXIT.badInput)),
);

program.parseAsync().catch((err: unknown) => {
  process.stderr.write(`edgefleet-load: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exitCode = 1;
});
