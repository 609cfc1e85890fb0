#!/usr/bin/env -S node --max-semi-space-size=1
// The young generation capped at 1 MiB semi-spaces: edge nodes are small, and edgecore allocates
// little that lives long (bench:edgecore-memory: 90 MiB instead of 113 with 10 pods, same CPU).
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
