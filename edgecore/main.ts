#!/usr/bin/env node
import { Command } from "commander";
import { EDGEFLEET_VERSION } from "../protocol/version.js";
import { joinCommand } from "./cli/join.js";
import { runCommand } from "./cli/run.js";

const program = new Command("edgecore")
  .description("the edge agent: tunnel client, SQLite metadata, CRI runtime, device twins over MQTT")
  .version(EDGEFLEET_VERSION);
program.addCommand(joinCommand());
program.addCommand(runCommand());

program.parseAsync().catch((err: unknown) => {
  process.stderr.write(`edgecore: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exitCode = 1;
});
