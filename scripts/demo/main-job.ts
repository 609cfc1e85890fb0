/**
 * The main job (`npm start`): a local HA edgefleet brought up on this machine, a real edge node
 * and a simulated fleet driven through it, one replica killed mid-run, and a report at the end.
 *
 *   1. environment: etcd, kube-apiserver (plus one in a network namespace whose kubelet
 *      connections are DNAT-ed to the owning replica), scheduler, controller-manager, Redis,
 *      containerd, N cloudcore replicas behind HAProxy, the iptables manager, Prometheus;
 *   2. a real edgecore joins with a join token; a Deployment pinned to it Runs; its log is read
 *      with `kubectl logs`;
 *   3. the simulator brings up the fleet and its pods, holds it, and in the middle the replica
 *      owning the real node is killed: every node is re-owned, no pod is lost, and the real pod's
 *      log is read again through the new owner;
 *   4. the summary and the report; everything stops (unless --keep), also on failure and Ctrl-C.
 */
import { mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { Redis } from "ioredis";
import { destination, pino } from "pino";
import { KubeRest } from "../../cloudcore/kube/kube-rest.js";
import { isNodeReady, type NodeJson } from "../../cloudcore/kube/objects.js";
import { behaviourOf, SimulatorRunConfigSchema } from "../../simulator/config.js";
import { ControlServer } from "../../simulator/control/control-server.js";
import { SimulatorMetrics } from "../../simulator/control/metrics.js";
import type { FleetSnapshot, Simulation } from "../../simulator/engine/simulation.js";
import type { SimulationReport } from "../../simulator/report/report.js";
import { writeReport } from "../../simulator/report/write-report.js";
import { createProgress } from "../../simulator/run/progress.js";
import { runSimulation, type ScenarioPhase } from "../../simulator/run/simulation-run.js";
import type { Component } from "../env/component.js";
import { startEdgecoreNode, type EdgecoreNode } from "../env/edgecore-node.js";
import { httpGet } from "../env/http-probe.js";
import { settledLowest } from "../env/wait.js";
import { startLocalEdgefleet, type LocalEdgefleet } from "../env/local-edgefleet.js";
import {
  createEdgeDeployment,
  EDGE_DEPLOYMENT,
  EDGE_NAMESPACE,
  kubectlLogs,
  waitForEdgePod,
} from "./edge-workload.js";
import { killOwnerAndWait, type FailoverResult } from "./failover.js";
import { summaryRows, table, writeMainJobReport, type MainJobReport } from "./main-job-report.js";
import type { MainJobOptions } from "./options.js";
import { OwnerRecords } from "../../cloudcore/cluster/owner-records.js";
import { lookAroundLines } from "./look-around.js";
import { metricSum, ReplicaWatch } from "./replica-watch.js";

export interface MainJobIo {
  /** Lines that stay: steps, results, the summary (stdout). */
  readonly out: (line: string) => void;
  /** Where the live progress goes (a bar on a TTY, periodic lines otherwise). */
  readonly progressStream: NodeJS.WriteStream;
  /** Ctrl-C: the job stops what it is doing and everything it started. */
  readonly signal: AbortSignal;
  /** With --keep: resolves when the user wants everything stopped. */
  readonly untilStopped: () => Promise<void>;
}

export interface MainJobResult {
  readonly report: MainJobReport;
  readonly files: { readonly json: string; readonly markdown: string };
  readonly ok: boolean;
}

/** A step of the job failed; names the step and the components to look at. */
export class MainJobError extends Error {
  override readonly name = "MainJobError";
  readonly code = "EF_ERR_MAIN_JOB";
  constructor(
    readonly step: string,
    readonly components: readonly Component[],
    options: { cause: unknown },
  ) {
    super(`${step} failed: ${(options.cause as Error)?.message ?? String(options.cause)}`, options);
  }
}

const EDGE_NODE = "edge-real-0";
/** The real node's InternalIP: nothing answers there; the apiserver's dial to it is DNAT-ed. */
const EDGE_NODE_IP = "10.250.0.10";
const SIM_JOB = "edgefleet-sim";
const SIM_PREFIX = "sim";
const SIM_NAMESPACE = "edgefleet-sim";

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
const seconds = (ms: number): string => `${(ms / 1000).toFixed(1)} s`;

export async function runMainJob(o: MainJobOptions, io: MainJobIo): Promise<MainJobResult> {
  const t0 = Date.now();
  const out = io.out;
  const stateDir = resolve(o.stateDir ?? mkdtempSync(join(tmpdir(), "edgefleet-main-")));
  const reportDir = resolve(
    o.reportDir ?? join("reports", `main-job-${new Date().toISOString().replace(/[:.]/g, "-")}`),
  );
  const log = pino({ level: "warn" }, destination({ dest: join(stateDir, "main-job.log"), mkdir: true }));
  let fleet: LocalEdgefleet | undefined;
  let edge: EdgecoreNode | undefined;
  let rest: KubeRest | undefined;
  let redis: Redis | undefined;
  let control: ControlServer | undefined;
  const watch: { current?: ReplicaWatch } = {};
  /** Components the job stopped on purpose (the failover's victim): not a failure. */
  const killed = new Set<string>();

  /** Runs one step; a failure names it and the components it involves. */
  const step = async <T>(
    name: string,
    involved: () => readonly Component[],
    fn: () => Promise<T>,
  ): Promise<T> => {
    io.signal.throwIfAborted();
    const started = Date.now();
    try {
      const result = await fn();
      out(`✓ ${name} (${seconds(Date.now() - started)})`);
      return result;
    } catch (err) {
      if (io.signal.aborted) throw err;
      throw new MainJobError(name, involved(), { cause: err });
    }
  };

  const stopAll = async (): Promise<void> => {
    await watch.current?.stop();
    await control?.close().catch(() => undefined);
    await edge?.stop().catch(() => undefined);
    rest?.close();
    redis?.disconnect();
    await fleet?.stop();
  };

  try {
    out(
      `edgefleet main job: ${o.replicas} cloudcore replicas, 1 real edge node, ${o.nodes} simulated nodes × ${o.podsPerNode} pods`,
    );
    out(`state and logs: ${stateDir}`);
    fleet = await step(
      "local HA edgefleet up",
      () => [],
      () =>
        startLocalEdgefleet({
          stateDir,
          replicas: o.replicas,
          components: ["kubernetes", "redis", "containerd"],
          streams: true,
          scrapeIntervalMs: 2000,
          scrapeJobs: [SIM_JOB],
          replicaArgs: ["--log-level", "warn", "--admission-rate", "2000", "--admission-burst", "4000"],
          onReady: (name, ms) => out(`  up: ${name} (${seconds(ms)})`),
        }),
    );
    const f = fleet;
    const streamKubeconfig = f.streamApiserver?.kubeconfig ?? f.kubeconfig;
    rest = await KubeRest.create(f.kubeConfig);
    redis = new Redis(f.env.info.redis?.url ?? "");
    const owners = new OwnerRecords(redis);
    printLookAround(out, f, streamKubeconfig, false);

    // 2. The real edge node and its Deployment.
    const token = await f.createJoinToken("main job: the real edge node");
    edge = await step(
      `edgecore ${EDGE_NODE} joined with a join token and running`,
      () => [...f.components()],
      () =>
        startEdgecoreNode({
          nodeName: EDGE_NODE,
          dir: join(stateDir, "edgecore"),
          certificateAddress: f.certificateAddress,
          tunnelAddress: f.tunnelAddress,
          token,
          containerdSocket: f.env.info.containerd?.socket ?? "",
          nodeIP: EDGE_NODE_IP,
          labels: { "edgefleet.io/main-job": "real" },
        }),
    );
    const e = edge;
    const r = rest;
    await step(
      `node ${EDGE_NODE} Ready in the apiserver`,
      () => [e],
      () => waitNodeReady(r, EDGE_NODE, 60_000),
    );
    const deployedAt = Date.now();
    const pod = await step(
      `Deployment ${EDGE_NAMESPACE}/${EDGE_DEPLOYMENT} Running on ${EDGE_NODE}`,
      () => [e],
      async () => {
        await createEdgeDeployment(r, EDGE_NODE);
        return waitForEdgePod(r, 120_000, io.signal);
      },
    );
    const podRunningSeconds = (Date.now() - deployedAt) / 1000;
    const ownerBefore = (await owners.ownerOf(EDGE_NODE)) ?? "(none)";
    const logsBefore = await step(
      `kubectl logs through ${ownerBefore} (apiserver → DNAT → replica → tunnel → edgecore → containerd)`,
      () => [e, ...f.replicas],
      () => kubectlLogs(streamKubeconfig, pod, -1, 60_000),
    );
    out(`  $ ${logsBefore.command}`);
    for (const line of logsBefore.lines.slice(0, 4)) out(`  ${line}`);

    // 3. The simulated fleet, with the failover in the middle of its hold.
    const replicaWatch = new ReplicaWatch(f.replicas);
    watch.current = replicaWatch;
    // The baseline once the just-started replicas stop shedding start-up memory.
    const cloudcoreRssBefore = await settledLowest(
      async () => (await replicaWatch.read()).reduce((sum, r) => sum + r.rssBytes, 0),
      { intervalMs: 1000, timeoutMs: 10_000, signal: io.signal },
    );
    replicaWatch.start();
    const config = SimulatorRunConfigSchema.parse({
      cloudcore: f.tunnelAddress,
      certificateServer: f.certificateAddress,
      token: await f.createJoinToken("main job: the simulated fleet"),
      kubeconfig: f.kubeconfig,
      nodes: o.nodes,
      podsPerNode: o.podsPerNode,
      podMode: "bound",
      podQps: o.podQps,
      ramp: "1000/s",
      prefix: SIM_PREFIX,
      namespace: SIM_NAMESPACE,
      // Half the apiserver writes of KubeEdge's 10 s, well inside the 50 s node monitor grace period.
      leaseInterval: "20s",
      podStartup: "500ms-2s",
      phaseTimeout: "5m",
    });
    const metrics = new SimulatorMetrics();
    let simulation: Simulation | undefined;
    control = await ControlServer.start(0, metrics, async ({ fraction, downMs }) => {
      if (!simulation) throw new Error("the simulation has not started yet");
      return simulation.disconnect(fraction, downMs);
    });
    f.scrape(SIM_JOB, [{ address: `127.0.0.1:${control.port}` }]);
    let latest: FleetSnapshot | undefined;
    const simNodes = Array.from({ length: o.nodes }, (_, i) => `${SIM_PREFIX}-${i}`);
    const allNodes = [...simNodes, EDGE_NODE];
    let failover: FailoverResult | undefined;
    let cloudcoreRssUp = 0;
    let connectedUp = 0;
    let logsAfter: { lines: string[] } | undefined;
    let ownerAfter = "(none)";
    let apiserver: MainJobReport["apiserver"] | undefined;
    const third = Math.round(o.duration / 3);
    const phases: ScenarioPhase[] = [
      { type: "steady", durationMs: third },
      {
        type: "action",
        name: "failover",
        run: async (line) => {
          // The fleet stands still: what it added to the replicas' memory.
          const readings = await replicaWatch.read();
          cloudcoreRssUp = readings.reduce((sum, x) => sum + x.rssBytes, 0);
          connectedUp = readings.reduce((sum, x) => sum + x.connected, 0);
          failover = await killOwnerAndWait({
            replicas: f.replicas,
            owners,
            nodes: allNodes,
            victimOf: EDGE_NODE,
            allConnected: async () =>
              (latest?.counters.connected ?? 0) >= o.nodes && (await edgeConnected(e)),
            timeoutMs: 120_000,
            log: line,
            onKill: (replica) => killed.add(replica.name),
            ...(io.signal && { signal: io.signal }),
          });
          ownerAfter = (await owners.ownerOf(EDGE_NODE)) ?? "(none)";
          logsAfter = await kubectlLogs(streamKubeconfig, pod, 3, 60_000);
          line(`failover: kubectl logs through ${ownerAfter} again: "${logsAfter.lines.at(-1) ?? ""}"`);
        },
      },
      { type: "steady", durationMs: o.duration - third },
      {
        type: "action",
        name: "check",
        // With the fleet still up: what the apiserver says about nodes and pods.
        run: async () => {
          apiserver = await apiserverCounts(r, allNodes);
        },
      },
    ];
    const progress = createProgress(io.progressStream, 5000, () => replicaWatch.describe());
    out(
      `simulated fleet: ${o.nodes} nodes, ${o.nodes * o.podsPerNode} pods; ${o.replicas} replicas share them`,
    );
    const sim = await step(
      "simulated fleet run (ramp, pods, hold, failover, hold, check)",
      () => [...f.replicas, ...f.components().filter((c) => c.name.startsWith("haproxy"))],
      () =>
        runSimulation({
          simulation: {
            nodes: config.nodes,
            firstIndex: 0,
            prefix: config.prefix,
            server: config.cloudcore,
            certificateServer: f.certificateAddress,
            token: config.token,
            workers: config.workers,
            ratePerSecond: config.ramp,
            behaviour: behaviourOf(config),
            labels: { "edgefleet.io/main-job": "simulated" },
            cloud: config.cloud,
            sourceAddressBase: config.sourceAddress,
            nodesPerSourceAddress: config.nodesPerSourceAddress,
          },
          kubeConfig: f.kubeConfig,
          namespace: config.namespace,
          podsPerNode: config.podsPerNode,
          podMode: config.podMode,
          podQps: config.podQps,
          phases,
          phaseTimeoutMs: config.phaseTimeout,
          cleanup: false,
          shard: "0/1",
          settings: { ...config, token: "(hidden)" },
          progress,
          log,
          signal: io.signal,
          onSimulation: (s) => (simulation = s),
          onSample: (snap, workload) => {
            latest = snap;
            metrics.update(snap, workload?.running, workload?.errors);
          },
        }),
    );
    io.signal.throwIfAborted();
    if (!failover || !apiserver || !logsAfter)
      throw new MainJobError("simulated fleet run", f.replicas, {
        cause: new Error("the run ended before the failover and the check (a phase timed out?)"),
      });

    // 4. Figures, checks, report.
    const simFiles = await writeReport(sim, join(reportDir, "simulator.json"));
    const ramp = sim.phases.find((p) => p.name === "ramp");
    const pods = sim.phases.find((p) => p.name === "pods");
    const holds = sim.phases.filter((p) => p.name.startsWith("steady"));
    const startup = pods?.latencies.podStartup;
    const totalPods = o.nodes * o.podsPerNode;
    const checks = [
      {
        name: "every node Ready after the failover",
        ok: apiserver.nodesReady === allNodes.length,
        detail: `${apiserver.nodesReady}/${allNodes.length} Ready in the apiserver`,
      },
      {
        name: "no pod lost",
        ok: apiserver.podsRunning === totalPods && apiserver.pods === totalPods,
        detail: `${apiserver.podsRunning}/${totalPods} simulated pods Running (${apiserver.pods} exist)`,
      },
      {
        name: "every orphan re-owned by a live replica",
        ok: !(failover.killed in failover.ownersAfter) && !("(none)" in failover.ownersAfter),
        detail: `${failover.orphans} nodes of ${failover.killed} now with ${Object.keys(failover.ownersAfter).join(", ")}`,
      },
      {
        // The node may have moved (rebalancing) between the first read and the kill: the logs
        // must come through a live replica other than the one killed.
        name: "kubectl logs through the new owner",
        ok: ownerAfter !== failover.killed && ownerAfter !== "(none)" && logsAfter.lines.length > 0,
        detail: `${failover.killed} (killed) → ${ownerAfter}`,
      },
      {
        // A join that failed is retried (with backoff) as a real edge would: what must hold is
        // that every node got in, and every pod was created.
        name: "every node joined, every pod created",
        ok: sim.totals.registered === o.nodes && sim.totals.podCreateErrors === 0,
        detail: `${sim.totals.registered}/${o.nodes} registered; ${sim.totals.joinErrors} join attempts retried, ${sim.totals.podCreateErrors} pod create errors, ${sim.totals.requestErrors} request errors`,
      },
    ];
    const report: MainJobReport = {
      schema: "edgefleet.io/main-job-report/v1",
      startedAt: new Date(t0).toISOString(),
      endedAt: new Date().toISOString(),
      durationSeconds: Math.round((Date.now() - t0) / 100) / 10,
      settings: {
        replicas: o.replicas,
        nodes: o.nodes,
        podsPerNode: o.podsPerNode,
        holdSeconds: o.duration / 1000,
      },
      edge: {
        node: EDGE_NODE,
        pod,
        podRunningSeconds,
        logsBefore: logsBefore.lines,
        logsAfter: logsAfter.lines,
        ownerBefore,
        ownerAfter,
      },
      fleet: {
        joinRatePerSecond: joinRate(sim, o.nodes),
        allReadySeconds: ramp?.durationSeconds ?? 0,
        podStartupMs: { p50: startup?.p50 ?? 0, p99: startup?.p99 ?? 0, count: startup?.count ?? 0 },
        messagesPerSecond:
          holds.reduce((sum, p) => sum + p.messagesPerSecond * p.durationSeconds, 0) /
          Math.max(
            holds.reduce((sum, p) => sum + p.durationSeconds, 0),
            0.001,
          ),
        errors: sim.totals.joinErrors + sim.totals.requestErrors + sim.totals.podCreateErrors,
      },
      failover,
      memory: {
        cloudcorePerNodeBytes: Math.max(
          0,
          Math.round((cloudcoreRssUp - cloudcoreRssBefore) / Math.max(connectedUp, 1)),
        ),
        cloudcoreRssBytes: cloudcoreRssUp,
        simulatorPerNodeBytes: sim.memory.perNodeBytes,
      },
      apiserver,
      checks,
      simulatorReport: simFiles.json,
    };
    const files = writeMainJobReport(report, reportDir);
    const ok = checks.every((c) => c.ok);
    out("");
    out(table([["SUMMARY", ""], ...summaryRows(report)]));
    for (const c of checks.filter((x) => !x.ok)) out(`CHECK FAILED: ${c.name}: ${c.detail}`);
    out("");
    out(`report: ${files.json}`);
    out(`        ${files.markdown}`);
    out(`simulator report: ${simFiles.json}, ${simFiles.markdown}, ${simFiles.chart}`);
    out(`done in ${seconds(Date.now() - t0)}`);
    if (o.keep) {
      out("");
      printLookAround(out, f, streamKubeconfig, true);
      await io.untilStopped();
    }
    return { report, files, ok };
  } catch (err) {
    if (err instanceof MainJobError) {
      out(`FAILED: ${err.message}`);
      // A component that died is the likeliest cause: named first, whatever the step was.
      const all = [...new Set([...err.components, ...(fleet?.components() ?? []), ...(edge ? [edge] : [])])];
      const dead = all.filter((c) => c.running === false && !killed.has(c.name));
      for (const c of dead) out(`${c.name} is not running (it exited); its log is below`);
      const shown = [...new Set([...dead, ...err.components])];
      for (const c of shown) out(logTail(c, 15));
    } else if (io.signal.aborted) {
      out("stopping (interrupted)");
    }
    throw err;
  } finally {
    out("stopping everything the main job started");
    await stopAll();
    out(`stopped (${seconds(Date.now() - t0)} in all); logs kept in ${stateDir}`);
  }
}

function printLookAround(
  out: (line: string) => void,
  f: LocalEdgefleet,
  streamKubeconfig: string,
  keep: boolean,
): void {
  out(keep ? "look around: everything is still up (--keep)" : "look around while it runs:");
  for (const l of lookAroundLines(f, streamKubeconfig, keep)) out(l);
}

/** The last lines of a component's log, headed by its name. */
function logTail(c: Component, lines: number): string {
  let tail: string;
  try {
    tail = readFileSync(c.logFile, "utf8").trimEnd().split("\n").slice(-lines).join("\n");
  } catch (err) {
    tail = `(cannot read ${c.logFile}: ${(err as Error).message})`;
  }
  return `----- ${c.name}: last ${lines} lines of ${c.logFile}\n${tail}`;
}

/**
 * Nodes joined per second while the fleet came up: the fleet over the time until its last node
 * had joined and registered (the simulator samples about once a second).
 */
function joinRate(sim: SimulationReport, nodes: number): number {
  const allIn = sim.timeline.find((p) => p.registered >= nodes);
  return allIn ? nodes / Math.max(allIn.t, 1) : 0;
}

async function waitNodeReady(rest: KubeRest, name: string, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await nodeReady(rest, name))) {
    if (Date.now() > deadline) throw new Error(`node ${name} not Ready after ${timeoutMs / 1000} s`);
    await sleep(500);
  }
}

async function nodeReady(rest: KubeRest, name: string): Promise<boolean> {
  return isNodeReady(await rest.get<NodeJson>(`/api/v1/nodes/${name}`).catch(() => ({}) as NodeJson));
}

/** Whether the real edge's tunnel is up: what edgecore says on its MetaServer's /metrics. */
async function edgeConnected(edge: EdgecoreNode): Promise<boolean> {
  const { status, body } = await httpGet(`${edge.metaServerUrl}/metrics`).catch(() => ({
    status: 0,
    body: "",
  }));
  return status === 200 && metricSum(body, "edgefleet_edge_cloud_connected") === 1;
}

async function apiserverCounts(
  rest: KubeRest,
  nodes: readonly string[],
): Promise<MainJobReport["apiserver"]> {
  const wanted = new Set(nodes);
  const list = await rest.list<NodeJson>("/api/v1/nodes");
  const ours = list.items.filter((n) => wanted.has(n.metadata?.name ?? ""));
  const pods = await rest.list<{
    metadata: { resourceVersion?: string; deletionTimestamp?: string };
    status?: { phase?: string };
  }>(`/api/v1/namespaces/${SIM_NAMESPACE}/pods`);
  return {
    nodes: ours.length,
    nodesReady: ours.filter(isNodeReady).length,
    pods: pods.items.filter((p) => !p.metadata.deletionTimestamp).length,
    podsRunning: pods.items.filter((p) => p.status?.phase === "Running" && !p.metadata.deletionTimestamp)
      .length,
  };
}
