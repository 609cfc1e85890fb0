#!/usr/bin/env node
import { Command } from "commander";
import { EDGEFLEET_VERSION } from "../protocol/version.js";

// Subcommands are added by the issues that build this component; until then the binary only
// describes itself, so packaging and the bin entry can be tested from the start.
const program = new Command("cloudcore")
  .description(
    "the cloud side: CloudHub tunnel server, controllers on the apiserver, Redis-negotiated node ownership",
  )
  .version(EDGEFLEET_VERSION);

program.parseAsync().catch((err: unknown) => {
  process.stderr.write(`cloudcore: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exitCode = 1;
});
