import type { TestProject } from "vitest/node";
import { startEnvironment, type EnvironmentInfo } from "../scripts/env/environment.js";

declare module "vitest" {
  export interface ProvidedContext {
    /** The running environment: endpoints, kubeconfig, log files. */
    env: EnvironmentInfo;
  }
}

/** Starts every real server once for the integration project and stops them after the run. */
export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const t0 = Date.now();
  const env = await startEnvironment({
    keepStateDir: process.env["EDGEFLEET_KEEP_ENV"] === "1",
    // The node lifecycle controller marks a silent node Unknown after this (default 50 s); short,
    // so the offline-autonomy test shows within seconds that cloudcore keeps it from evicting.
    controllerManagerArgs: [
      "--node-monitor-grace-period=10s",
      "--node-monitor-period=2s",
      "--node-startup-grace-period=10s",
    ],
  });
  process.stderr.write(
    `[env] up in ${((Date.now() - t0) / 1000).toFixed(1)} s, state in ${env.info.stateDir}\n`,
  );
  project.provide("env", env.info);
  // A runner stopped by a signal skips this teardown; managed-process.ts's reaper then kills the
  // servers once the runner is gone.
  return async () => {
    await env.stop();
  };
}
