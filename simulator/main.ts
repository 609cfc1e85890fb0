#!/usr/bin/env node
import { Command } from "commander";
import { EDGEFLEET_VERSION } from "../protocol/version.js";
import { chaosCommand } from "./cli/chaos.js";
import { joinCommand } from "./cli/join.js";
import { reportCommand } from "./cli/report.js";
import { runCommand } from "./cli/run.js";
import { workloadCommand } from "./cli/workload.js";

const program = new Command("edgefleet-sim")
  .description("emulates edge nodes and pods over real tunnels for capacity tests")
  .version(EDGEFLEET_VERSION);
program.addCommand(runCommand());
program.addCommand(joinCommand());
program.addCommand(workloadCommand());
program.addCommand(chaosCommand());
program.addCommand(reportCommand());

program.parseAsync().catch((err: unknown) => {
  process.stderr.write(`edgefleet-sim: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exitCode = 1;
});
