#!/usr/bin/env node
/**
 * edgefleet-env: start the local environment (the same servers the tests use) and keep it up
 * until Ctrl-C, printing where everything is.
 */
import { writeFileSync } from "node:fs";
import { Command, InvalidArgumentError } from "commander";
import { ALL_COMPONENTS, startEnvironment, type ComponentGroup } from "./environment.js";

function parseComponents(value: string): ComponentGroup[] {
  const names = value.split(",").map((s) => s.trim());
  for (const name of names) {
    if (!(ALL_COMPONENTS as readonly string[]).includes(name)) {
      throw new InvalidArgumentError(
        `unknown component "${name}"; expected a comma-separated subset of ${ALL_COMPONENTS.join(",")}`,
      );
    }
  }
  return names as ComponentGroup[];
}

/**
 * Resolves on the first SIGINT/SIGTERM and keeps handling later ones, so a second Ctrl-C (or a
 * signal sent to the whole process group) cannot kill us halfway through stopping the servers.
 */
function untilSignal(): Promise<void> {
  return new Promise((resolve) => {
    let received = false;
    const onSignal = (signal: NodeJS.Signals): void => {
      if (received) {
        process.stderr.write(`${signal} again: still stopping the servers, please wait\n`);
        return;
      }
      received = true;
      resolve();
    };
    process.on("SIGINT", onSignal);
    process.on("SIGTERM", onSignal);
  });
}

const program = new Command("edgefleet-env").description(
  "Local test environment: real etcd, Kubernetes, Redis, Mosquitto, containerd on loopback",
);

program
  .command("up")
  .description("start the environment and keep it running until SIGINT/SIGTERM")
  .option("--components <list>", `comma-separated subset of ${ALL_COMPONENTS.join(",")}`, parseComponents, [
    ...ALL_COMPONENTS,
  ])
  .option("--info-file <path>", "write the environment description (JSON) to this file")
  .option("--keep-state", "keep the state directory (data and logs) after stopping", false)
  .action(async (opts: { components: ComponentGroup[]; infoFile?: string; keepState: boolean }) => {
    const env = await startEnvironment({
      components: opts.components,
      keepStateDir: opts.keepState,
      onReady: (name, ms) => process.stderr.write(`ready: ${name} (${(ms / 1000).toFixed(1)} s)\n`),
    });
    const json = JSON.stringify(env.info, null, 2);
    if (opts.infoFile) writeFileSync(opts.infoFile, json);
    process.stdout.write(json + "\n");
    if (env.info.kubernetes) process.stderr.write(`export KUBECONFIG=${env.info.kubernetes.kubeconfig}\n`);
    process.stderr.write("environment up; Ctrl-C stops it\n");
    await untilSignal();
    process.stderr.write("stopping...\n");
    await env.stop();
  });

program.parseAsync().catch((err: unknown) => {
  process.stderr.write(`edgefleet-env: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exitCode = 1;
});
