/**
 * The main job's flags (`npm start -- --nodes 200 …`), validated in one place: a bad value names
 * the flag and stops the job before anything starts.
 */
import { Command } from "commander";
import { z } from "zod";
import { durationMsSchema } from "../../protocol/duration.js";

export const MainJobOptionsSchema = z
  .object({
    /** Simulated edge nodes (the real edgecore comes on top). */
    nodes: z.coerce.number().int().min(1).max(20_000),
    podsPerNode: z.coerce.number().int().min(0).max(110),
    /** How long the fleet is held once its pods Run; a replica is killed a third of the way in. */
    duration: durationMsSchema.pipe(z.number().min(6_000, "at least 6s (the failover happens in it)")),
    /** cloudcore replicas behind the balancer (one is killed: at least 2). */
    replicas: z.coerce.number().int().min(2).max(5),
    /** Pod creations per second for the simulated fleet. */
    podQps: z.coerce.number().int().min(1).max(5000),
    /** Leave everything running at the end (Ctrl-C stops it). */
    keep: z.boolean(),
    /** Data and logs of every component (default: a new directory under the system's temp dir). */
    stateDir: z.string().min(1).optional(),
    /** Where the JSON and Markdown reports go (default: reports/main-job-<time>). */
    reportDir: z.string().min(1).optional(),
  })
  .strict();

export type MainJobOptions = z.output<typeof MainJobOptionsSchema>;

export class MainJobOptionsError extends Error {
  override readonly name = "MainJobOptionsError";
  readonly code = "EF_ERR_MAIN_JOB_OPTIONS";
}

/** Flag values as commander hands them over, checked against the schema (errors name the flag). */
export function parseMainJobOptions(raw: Record<string, unknown>): MainJobOptions {
  const result = MainJobOptionsSchema.safeParse(raw);
  if (result.success) return result.data;
  const flag = (key: string): string => `--${key.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)}`;
  throw new MainJobOptionsError(
    result.error.issues
      .map((i) => `${i.path.length > 0 ? flag(String(i.path[0])) : "flags"}: ${i.message}`)
      .join("; "),
  );
}

export function mainJobCommand(action: (options: MainJobOptions) => Promise<void>): Command {
  return new Command("npm start --")
    .description(
      "bring up a local HA edgefleet (control plane, Redis, HAProxy, cloudcore replicas, Prometheus), " +
        "join a real edgecore and run a Deployment on it, drive a simulated fleet through the cluster, " +
        "kill a replica mid-run and show the failover; ends with a summary and a report",
    )
    .option("--nodes <n>", "simulated edge nodes", "1000")
    .option("--pods-per-node <n>", "pods per simulated node", "5")
    .option("--duration <duration>", "how long the fleet runs once its pods are Running", "30s")
    .option("--replicas <n>", "cloudcore replicas behind HAProxy", "3")
    .option("--pod-qps <n>", "pod creations per second", "60")
    .option("--keep", "leave everything running at the end; Ctrl-C stops it", false)
    .option("--state-dir <dir>", "data and logs of every component (default: a new temp directory)")
    .option("--report-dir <dir>", "where the JSON and Markdown reports go (default: reports/main-job-<time>)")
    .action(async (flags: Record<string, unknown>) => action(parseMainJobOptions(flags)));
}
