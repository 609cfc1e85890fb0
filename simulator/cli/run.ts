import { KubeConfig } from "@kubernetes/client-node";
import { Command, Option } from "commander";
import { destination, pino } from "pino";
import { behaviourOf, certificateServerOf, loadRunConfig, phasesOf, shardRange } from "../config.js";
import { ControlServer } from "../control/control-server.js";
import { SimulatorMetrics } from "../control/metrics.js";
import type { Simulation } from "../engine/simulation.js";
import { writeReport } from "../report/write-report.js";
import { createProgress } from "../run/progress.js";
import { runSimulation } from "../run/simulation-run.js";
import { intFlag } from "./flags.js";
import { printSummary } from "./summary.js";

interface RunFlags {
  scenario?: string;
  cloudcore?: string;
  certificateServer?: string;
  token?: string;
  kubeconfig?: string;
  nodes?: number;
  podsPerNode?: number;
  podMode?: string;
  podQps?: string;
  ramp?: string;
  duration?: string;
  workers?: string;
  shard?: string;
  prefix?: string;
  namespace?: string;
  sourceAddress?: string;
  leaseInterval?: string;
  leaseDuration?: number;
  statusReportInterval?: string;
  podStartup?: string;
  rttInterval?: string;
  certCache?: string;
  report?: string;
  metricsPort?: number;
  phaseTimeout?: string;
  cleanup?: boolean;
  cloud?: string;
  logLevel: string;
}

/** `edgefleet-sim run`: a whole simulation from flags or a scenario file, ending with a report. */
export function runCommand(): Command {
  return new Command("run")
    .description("emulate edge nodes (and their pods) over real tunnels, then write a report")
    .option(
      "--scenario <file>",
      "YAML scenario (keys as the long flags in camelCase, plus phases); flags win",
    )
    .option("--cloudcore <host:port>", "tunnel endpoint: the balancer in front of cloudcore")
    .option("--certificate-server <host:port>", "join endpoint (default: the cloudcore host, port 10002)")
    .option("--token <token>", "join token (cloudcore token create)")
    .option("--kubeconfig <path>", "apiserver access, for pods and for checking Ready")
    .option("--nodes <n>", "nodes in all shards together (default 1000)", intFlag("--nodes"))
    .option("--pods-per-node <n>", "pods per node (default 0)", intFlag("--pods-per-node"))
    .addOption(
      new Option("--pod-mode <mode>", "bound: pods with nodeName; deployment: via the scheduler").choices([
        "bound",
        "deployment",
      ]),
    )
    .option("--pod-qps <rate>", "pod (or Deployment) creations, e.g. 200/s (default 100/s)")
    .option("--ramp <rate>", "tunnels opened, e.g. 2000/s (default 500/s)")
    .option("--duration <duration>", "steady phase after the pods run, e.g. 10m (default 0)")
    .option("--workers <n|auto>", "worker threads (default auto)")
    .option("--shard <i/n>", "this process's part of a sharded run (default 0/1)")
    .option("--prefix <name>", "node name prefix: <prefix>-<index> (default sim)")
    .option("--namespace <ns>", "namespace of the pods (default edgefleet-sim)")
    .option("--source-address <ip>", "first loopback source address (default 127.64.0.1)")
    .option("--lease-interval <duration>", "Lease renewal (default 10s, as KubeEdge)")
    .option(
      "--lease-duration <seconds>",
      "Lease duration (default 40, as KubeEdge)",
      intFlag("--lease-duration"),
    )
    .option("--status-report-interval <duration>", "node status report (default 5m, as KubeEdge)")
    .option("--pod-startup <range>", "ContainerCreating → Running, e.g. 1s-3s (default)")
    .option("--rtt-interval <duration>", "tunnel round-trip probe per node (default 30s)")
    .option("--cert-cache <file>", "SQLite cache of joined certificates (see edgefleet-sim join)")
    .option(
      "--report <path>",
      "JSON report; .md and .svg are written beside it (default reports/sim-report.json)",
    )
    .option(
      "--metrics-port <port>",
      "/metrics and POST /chaos on 127.0.0.1 (default off)",
      intFlag("--metrics-port", 0),
    )
    .option("--phase-timeout <duration>", "give up on a phase's goal after (default 10m)")
    .option("--cleanup", "delete the pods and Nodes made, at the end")
    .addOption(new Option("--cloud <kind>", "cloudcore flavour").choices(["edgefleet", "kubeedge"]))
    .option("--log-level <level>", "fatal|error|warn|info|debug", "warn")
    .action(async (flags: RunFlags) => {
      const { scenario, logLevel, workers, ...rest } = flags;
      const config = loadRunConfig(scenario, {
        ...rest,
        ...(workers !== undefined && { workers: workers === "auto" ? "auto" : Number(workers) }),
      });
      const log = pino({ level: logLevel }, destination(2));
      let kubeConfig: KubeConfig | undefined;
      if (config.kubeconfig) {
        kubeConfig = new KubeConfig();
        kubeConfig.loadFromFile(config.kubeconfig);
      }
      const { firstIndex, count } = shardRange(config);
      const metrics = new SimulatorMetrics();
      let simulation: Simulation | undefined;
      const control =
        config.metricsPort > 0
          ? await ControlServer.start(config.metricsPort, metrics, async ({ fraction, downMs }) => {
              if (!simulation) throw new Error("the simulation has not started yet");
              return simulation.disconnect(fraction, downMs);
            })
          : undefined;
      const abort = new AbortController();
      const onSignal = (): void => {
        process.stderr.write("\nstopping: finishing the current phase and writing the report\n");
        abort.abort();
      };
      process.once("SIGINT", onSignal);
      process.once("SIGTERM", onSignal);
      try {
        const report = await runSimulation({
          simulation: {
            nodes: count,
            firstIndex,
            prefix: config.prefix,
            server: config.cloudcore,
            certificateServer: certificateServerOf(config),
            token: config.token,
            workers: config.workers,
            ratePerSecond: config.ramp / config.shard.count,
            behaviour: behaviourOf(config),
            labels: {},
            cloud: config.cloud,
            sourceAddressBase: config.sourceAddress,
            nodesPerSourceAddress: config.nodesPerSourceAddress,
            ...(config.certCache !== undefined && { certCache: config.certCache }),
          },
          ...(kubeConfig && { kubeConfig }),
          namespace: config.namespace,
          podsPerNode: config.podsPerNode,
          podMode: config.podMode,
          podQps: config.podQps / config.shard.count,
          phases: phasesOf(config),
          phaseTimeoutMs: config.phaseTimeout,
          cleanup: config.cleanup,
          shard: `${config.shard.index}/${config.shard.count}`,
          settings: { ...config, token: "(hidden)" },
          progress: createProgress(),
          log,
          signal: abort.signal,
          onSimulation: (s) => (simulation = s),
          onSample: (snap, workload) => metrics.update(snap, workload?.running, workload?.errors),
        });
        const files = await writeReport(report, config.report);
        printSummary(report, files);
      } finally {
        process.off("SIGINT", onSignal);
        process.off("SIGTERM", onSignal);
        await control?.close();
      }
    });
}
