/**
 * One simulator run, phase by phase: ramp (join, connect, register; every Node Ready in the
 * apiserver), pods (create the workload; all Running), steady (hold), optional chaos (cut a
 * fraction of tunnels, wait for them back), then the report. Used by `edgefleet-sim run`, the
 * scale benchmark and the main job.
 */
import type { KubeConfig } from "@kubernetes/client-node";
import type { Logger } from "pino";
import { KubeRest } from "../../cloudcore/kube/kube-rest.js";
import { EDGEFLEET_VERSION } from "../../protocol/version.js";
import { LatencySet } from "../engine/latencies.js";
import { emptyCounters, type ShardCounters } from "../engine/shard-messages.js";
import { Simulation, type FleetSnapshot, type SimulationOptions } from "../engine/simulation.js";
import {
  phaseReport,
  type PhaseReport,
  type SimulationReport,
  type TimelinePoint,
} from "../report/report.js";
import { PodWorkload, selectorOf, simulationLabels } from "../workload/pod-workload.js";
import { NodeReadiness } from "./node-readiness.js";
import type { Progress } from "./progress.js";

/** What happens after the fleet is up and its pods Running, in order. */
export type ScenarioPhase =
  /** Hold the fleet: heartbeats, leases, RTT probes. */
  | { readonly type: "steady"; readonly durationMs: number }
  /** Cut the tunnels of `fraction` of the connected nodes for `downMs`; wait until all are back. */
  | { readonly type: "chaos"; readonly fraction: number; readonly downMs: number }
  /** Delete `fraction` of the pods and create as many new ones; wait until all Run again. */
  | { readonly type: "churn"; readonly fraction: number }
  /**
   * Something done to the system under test while the fleet runs (the main job kills a cloudcore
   * replica): the phase lasts until `run` settles, sampled as any other, and is reported as `name`.
   */
  | {
      readonly type: "action";
      readonly name: string;
      readonly run: (log: (line: string) => void) => Promise<void>;
    };

export interface RunOptions {
  readonly simulation: SimulationOptions;
  /** The apiserver, for the workload and for checking Ready; without it only tunnels are driven. */
  readonly kubeConfig?: KubeConfig;
  readonly namespace: string;
  readonly podsPerNode: number;
  /** "bound": pods with nodeName (no scheduler); "deployment": Deployments the scheduler places. */
  readonly podMode: "bound" | "deployment";
  /** Pod (or Deployment) creations per second. */
  readonly podQps: number;
  readonly phases: readonly ScenarioPhase[];
  /** Give up waiting for a phase's goal after this long (the run still reports). */
  readonly phaseTimeoutMs: number;
  /** Delete the pods and Nodes the run made. */
  readonly cleanup: boolean;
  /** Shard label for the report (`i/n`). */
  readonly shard: string;
  readonly settings: Readonly<Record<string, unknown>>;
  readonly progress: Progress;
  readonly log: Logger;
  /** Stop early (Ctrl-C): the run ends its current phase and reports. */
  readonly signal?: AbortSignal;
  /** Every sample (about once a second): for metrics. */
  readonly onSample?: (
    snapshot: FleetSnapshot,
    workload: { running: number; errors: number } | undefined,
  ) => void;
  /** The simulation once started: for a control endpoint (chaos on demand). */
  readonly onSimulation?: (simulation: Simulation) => void;
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

export async function runSimulation(o: RunOptions): Promise<SimulationReport> {
  const startedAt = Date.now();
  const rssBefore = process.memoryUsage().rss;
  const rest = o.kubeConfig ? await KubeRest.create(o.kubeConfig) : undefined;
  // Shards of one run share the prefix; each cleans up and checks only its own nodes.
  const shardIndex = o.shard.split("/")[0] ?? "0";
  const shardLabels = simulationLabels(o.simulation.prefix, shardIndex);
  const labelSelector = selectorOf(shardLabels);
  const readiness =
    o.kubeConfig && rest ? new NodeReadiness(o.kubeConfig, rest, labelSelector, o.log) : undefined;
  const workload =
    o.kubeConfig && rest && o.podsPerNode > 0
      ? new PodWorkload({
          kubeConfig: o.kubeConfig,
          rest,
          namespace: o.namespace,
          prefix: o.simulation.prefix,
          shard: shardIndex,
          log: o.log,
        })
      : undefined;
  const simulation = Simulation.start({
    ...o.simulation,
    labels: { ...o.simulation.labels, ...shardLabels },
  });
  o.onSimulation?.(simulation);

  const timeline: TimelinePoint[] = [];
  const phases: PhaseReport[] = [];
  let current = { name: "ramp", startedAt: Date.now(), before: emptyCounters() };
  let last: FleetSnapshot | undefined;
  let lastAt = Date.now();
  let perNodeBytes = 0;
  let rssUp = 0;

  const sample = async (): Promise<FleetSnapshot> => {
    const snap = await simulation.snapshot();
    const now = Date.now();
    const prev = last?.counters ?? emptyCounters();
    const messages =
      snap.counters.messagesIn + snap.counters.messagesOut - prev.messagesIn - prev.messagesOut;
    const rate = Math.round(messages / Math.max(0.001, (now - lastAt) / 1000));
    last = snap;
    lastAt = now;
    o.onSample?.(snap, workload && { running: workload.running, errors: workload.errors });
    timeline.push({
      t: Math.round((now - startedAt) / 100) / 10,
      connected: snap.counters.connected,
      registered: snap.counters.registered,
      podsRunning: workload?.running ?? snap.counters.podsRunning,
      messagesPerSecond: rate,
    });
    o.progress.update({
      phase: current.name,
      nodes: o.simulation.nodes,
      connected: snap.counters.connected,
      registered: snap.counters.registered,
      pods: o.podsPerNode * o.simulation.nodes,
      podsRunning: workload?.running ?? snap.counters.podsRunning,
      messagesPerSecond: rate,
      errors: snap.counters.requestErrors + snap.counters.joinErrors + (workload?.errors ?? 0),
      lastError: snap.errors.at(-1) ?? workload?.lastError,
    });
    return snap;
  };
  /** After a wait for pods timed out: which pods are not Running, and whether the watch missed any. */
  const explainShortfall = async (phase: string): Promise<void> => {
    if (!workload) return;
    try {
      const { missedByWatch, notRunning } = await workload.reconcile();
      if (missedByWatch.length > 0)
        o.progress.log(
          `${phase}: the pod watch missed ${missedByWatch.length} Running pods: ${missedByWatch.slice(0, 10).join(", ")}`,
        );
      if (notRunning.length > 0)
        o.progress.log(`${phase}: not Running in the apiserver: ${notRunning.slice(0, 10).join(", ")}`);
    } catch (err) {
      o.progress.log(`${phase}: could not list pods to explain the shortfall: ${(err as Error).message}`);
    }
  };
  /** Samples every second until `done` or the phase times out; returns whether `done` held. */
  const until = async (done: (s: FleetSnapshot) => boolean): Promise<boolean> => {
    const deadline = Date.now() + o.phaseTimeoutMs;
    for (;;) {
      const snap = await sample();
      if (done(snap)) return true;
      if (Date.now() > deadline || o.signal?.aborted) return false;
      await sleep(1000);
    }
  };
  const nextPhase = async (name: string): Promise<void> => {
    const ended = await simulation.phase(name);
    const latencies = ended.latencies;
    // The workload's pod startups belong to the phase in which those pods came up.
    if (workload) latencies.add(workload.takeLatencies());
    phases.push(
      phaseReport(current.name, current.startedAt, Date.now(), latencies, current.before, ended.counters),
    );
    o.progress.log(`phase ${current.name} done in ${((Date.now() - current.startedAt) / 1000).toFixed(1)} s`);
    current = { name, startedAt: Date.now(), before: ended.counters };
  };

  let report: SimulationReport | undefined;
  try {
    readiness?.start();
    await workload?.start();
    o.progress.log(`ramp: ${o.simulation.nodes} nodes over ${simulation.workers} worker threads`);
    let ramped: { connected: number; failed: number } | undefined;
    simulation.ramped().then(
      (r) => (ramped = r),
      () => undefined,
    );
    await until(() => ramped !== undefined);
    const expected = o.simulation.nodes - (ramped?.failed ?? 0);
    await until((s) => s.counters.registered >= expected);
    if (readiness)
      await until(() => {
        const c = readiness.counts();
        return c.ready >= expected;
      });
    // Idle fleet: what the simulator holds per node.
    await sleep(1000);
    rssUp = process.memoryUsage().rss;
    perNodeBytes = Math.max(0, Math.round((rssUp - rssBefore) / Math.max(1, last?.counters.connected ?? 1)));
    o.progress.log(
      `ramp: ${last?.counters.connected ?? 0} connected, ${last?.counters.registered ?? 0} registered${readiness ? `, ${readiness.counts().ready} Ready in the apiserver` : ""}; ${(perNodeBytes / 1024).toFixed(1)} KiB resident per node`,
    );

    if (workload && !o.signal?.aborted) {
      await nextPhase("pods");
      const nodes = Array.from(
        { length: o.simulation.nodes },
        (_, i) => `${o.simulation.prefix}-${o.simulation.firstIndex + i}`,
      );
      const total = nodes.length * o.podsPerNode;
      const creating =
        o.podMode === "bound"
          ? workload.createBoundPods(nodes, o.podsPerNode, o.podQps)
          : workload.createDeployments(nodes.length, o.podsPerNode, o.podQps);
      const allRunning = await until(() => workload.running >= total);
      await creating;
      if (!allRunning) await explainShortfall("pods");
      o.progress.log(`pods: ${workload.running}/${total} Running (${workload.errors} create errors)`);
    }

    const used = new Map<string, number>();
    for (const phase of o.phases) {
      if (o.signal?.aborted) break;
      // Phase names are unique in a report (shards merge by name): steady, steady-2, ...
      const key = phase.type === "action" ? `action:${phase.name}` : phase.type;
      const n = (used.get(key) ?? 0) + 1;
      used.set(key, n);
      const name = phase.type === "action" ? phase.name : phase.type;
      await nextPhase(n === 1 ? name : `${name}-${n}`);
      if (phase.type === "steady") {
        const end = Date.now() + phase.durationMs;
        while (Date.now() < end && !o.signal?.aborted) {
          await sample();
          await sleep(Math.min(1000, Math.max(0, end - Date.now())));
        }
      } else if (phase.type === "chaos") {
        const connectedBefore = last?.counters.connected ?? 0;
        const reconnectsBefore = current.before.reconnects;
        const cut = await simulation.disconnect(phase.fraction, phase.downMs);
        o.progress.log(`chaos: cut ${cut} tunnels for ${phase.downMs} ms`);
        await sleep(Math.min(phase.downMs, 1000));
        await until(
          (s) => s.counters.connected >= connectedBefore && s.counters.reconnects >= reconnectsBefore + cut,
        );
      } else if (phase.type === "action") {
        let settled = false;
        const action = phase.run((line) => o.progress.log(line)).finally(() => (settled = true));
        while (!settled) {
          await sample();
          await Promise.race([action.catch(() => undefined), sleep(1000)]);
        }
        await action;
      } else if (workload && o.podMode === "bound") {
        const { deleted, created } = await workload.churnBoundPods(phase.fraction, o.podQps);
        const settled = await until(() => workload.settled(deleted, created));
        if (!settled) await explainShortfall("churn");
        o.progress.log(
          `churn: replaced ${deleted.length} pods${settled ? "" : " (not all settled in time)"}; ${workload.running} Running`,
        );
      } else {
        o.progress.log("churn: needs bound pods (--pod-mode bound); skipped");
      }
    }

    await sample();
    const ended = await simulation.phase("end");
    const latencies = new LatencySet();
    latencies.add(ended.latencies.encode());
    if (workload) latencies.add(workload.takeLatencies());
    phases.push(
      phaseReport(current.name, current.startedAt, Date.now(), latencies, current.before, ended.counters),
    );
    const counters: ShardCounters = ended.counters;
    report = {
      tool: "edgefleet-sim",
      version: EDGEFLEET_VERSION,
      startedAt: new Date(startedAt).toISOString(),
      endedAt: new Date().toISOString(),
      settings: o.settings,
      shards: [o.shard],
      totals: {
        nodes: o.simulation.nodes,
        connected: counters.connected,
        registered: counters.registered,
        pods: workload?.pods ?? counters.podsHeld,
        podsRunning: workload?.running ?? counters.podsRunning,
        joinErrors: counters.joinErrors,
        requestErrors: counters.requestErrors,
        podCreateErrors: workload?.errors ?? 0,
      },
      memory: { simulatorRssBytes: rssUp, perNodeBytes },
      phases,
      timeline,
      errors: [...ended.errors, ...(workload?.lastError ? [workload.lastError] : [])],
    };
  } finally {
    o.progress.stop();
    if (o.cleanup && workload) await workload.deleteAll();
    await workload?.stop();
    await readiness?.stop();
    await simulation.stop();
    if (o.cleanup && rest) {
      await rest
        .request("delete", "/api/v1/nodes", { query: { labelSelector } })
        .catch((err: unknown) =>
          o.log.warn({ err: (err as Error).message }, "deleting the simulated Nodes failed"),
        );
    }
    rest?.close();
  }
  return report;
}
