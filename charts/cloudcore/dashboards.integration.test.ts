import { randomBytes } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { KubeConfig } from "@kubernetes/client-node";
import { pino } from "pino";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import type { Cloudcore } from "../../cloudcore/cloudcore.js";
import { KubeRest } from "../../cloudcore/kube/kube-rest.js";
import { isEmptyResult, PrometheusClient, PrometheusQueryError } from "../../loadtest/prometheus-client.js";
import { startHaproxy, type HaproxyBalancer } from "../../scripts/env/haproxy.js";
import { startPrometheus, type PrometheusServer } from "../../scripts/env/prometheus.js";
import { ControlServer } from "../../simulator/control/control-server.js";
import { SimulatorMetrics } from "../../simulator/control/metrics.js";
import { KUBEEDGE_BEHAVIOUR } from "../../simulator/engine/node-behaviour.js";
import type { Progress } from "../../simulator/run/progress.js";
import { runSimulation } from "../../simulator/run/simulation-run.js";
import type { SimulationReport } from "../../simulator/report/report.js";
import { startTestCloudcore } from "../../test/test-cloudcore.js";
import { untilValue } from "../../test/until.js";
import { loadDashboards, metricNames, panelQueries, variableQueries } from "./dashboard-queries.js";

const env = inject("env");
const log = pino({ level: process.env["EDGEFLEET_TEST_LOG"] ?? "silent" });

const SCRAPE_MS = 1000;
/** What Grafana's macros stand for: a rate window of 6 scrapes (Grafana's minimum is 4), 2 s steps. */
const MACROS = { rateInterval: "6s", interval: "2s", range: "30s" } as const;
const NODES = 30;
const PODS_PER_NODE = 2;

/** One query that failed, for the message: which dashboard, panel and query, and how. */
interface Failure {
  readonly where: string;
  readonly expr: string;
  readonly problem: string;
}

describe("Grafana dashboards: every panel query returns data from a real Prometheus", () => {
  const kc = new KubeConfig();
  kc.loadFromFile(env.kubernetes?.kubeconfig ?? "");
  const suffix = randomBytes(3).toString("hex");
  const label = `dash-${suffix}`;
  const prefix = `dash${suffix}`;
  const namespace = `dash-${suffix}`;
  const dir = mkdtempSync(join(tmpdir(), "edgefleet-dashboards-"));
  const replicas: Cloudcore[] = [];
  const abort = new AbortController();
  let rest: KubeRest;
  let lb: HaproxyBalancer | undefined;
  let control: ControlServer | undefined;
  let prometheus: PrometheusServer | undefined;
  let run: Promise<SimulationReport | undefined> | undefined;
  let phase = "ramp";
  let runError: Error | undefined;
  const progress: Progress = {
    update: (s) => (phase = s.phase),
    log: (line) => log.info(line),
    stop: () => undefined,
  };

  beforeAll(async () => {
    rest = await KubeRest.create(kc);
    // Two replicas of one cluster, on the environment's Redis, each with its /metrics.
    for (const id of ["a", "b"])
      replicas.push(
        await startTestCloudcore(kc, env.redis?.url ?? "", {
          metricsPort: 0,
          edgeNodeSelector: `edgefleet.io/test=${label}`,
          admission: null,
          cluster: {
            replicaId: `${suffix}-${id}`,
            rebalanceIntervalMs: 0,
            tunnelPortBase: 30000 + Math.floor(Math.random() * 20000),
          },
          logger: log.child({ replica: id }),
        }),
      );
    lb = await startHaproxy(join(dir, "haproxy"), [
      {
        name: "tunnel",
        balance: "leastconn",
        backends: replicas.map((r, i) => ({ name: `r${i}`, host: "127.0.0.1", port: r.hub.port })),
      },
      {
        name: "certificates",
        backends: replicas.map((r, i) => ({ name: `r${i}`, host: "127.0.0.1", port: r.certificates.port })),
      },
    ]);
    const metrics = new SimulatorMetrics();
    control = await ControlServer.start(0, metrics, () =>
      Promise.reject(new Error("no chaos on demand here")),
    );
    prometheus = await startPrometheus({
      dir: join(dir, "prometheus"),
      scrapeIntervalMs: SCRAPE_MS,
      jobs: [
        {
          name: "cloudcore",
          // Labelled by replica as the chart's ServiceMonitor labels by pod.
          targets: replicas.map((r, i) => ({
            address: `127.0.0.1:${r.metricsPort ?? 0}`,
            labels: { pod: `${suffix}-${"ab"[i] ?? i}` },
          })),
        },
        { name: "edgefleet-sim", targets: [{ address: `127.0.0.1:${control.port}` }] },
      ],
    });

    const { token } = await (replicas[0] as Cloudcore).tokens.create({
      ttlSeconds: 600,
      description: "dashboards",
    });
    // A small fleet through the balancer: joins, tunnels, registration, pods, a chaos cut (tunnels
    // end and come back), then a steady phase that lasts until the test has its data.
    run = runSimulation({
      simulation: {
        nodes: NODES,
        firstIndex: 0,
        prefix,
        server: `127.0.0.1:${lb.ports["tunnel"] ?? 0}`,
        certificateServer: `127.0.0.1:${lb.ports["certificates"] ?? 0}`,
        token,
        workers: 1,
        ratePerSecond: 100,
        behaviour: {
          ...KUBEEDGE_BEHAVIOUR,
          leaseIntervalMs: 2000,
          podStartupMs: { min: 200, max: 600 },
          rttIntervalMs: 2000,
          statusReportIntervalMs: 5000,
        },
        labels: { "edgefleet.io/test": label },
        cloud: "edgefleet",
        sourceAddressBase: "127.64.2.1",
        nodesPerSourceAddress: 100,
      },
      kubeConfig: kc,
      namespace,
      podsPerNode: PODS_PER_NODE,
      podMode: "bound",
      podQps: 100,
      phases: [
        { type: "chaos", fraction: 0.2, downMs: 500 },
        { type: "steady", durationMs: 120_000 },
      ],
      phaseTimeoutMs: 60_000,
      cleanup: true,
      shard: "0/1",
      settings: { test: true },
      progress,
      log,
      signal: abort.signal,
      onSample: (snap, workload) => metrics.update(snap, workload?.running, workload?.errors),
    }).catch((err: unknown) => {
      runError = err instanceof Error ? err : new Error(String(err));
      return undefined;
    });
  }, 60_000);

  afterAll(async () => {
    abort.abort();
    await run;
    await control?.close();
    await prometheus?.stop();
    for (const r of replicas) await r.close();
    await lb?.stop();
    await rest.request("delete", `/api/v1/namespaces/${namespace}`).catch(() => undefined);
    await rest
      .request("delete", "/api/v1/nodes", { query: { labelSelector: `edgefleet.io/sim=${prefix}` } })
      .catch(() => undefined);
    rest.close();
    rmSync(dir, { recursive: true, force: true });
  }, 60_000);

  it("runs every target of every panel of every dashboard, instant and range, and none errs or comes back empty", async () => {
    const client = new PrometheusClient(prometheus?.url ?? "");
    const dashboards = loadDashboards(join(dirname(fileURLToPath(import.meta.url)), "dashboards"));
    const queries = dashboards.flatMap(({ file, dashboard }) =>
      panelQueries(dashboard, MACROS).map((q) => ({
        where: `${file} (${q.dashboard}), panel "${q.panel}" target ${q.refId}`,
        expr: q.expr,
      })),
    );
    const variables = dashboards.flatMap(({ file, dashboard }) =>
      variableQueries(dashboard, MACROS).map((v) => ({
        where: `${file}, variable $${v.variable}`,
        expr: v.expr,
      })),
    );
    expect(queries.length).toBeGreaterThan(40);

    // The fleet is up, its pods run and its chaos cut is over: from here on every kind of traffic flows.
    await untilValue("the simulation's steady phase", 60_000, async () => {
      if (runError) throw new Error(`the simulation failed: ${runError.message}`, { cause: runError });
      return phase === "steady" ? true : undefined;
    });

    const check = async (q: { where: string; expr: string }): Promise<Failure | undefined> => {
      const asked = (problem: string): Failure => ({ ...q, problem });
      const end = new Date();
      try {
        // As a stat panel asks (the latest value) and as a timeseries panel does (a range).
        const instant = await client.query(q.expr, end);
        const range = await client.queryRange(q.expr, {
          start: new Date(end.getTime() - 30_000),
          end,
          stepSeconds: 2,
        });
        if (isEmptyResult(instant)) return asked("empty instant result");
        if (range.length === 0) return asked("empty range result over the last 30 s");
        return undefined;
      } catch (err) {
        if (err instanceof PrometheusQueryError) return asked(`${err.errorType}: ${err.message}`);
        throw err;
      }
    };
    // Scrapes lag the run a little: ask until every query has data, for 30 s at most. A PromQL
    // error does not go away by waiting: it ends the wait at once.
    const all = [...queries, ...variables];
    const askAll = async (): Promise<Failure[]> =>
      (await Promise.all(all.map(check))).filter((f): f is Failure => f !== undefined);
    const deadline = Date.now() + 30_000;
    let failures = await askAll();
    while (
      failures.length > 0 &&
      failures.every((f) => f.problem.startsWith("empty")) &&
      Date.now() < deadline
    ) {
      await new Promise((r) => setTimeout(r, 1000));
      failures = await askAll();
    }
    const targets = (await client.targets()).map(
      (t) => `${t.labels["job"]} ${t.scrapeUrl}: ${t.health} ${t.lastError}`,
    );
    expect(
      failures.map((f) => `${f.where}: ${f.problem}\n    ${f.expr}`),
      `Prometheus targets:\n${targets.join("\n")}`,
    ).toEqual([]);

    // A query that falls back to `or vector(0)` returns data even when a metric name is wrong:
    // every metric named in a query must be one the targets expose.
    const metadata = await client.metadata();
    const unknown = [...new Set(queries.flatMap((q) => metricNames(q.expr)))].filter(
      (name) => !(name in metadata) && !(name.replace(/_(bucket|count|sum)$/, "") in metadata),
    );
    expect(unknown, "metrics no target exposes").toEqual([]);
  }, 120_000);
});
