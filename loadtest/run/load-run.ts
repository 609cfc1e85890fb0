/**
 * One load scenario, end to end: a local HA edgefleet (control plane, Redis, cloudcore replicas
 * behind HAProxy, Prometheus scraping them and the simulator), the simulator's phases over real
 * tunnels, autocannon on cloudcore's HTTP endpoints during the phases the scenario names, then the
 * report: the run's own figures, the series Prometheus recorded, and checks that the two agree.
 */
import { cpus, totalmem } from "node:os";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import type { Logger } from "pino";
import { EDGEFLEET_VERSION } from "../../protocol/version.js";
import { startLocalEdgefleet, type LocalEdgefleet } from "../../scripts/env/local-edgefleet.js";
import { settledLowest } from "../../scripts/env/wait.js";
import { behaviourOf, phasesOf, type SimulatorRunConfig } from "../../simulator/config.js";
import { ControlServer } from "../../simulator/control/control-server.js";
import { SimulatorMetrics } from "../../simulator/control/metrics.js";
import type { Simulation } from "../../simulator/engine/simulation.js";
import type { Progress, ProgressState } from "../../simulator/run/progress.js";
import { runSimulation } from "../../simulator/run/simulation-run.js";
import type { SimulationReport } from "../../simulator/report/report.js";
import { PrometheusClient } from "../prometheus-client.js";
import type { LoadReport } from "../report/load-report.js";
import type { HttpTarget, Scenario } from "../scenario.js";
import { runHttpLoad, type HttpLoadResult } from "./http-load.js";
import { QUERIES, scalarAt, seriesOf, type ReportSeries } from "./prometheus-figures.js";

/** The Prometheus job of the simulator's /metrics. */
const SIM_JOB = "edgefleet-sim";

export interface LoadRunOptions {
  /** Where the environment keeps its data and logs. */
  readonly stateDir: string;
  readonly progress: Progress;
  readonly log: Logger;
  /** Stop early (Ctrl-C): the current phase ends, the report is still written. */
  readonly signal?: AbortSignal;
  /** Called with the running cluster once the report is built, before anything stops (tests, --keep). */
  readonly beforeStop?: (fleet: LocalEdgefleet, report: LoadReport) => Promise<void>;
  /** Called as components come up. */
  readonly onReady?: (component: string, elapsedMs: number) => void;
}

/** A rate window of four scrapes, as Grafana's $__rate_interval at least is. */
const rateWindow = (scrapeMs: number): string => `${Math.max(4 * scrapeMs, 1000)}ms`;

export async function runLoadScenario(scenario: Scenario, o: LoadRunOptions): Promise<LoadReport> {
  const scrapeMs = scenario.cluster.scrapeInterval;
  const fleet = await startLocalEdgefleet({
    stateDir: o.stateDir,
    replicas: scenario.cluster.replicas,
    scrapeIntervalMs: scrapeMs,
    scrapeJobs: [SIM_JOB],
    replicaArgs: ["--log-level", "warn", "--admission-rate", "2000", "--admission-burst", "4000"],
    ...(o.onReady && { onReady: o.onReady }),
  });
  const metrics = new SimulatorMetrics();
  let simulation: Simulation | undefined;
  const control = await ControlServer.start(0, metrics, async ({ fraction, downMs }) => {
    if (!simulation) throw new Error("the simulation has not started yet");
    return simulation.disconnect(fraction, downMs);
  });
  try {
    const prometheus = new PrometheusClient(fleet.prometheus?.url ?? "");
    fleet.scrape(SIM_JOB, [{ address: `127.0.0.1:${control.port}` }]);
    await waitForTargets(prometheus, scenario.cluster.replicas + 1, o);

    const token = await fleet.createJoinToken(`edgefleet-load ${scenario.name}`);
    const config: SimulatorRunConfig = {
      ...scenario.simulator,
      cloudcore: fleet.tunnelAddress,
      certificateServer: fleet.certificateAddress,
      token,
      kubeconfig: fleet.kubeconfig,
      report: join(o.stateDir, "sim-report.json"),
      metricsPort: 0,
      shard: { index: 0, count: 1 },
    };

    // HTTP loads start when the simulator enters their phase (the progress callback says so).
    const httpRuns: Promise<HttpLoadResult>[] = [];
    const started = new Set<string>();
    const baseUrl = (target: HttpTarget): string =>
      target === "certificates"
        ? `https://${fleet.certificateAddress}`
        : `http://127.0.0.1:${fleet.replicas[0]?.ports.metrics ?? 0}`;
    const startLoadsOf = (phase: string): void => {
      if (started.has(phase)) return;
      started.add(phase);
      for (const load of scenario.http.filter((l) => l.phase === phase)) {
        o.progress.log(
          `http: ${load.name} → ${load.target}${load.path}, ${load.connections} connections for ${load.duration / 1000} s`,
        );
        httpRuns.push(runHttpLoad(load, baseUrl(load.target), o.signal));
      }
    };
    const progress: Progress = {
      update: (state: ProgressState) => {
        startLoadsOf(state.phase);
        o.progress.update(state);
      },
      log: (line) => o.progress.log(line),
      stop: () => o.progress.stop(),
    };
    // Simulator memory per node over time, sampled here: the simulator runs in this process.
    const simulatorMemory: [number, number][] = [];
    const startedAt = new Date();
    // What the processes hold before the fleet: per-node figures are what the fleet adds to it.
    const simulatorRssBefore = process.memoryUsage().rss;
    // Just-started replicas shed start-up garbage (module compilation, the first informer lists)
    // for a while; a baseline taken during that fall made a 100-node figure come out as zero (CI).
    const cloudcoreRssBefore = await settledLowest(
      () => scalarAt(prometheus, QUERIES.cloudcoreRss, new Date()),
      { intervalMs: scrapeMs, timeoutMs: 20_000, ...(o.signal && { signal: o.signal }) },
    );
    const sim = await runSimulation({
      simulation: {
        nodes: config.nodes,
        firstIndex: 0,
        prefix: config.prefix,
        server: config.cloudcore,
        certificateServer: fleet.certificateAddress,
        token,
        workers: config.workers,
        ratePerSecond: config.ramp,
        behaviour: behaviourOf(config),
        labels: {},
        cloud: config.cloud,
        sourceAddressBase: config.sourceAddress,
        nodesPerSourceAddress: config.nodesPerSourceAddress,
      },
      kubeConfig: fleet.kubeConfig,
      namespace: config.namespace,
      podsPerNode: config.podsPerNode,
      podMode: config.podMode,
      podQps: config.podQps,
      phases: phasesOf(config),
      phaseTimeoutMs: config.phaseTimeout,
      cleanup: config.cleanup,
      shard: "0/1",
      settings: { scenario: scenario.name, ...scenario.simulator },
      progress,
      log: o.log,
      ...(o.signal && { signal: o.signal }),
      onSimulation: (s) => (simulation = s),
      onSample: (snapshot, workload) => {
        metrics.update(snapshot, workload?.running, workload?.errors);
        const connected = snapshot.counters.connected;
        if (connected > 0)
          simulatorMemory.push([
            Math.round((Date.now() - startedAt.getTime()) / 100) / 10,
            Math.round((process.memoryUsage().rss - simulatorRssBefore) / connected),
          ]);
      },
    });
    const http = await Promise.all(httpRuns);
    // The last scrape must have happened after the run's last counts.
    await sleep(2 * scrapeMs + 500);
    const endedAt = new Date();
    const report = await buildReport(scenario, {
      prometheus,
      sim,
      http,
      startedAt,
      endedAt,
      simulatorMemory,
      scrapeMs,
      cloudcoreRssBefore,
    });
    await o.beforeStop?.(fleet, report);
    return report;
  } finally {
    await control.close();
    await fleet.stop();
  }
}

/** Waits until Prometheus scrapes every target (file_sd hands new targets over in ~5 s batches). */
async function waitForTargets(prometheus: PrometheusClient, count: number, o: LoadRunOptions): Promise<void> {
  const deadline = Date.now() + 30_000;
  for (;;) {
    const targets = await prometheus.targets();
    const up = targets.filter((t) => t.health === "up").length;
    if (up >= count) return;
    if (Date.now() > deadline)
      throw new Error(
        `Prometheus scrapes ${up} of ${count} targets after 30 s: ${targets.map((t) => `${t.scrapeUrl} ${t.health} ${t.lastError}`).join("; ")}`,
      );
    if (o.signal?.aborted) throw new Error("stopped while waiting for Prometheus");
    await sleep(500);
  }
}

interface RunFigures {
  readonly prometheus: PrometheusClient;
  readonly sim: SimulationReport;
  readonly http: readonly HttpLoadResult[];
  readonly startedAt: Date;
  readonly endedAt: Date;
  readonly simulatorMemory: readonly [number, number][];
  readonly scrapeMs: number;
  /** The replicas' summed RSS before the fleet came. */
  readonly cloudcoreRssBefore: number;
}

/** Relative difference, 0 when both are 0. */
const relative = (a: number, b: number): number =>
  a === b ? 0 : Math.abs(a - b) / Math.max(Math.abs(a), Math.abs(b));

async function buildReport(scenario: Scenario, f: RunFigures): Promise<LoadReport> {
  const { prometheus, sim, startedAt, endedAt } = f;
  const t = (ms: number): number => Math.round((ms - startedAt.getTime()) / 100) / 10;
  const stepSeconds = Math.max(1, Math.round(f.scrapeMs / 1000));
  const range = { start: startedAt, end: endedAt, stepSeconds };
  const window = rateWindow(f.scrapeMs);

  const phases = sim.phases.map((p) => {
    const start = Date.parse(p.startedAt);
    return {
      name: p.name,
      startSeconds: t(start),
      endSeconds: t(start + p.durationSeconds * 1000),
      latencies: Object.fromEntries(Object.entries(p.latencies).filter(([, v]) => v !== undefined)) as Record<
        string,
        { count: number; p50: number; p90: number; p99: number; max: number }
      >,
      messagesPerSecond: p.messagesPerSecond,
      errors: (p.counts.joinErrors ?? 0) + (p.counts.registerErrors ?? 0) + (p.counts.requestErrors ?? 0),
    };
  });

  const series: ReportSeries[] = [
    ...(await seriesOf(
      prometheus,
      "connected_nodes",
      QUERIES.connectedNodesByReplica,
      range,
      startedAt,
      (m) => ({
        replica: m["pod"] ?? "?",
      }),
    )),
    ...(await seriesOf(
      prometheus,
      "messages_per_second",
      QUERIES.messagesIn(window),
      range,
      startedAt,
      () => ({
        direction: "in",
      }),
    )),
    ...(await seriesOf(
      prometheus,
      "messages_per_second",
      QUERIES.messagesOut(window),
      range,
      startedAt,
      () => ({
        direction: "out",
      }),
    )),
    ...(await seriesOf(
      prometheus,
      "memory_per_node_bytes",
      QUERIES.cloudcoreRssPerNode(f.cloudcoreRssBefore),
      range,
      startedAt,
      () => ({
        component: "cloudcore",
      }),
    )),
    { id: "memory_per_node_bytes", labels: { component: "simulator" }, points: [...f.simulatorMemory] },
    ...f.http.flatMap((h) =>
      (["p50", "p99"] as const).map((quantile) => ({
        id: "http_latency_ms",
        labels: { name: h.name, quantile },
        points: h.perSecond.map(([second, p50, p99]): [number, number] => [
          t(second),
          quantile === "p50" ? p50 : p99,
        ]),
      })),
    ),
  ];

  // Checks: the run's own counts against what Prometheus recorded from cloudcore.
  const checks: LoadReport["checks"] = [];
  const check = async (
    figure: string,
    report: number,
    query: string,
    at: Date,
    tolerance: number,
  ): Promise<void> => {
    const value = await scalarAt(prometheus, query, at);
    checks.push({
      figure,
      report,
      prometheus: value,
      tolerance,
      ok: relative(report, value) <= tolerance,
      query,
    });
  };
  const joined = sim.phases.reduce((sum, p) => sum + (p.counts.joined ?? 0), 0);
  await check("certificates issued (joins)", joined, QUERIES.joinsIssued, endedAt, 0);
  // Nodes connected at the end of the last steady phase, where the fleet stands still.
  const steady = [...sim.phases].reverse().find((p) => p.name.startsWith("steady"));
  if (steady) {
    const end = Date.parse(steady.startedAt) + steady.durationSeconds * 1000 - f.scrapeMs;
    const point = [...sim.timeline].reverse().find((p) => startedAt.getTime() + p.t * 1000 <= end);
    if (point)
      await check(
        `nodes connected at the end of ${steady.name}`,
        point.connected,
        QUERIES.connectedNodes,
        new Date(end),
        0,
      );
  }
  // Every message the simulated edges sent was received and counted by a replica.
  const sent = sim.phases.reduce((sum, p) => sum + (p.counts.messagesOut ?? 0), 0);
  await check("messages from edges (sent, received)", sent, QUERIES.messagesInTotal, endedAt, 0.01);
  for (const h of f.http) {
    const server = h.target === "certificates" ? "certificates" : "health";
    const query = QUERIES.httpRequests(server, h.path);
    const before = await scalarAt(prometheus, query, new Date(h.startedAtMs - f.scrapeMs));
    const after = await scalarAt(prometheus, query, endedAt);
    // Requests cut off when autocannon stops may be answered (counted by cloudcore) but not read.
    const slack = h.connections;
    checks.push({
      figure: `${h.name}: requests answered`,
      report: h.requests,
      prometheus: after - before,
      tolerance: h.requests > 0 ? slack / h.requests : 0,
      ok: Math.abs(after - before - h.requests) <= slack,
      query,
    });
  }

  // Memory where the fleet stood still: the end of the last steady phase (else the run's end).
  const steadyEnd = steady
    ? new Date(Date.parse(steady.startedAt) + steady.durationSeconds * 1000 - f.scrapeMs)
    : endedAt;
  const cloudcoreRss = await scalarAt(prometheus, QUERIES.cloudcoreRss, steadyEnd);
  const connectedThen = await scalarAt(prometheus, QUERIES.connectedNodes, steadyEnd);
  return {
    schema: "edgefleet.io/load-report/v1",
    tool: "edgefleet-load",
    version: EDGEFLEET_VERSION,
    scenario: { name: scenario.name, description: scenario.description },
    startedAt: startedAt.toISOString(),
    endedAt: endedAt.toISOString(),
    durationSeconds: Math.round((endedAt.getTime() - startedAt.getTime()) / 100) / 10,
    environment: {
      replicas: scenario.cluster.replicas,
      nodes: scenario.simulator.nodes,
      podsPerNode: scenario.simulator.podsPerNode,
      host: { cpus: cpus().length, memoryBytes: totalmem(), node: process.version },
    },
    phases,
    http: f.http.map((h) => ({
      name: h.name,
      target: h.target,
      path: h.path,
      phase: h.phase,
      connections: h.connections,
      durationSeconds: h.durationSeconds,
      requests: h.requests,
      errors: h.errors,
      timeouts: h.timeouts,
      non2xx: h.non2xx,
      requestsPerSecond: h.requestsPerSecond,
      latency: h.latency,
      statusCodes: h.statusCodes,
    })),
    series: { stepSeconds, list: series },
    memory: {
      cloudcoreRssBytes: cloudcoreRss,
      cloudcorePerNodeBytes: Math.max(
        0,
        Math.round((cloudcoreRss - f.cloudcoreRssBefore) / Math.max(connectedThen, 1)),
      ),
      simulatorRssBytes: sim.memory.simulatorRssBytes,
      simulatorPerNodeBytes: sim.memory.perNodeBytes,
    },
    checks,
    errors: [...sim.errors],
    thresholds: scenario.thresholds,
  };
}
