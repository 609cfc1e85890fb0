#!/usr/bin/env node
import { Command } from "commander";
import { EDGEFLEET_VERSION } from "../protocol/version.js";

// Subcommands are added by the issues that build this component; until then the binary only
// describes itself, so packaging and the bin entry can be tested from the start.
const program = new Command("edgefleet-load")
  .description("load scenarios and reports from simulator runs and Prometheus metrics")
  .version(EDGEFLEET_VERSION);

program.parseAsync().catch((err: unknown) => {
  process.stderr.write(`edgefleet-load: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exitCode = 1;
});
