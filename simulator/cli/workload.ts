import { KubeConfig } from "@kubernetes/client-node";
import { Command, Option } from "commander";
import { destination, pino } from "pino";
import { KubeRest } from "../../cloudcore/kube/kube-rest.js";
import { parseDurationMs } from "../../protocol/duration.js";
import { LatencySet } from "../engine/latencies.js";
import { createProgress } from "../run/progress.js";
import { PodWorkload } from "../workload/pod-workload.js";
import { intFlag } from "./flags.js";

interface WorkloadFlags {
  kubeconfig: string;
  prefix: string;
  nodes: number;
  firstIndex: number;
  podsPerNode: number;
  mode: "bound" | "deployment";
  qps: number;
  namespace: string;
  timeout: string;
}

/**
 * `edgefleet-sim workload`: pods for the nodes of a running simulation, created at a set rate
 * through the apiserver; waits until they run and prints their startup latency.
 */
export function workloadCommand(): Command {
  return new Command("workload")
    .description("create pods (bound or as Deployments) for simulated nodes and time their startup")
    .requiredOption("--kubeconfig <path>", "apiserver access")
    .option("--prefix <name>", "the simulation's node prefix", "sim")
    .option("--nodes <n>", "nodes <prefix>-<first>… to give pods", intFlag("--nodes"), 1000)
    .option("--first-index <n>", "index of the first node", intFlag("--first-index", 0), 0)
    .option(
      "--pods-per-node <n>",
      "pods per node (Deployment replicas in deployment mode)",
      intFlag("--pods-per-node"),
      5,
    )
    .addOption(
      new Option("--mode <mode>", "bound: nodeName set; deployment: the scheduler places them")
        .choices(["bound", "deployment"])
        .default("bound"),
    )
    .option("--qps <n>", "creations per second", intFlag("--qps"), 100)
    .option("--namespace <ns>", "namespace", "edgefleet-sim")
    .option("--timeout <duration>", "how long to wait for Running", "10m")
    .action(async (flags: WorkloadFlags) => {
      const timeoutMs = parseDurationMs(flags.timeout);
      const kubeConfig = new KubeConfig();
      kubeConfig.loadFromFile(flags.kubeconfig);
      const rest = await KubeRest.create(kubeConfig);
      const workload = new PodWorkload({
        kubeConfig,
        rest,
        namespace: flags.namespace,
        prefix: flags.prefix,
        log: pino({ level: "warn" }, destination(2)),
      });
      const progress = createProgress(process.stderr, 5000);
      const nodes = Array.from({ length: flags.nodes }, (_, i) => `${flags.prefix}-${flags.firstIndex + i}`);
      const total = nodes.length * flags.podsPerNode;
      try {
        await workload.start();
        const creating =
          flags.mode === "bound"
            ? workload.createBoundPods(nodes, flags.podsPerNode, flags.qps)
            : workload.createDeployments(nodes.length, flags.podsPerNode, flags.qps);
        const ok = await workload.waitRunning(total, timeoutMs, () =>
          progress.update({
            phase: "pods",
            nodes: nodes.length,
            connected: nodes.length,
            registered: nodes.length,
            pods: total,
            podsRunning: workload.running,
            messagesPerSecond: 0,
            errors: workload.errors,
          }),
        );
        await creating;
        progress.stop();
        const latencies = new LatencySet();
        latencies.add(workload.takeLatencies());
        const s = latencies.summary().podStartup;
        process.stdout.write(
          `${workload.running}/${total} pods Running; startup p50 ${s?.p50 ?? 0} ms, p90 ${s?.p90 ?? 0} ms, p99 ${s?.p99 ?? 0} ms, max ${s?.max ?? 0} ms; ${workload.errors} create errors\n`,
        );
        if (!ok) process.exitCode = 1;
      } finally {
        progress.stop();
        await workload.stop();
        rest.close();
      }
    });
}
