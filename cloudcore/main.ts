#!/usr/bin/env node
import { Command } from "commander";
import { EDGEFLEET_VERSION } from "../protocol/version.js";
import { iptablesManagerCommand } from "./cli/iptables-manager.js";
import { runCommand } from "./cli/run.js";
import { tokenCommand } from "./cli/token.js";

const program = new Command("cloudcore")
  .description(
    "the cloud side: CloudHub tunnel server, controllers on the apiserver, Redis-negotiated node ownership",
  )
  .version(EDGEFLEET_VERSION);
program.addCommand(runCommand());
program.addCommand(tokenCommand());
program.addCommand(iptablesManagerCommand());

program.parseAsync().catch((err: unknown) => {
  process.stderr.write(`cloudcore: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exitCode = 1;
});
