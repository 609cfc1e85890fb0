/**
 * Scale benchmark (`npm run bench:scale`): the real control plane, Redis, `--replicas` cloudcore
 * replica processes behind HAProxy processes, and `edgefleet-sim run` processes (shards) that
 * join, connect and register `--nodes` emulated nodes and have `--pods-per-node` pods created for
 * them. Prints and writes (JSON + Markdown) pod startup, tunnel RTT, memory per node on both
 * sides, and CPU seconds per component ("where the time went").
 *
 * Descriptor limits decide the process counts (20,000 per process, root cannot raise it): a
 * proxied tunnel costs two in HAProxy and one in a replica and in a simulator process.
 */
import { spawn } from "node:child_process";
import { readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { Command } from "commander";
import {
  mergeReports,
  SimulationReportSchema,
  type SimulationReport,
} from "../../simulator/report/report.js";
import { writeReport } from "../../simulator/report/write-report.js";
import { parseDurationMs } from "../../protocol/duration.js";
import { positiveInt } from "../flags.js";
import { cpuSeconds, findPids, rssBytes } from "../fleet/process-stats.js";
import { counterDelta, readApiserverCounters } from "../fleet/apiserver-requests.js";
import { runBench, withBenchCluster, writeBenchReport } from "../fleet/bench-cluster.js";
import { profileArgs } from "../fleet/replicas.js";

const here = dirname(fileURLToPath(import.meta.url));
const root = join(here, "..", "..");

interface Flags {
  nodes: number;
  podsPerNode: number;
  replicas?: number;
  balancers?: number;
  shards?: number;
  ramp: string;
  podQps: string;
  leaseInterval: string;
  leaseDuration: number;
  nodeMonitorGrace: string;
  steady: string;
  phaseTimeout: string;
  timeLimit: string;
  report: string;
}

/** Tunnels per process, below the 20,000-descriptor limit with room for everything else. */
const PER_REPLICA = 15_000;
const PER_BALANCER = 8_000;
const PER_SIMULATOR = 15_000;

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

interface Tracked {
  readonly name: string;
  readonly pid: number;
}

async function run(flags: Flags): Promise<void> {
  const log = (line: string): void => void process.stdout.write(line + "\n");
  const replicaCount = flags.replicas ?? Math.max(3, Math.ceil(flags.nodes / PER_REPLICA));
  const balancerCount = flags.balancers ?? Math.max(1, Math.ceil(flags.nodes / PER_BALANCER));
  const shardCount = flags.shards ?? Math.max(balancerCount, Math.ceil(flags.nodes / PER_SIMULATOR));
  // The apiserver and controller-manager settings used, as KubeEdge's own scale report lists them.
  const apiserverArgs = ["--max-requests-inflight=1000", "--max-mutating-requests-inflight=500"];
  const controllerManagerArgs = [
    "--kube-api-qps=200",
    "--kube-api-burst=400",
    `--node-monitor-grace-period=${flags.nodeMonitorGrace}`,
  ];
  await withBenchCluster("scale", { apiserverArgs, controllerManagerArgs }, async (cluster) => {
    const { stateDir, kubeconfig, kubeConfig, token, replicas, balancers } = cluster;
    const simulators = cluster.children;
    for (let i = 0; i < replicaCount; i++)
      await cluster.startReplica({ id: `r${i + 1}`, livenessTtl: "6s", rebalanceInterval: "0" });
    for (let i = 0; i < balancerCount; i++) await cluster.startBalancer(replicas);
    log(
      `${replicaCount} replicas, ${balancerCount} HAProxy processes, ${shardCount} simulator processes for ${flags.nodes} nodes × ${flags.podsPerNode} pods`,
    );

    const tracked: Tracked[] = [
      ...replicas.map((r) => ({ name: `cloudcore ${r.id}`, pid: r.child.pid ?? 0 })),
      ...findPids("kube-apiserver", stateDir).map((pid) => ({ name: "kube-apiserver", pid })),
      ...findPids("etcd", "--data-dir", stateDir).map((pid) => ({ name: "etcd", pid })),
      ...findPids("kube-controller-manager", stateDir).map((pid) => ({
        name: "kube-controller-manager",
        pid,
      })),
      ...findPids("kube-scheduler", stateDir).map((pid) => ({ name: "kube-scheduler", pid })),
      ...findPids("redis-server").map((pid) => ({ name: "redis", pid })),
    ];
    const cpuBefore = new Map(tracked.map((t) => [t.pid, cpuSeconds(t.pid)]));
    const replicaRssBefore = replicas.reduce((n, r) => n + rssBytes(r.child.pid ?? 0), 0);
    const apiserverBefore = await readApiserverCounters(kubeConfig);

    const started = Date.now();
    const reports: string[] = [];
    const exits: Promise<number>[] = [];
    for (let s = 0; s < shardCount; s++) {
      const report = join(stateDir, `shard-${s}.json`);
      reports.push(report);
      const replica = replicas[s % replicas.length];
      const child = spawn(
        process.execPath,
        [
          ...profileArgs(),
          "--import",
          "tsx",
          join(root, "simulator", "main.ts"),
          "run",
          ...["--cloudcore", `127.0.0.1:${balancers[s % balancers.length]?.ports["tunnel"] ?? 0}`],
          ...["--certificate-server", `127.0.0.1:${replica?.certificates ?? 0}`],
          ...["--token", token, "--kubeconfig", kubeconfig],
          ...["--nodes", String(flags.nodes), "--shard", `${s}/${shardCount}`],
          ...["--pods-per-node", String(flags.podsPerNode), "--pod-qps", flags.podQps, "--ramp", flags.ramp],
          ...["--lease-interval", flags.leaseInterval, "--lease-duration", String(flags.leaseDuration)],
          ...["--duration", flags.steady],
          ...["--prefix", "scale", "--namespace", "edgefleet-scale"],
          ...["--source-address", `127.${64 + s}.0.1`, "--phase-timeout", flags.phaseTimeout],
          ...["--report", report],
        ],
        { stdio: ["ignore", "inherit", "inherit"] },
      );
      simulators.push(child);
      tracked.push({ name: `simulator ${s}`, pid: child.pid ?? 0 });
      cpuBefore.set(child.pid ?? 0, 0);
      exits.push(new Promise((resolve) => child.on("exit", (code) => resolve(code ?? 1))));
    }
    // Replica memory is sampled while the fleet is up; the peak over the run counts.
    let replicaRssPeak = 0;
    let simulatorRssPeak = 0;
    const cpuAt = new Map<number, number>();
    let sampling = true;
    const sampler = (async () => {
      while (sampling) {
        replicaRssPeak = Math.max(
          replicaRssPeak,
          replicas.reduce((n, r) => n + rssBytes(r.child.pid ?? 0), 0),
        );
        simulatorRssPeak = Math.max(
          simulatorRssPeak,
          simulators.reduce((n, c) => n + rssBytes(c.pid ?? 0), 0),
        );
        // Last CPU reading of each process while alive (simulators exit at the end).
        for (const t of tracked) {
          const cpu = cpuSeconds(t.pid);
          if (cpu > 0) cpuAt.set(t.pid, cpu);
        }
        await sleep(2000);
      }
    })();
    // At the time limit (or on Ctrl-C) the simulators end their current phase and report: a run
    // that cannot reach its goal still says how far it got.
    const interrupt = (): void => {
      log("stopping the simulators: they finish their current phase and report");
      for (const c of simulators) c.kill("SIGINT");
    };
    const limit = setTimeout(interrupt, parseDurationMs(flags.timeLimit));
    process.once("SIGINT", interrupt);
    const codes = await Promise.all(exits);
    clearTimeout(limit);
    process.off("SIGINT", interrupt);
    sampling = false;
    await sampler;
    const elapsed = (Date.now() - started) / 1000;
    const apiserver = counterDelta(apiserverBefore, await readApiserverCounters(kubeConfig));

    const shardReports: SimulationReport[] = [];
    for (const path of reports) {
      try {
        shardReports.push(
          SimulationReportSchema.parse(JSON.parse(readFileSync(path, "utf8"))) as SimulationReport,
        );
      } catch (err) {
        log(`shard report ${path} unreadable: ${(err as Error).message}`);
      }
    }
    if (shardReports.length === 0)
      throw new Error(`no shard wrote a report (exit codes ${codes.join(", ")})`);
    const merged = mergeReports(shardReports);
    const files = await writeReport(merged, flags.report.replace(/\.json$/, "-fleet.json"));
    const connected = merged.totals.connected;
    // Per-node figures divide by the nodes that came up (registered), also when a run ends with
    // its tunnels down.
    const nodesUp = Math.max(1, connected, merged.totals.registered);
    const cpu = tracked
      .map((t) => ({
        name: t.name,
        seconds: Math.round(((cpuAt.get(t.pid) ?? 0) - (cpuBefore.get(t.pid) ?? 0)) * 10) / 10,
      }))
      .reduce<Record<string, number>>((acc, t) => {
        const key = t.name.replace(/ \w*\d+$/, "");
        acc[key] = Math.round(((acc[key] ?? 0) + t.seconds) * 10) / 10;
        return acc;
      }, {});
    const find = (name: "podStartup" | "rtt" | "join" | "podDelivery" | "podStatusWrite"): unknown =>
      merged.phases
        .map((p) => ({ phase: p.name, ...p.latencies[name] }))
        .filter((x) => "count" in x && x.count);
    const result = {
      benchmark: "scale",
      date: new Date().toISOString(),
      nodes: flags.nodes,
      podsPerNode: flags.podsPerNode,
      processes: { replicas: replicaCount, balancers: balancerCount, simulators: shardCount },
      settings: {
        ramp: flags.ramp,
        podQps: flags.podQps,
        leaseInterval: flags.leaseInterval,
        leaseDurationSeconds: flags.leaseDuration,
        apiserverArgs,
        controllerManagerArgs,
      },
      exitCodes: codes,
      elapsedSeconds: Math.round(elapsed),
      reached: {
        connected,
        registered: merged.totals.registered,
        pods: merged.totals.pods,
        podsRunning: merged.totals.podsRunning,
      },
      phases: merged.phases.map((p) => ({
        name: p.name,
        seconds: p.durationSeconds,
        messagesPerSecond: p.messagesPerSecond,
      })),
      podStartupMs: find("podStartup"),
      podDeliveryMs: find("podDelivery"),
      podStatusWriteMs: find("podStatusWrite"),
      tunnelRttMs: find("rtt"),
      joinMs: find("join"),
      memory: {
        simulatorPerNodeKiB: Math.round((simulatorRssPeak / nodesUp / 1024) * 10) / 10,
        simulatorReportedPerNodeKiB: Math.round((merged.memory.perNodeBytes / 1024) * 10) / 10,
        cloudcorePerNodeKiB: Math.round(((replicaRssPeak - replicaRssBefore) / nodesUp / 1024) * 10) / 10,
        cloudcorePeakMiB: Math.round(replicaRssPeak / 2 ** 20),
        simulatorPeakMiB: Math.round(simulatorRssPeak / 2 ** 20),
      },
      cpuSeconds: cpu,
      // What the apiserver served over the run (requests by verb and resource, watch events sent
      // by kind), and per node that came up.
      apiserver: {
        ...apiserver,
        requestsPerNode: Object.fromEntries(
          Object.entries(apiserver.requests)
            .slice(0, 12)
            .map(([k, v]) => [k, Math.round((v / nodesUp) * 10) / 10]),
        ),
      },
      errors: merged.errors.slice(0, 10),
      fleetReport: files,
    };
    writeBenchReport(flags.report, result);
  });
}

const program = new Command("bench:scale")
  .option("--nodes <n>", "emulated edge nodes", positiveInt("--nodes"), 10_000)
  .option("--pods-per-node <n>", "pods per node", positiveInt("--pods-per-node"), 5)
  .option(
    "--replicas <n>",
    "cloudcore replicas (default: ≥ 3, one per 15,000 nodes)",
    positiveInt("--replicas"),
  )
  .option("--balancers <n>", "HAProxy processes (default: one per 8,000 nodes)", positiveInt("--balancers"))
  .option(
    "--shards <n>",
    "simulator processes (default: one per balancer, ≤ 15,000 nodes each)",
    positiveInt("--shards"),
  )
  .option("--ramp <rate>", "tunnels per second over all shards", "400/s")
  // The defaults are the settings with which 10,000 nodes × 50,000 pods completed on one 2-core
  // machine that also runs the control plane (docs/performance.md); KubeEdge's own are noted.
  .option("--pod-qps <rate>", "pod creations per second over all shards", "40/s")
  .option("--lease-interval <duration>", "node Lease renewal (KubeEdge: 10s)", "120s")
  .option(
    "--lease-duration <seconds>",
    "node Lease duration (KubeEdge: 40)",
    positiveInt("--lease-duration"),
    480,
  )
  .option(
    "--node-monitor-grace <duration>",
    "controller-manager --node-monitor-grace-period (Kubernetes: 50s)",
    "600s",
  )
  .option("--steady <duration>", "steady phase once all pods run", "60s")
  .option("--phase-timeout <duration>", "give up on a phase after", "30m")
  .option("--time-limit <duration>", "stop the whole run (and report how far it got) after", "60m")
  .option("--report <path>", "JSON report", "reports/bench-scale.json")
  .action((flags: Flags) => run(flags));

runBench(program);
