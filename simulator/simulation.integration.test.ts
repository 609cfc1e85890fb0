import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { randomBytes } from "node:crypto";
import { KubeConfig } from "@kubernetes/client-node";
import { pino } from "pino";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import type { Cloudcore } from "../cloudcore/cloudcore.js";
import { KubeRest } from "../cloudcore/kube/kube-rest.js";
import type { NodeJson, PodJson } from "../cloudcore/kube/objects.js";
import { KUBEEDGE_BEHAVIOUR } from "./engine/node-behaviour.js";
import { SimulationReportSchema } from "./report/report.js";
import { writeReport } from "./report/write-report.js";
import { silentProgress } from "./run/progress.js";
import { runSimulation } from "./run/simulation-run.js";
import { untilValue } from "../test/until.js";
import { startTestCloudcore } from "../test/test-cloudcore.js";

const env = inject("env");
const log = pino({ level: process.env["EDGEFLEET_TEST_LOG"] ?? "silent" });

describe("simulator against the real control plane and cloudcore", () => {
  const kc = new KubeConfig();
  kc.loadFromFile(env.kubernetes?.kubeconfig ?? "");
  const suffix = randomBytes(3).toString("hex");
  const label = `sim-${suffix}`;
  const dir = mkdtempSync(join(tmpdir(), "edgefleet-sim-"));
  let cloudcore: Cloudcore;
  let rest: KubeRest;

  beforeAll(async () => {
    rest = await KubeRest.create(kc);
    cloudcore = await startTestCloudcore(kc, env.redis?.url ?? "", {
      edgeNodeSelector: `edgefleet.io/test=${label}`,
      admission: null,
      logger: log.child({ component: "cloudcore" }),
    });
  }, 60_000);

  afterAll(async () => {
    await cloudcore.close();
    rest.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it("200 emulated nodes and 1,000 pods: all nodes Ready and all pods Running in the apiserver, a report with real histograms, a clean stop", async () => {
    const { token } = await cloudcore.tokens.create({ ttlSeconds: 600, description: "simulator test" });
    const prefix = `sim${suffix}`;
    const namespace = `sim-${suffix}`;
    const report = await runSimulation({
      simulation: {
        nodes: 200,
        firstIndex: 0,
        prefix,
        server: `127.0.0.1:${cloudcore.hub.port}`,
        certificateServer: `127.0.0.1:${cloudcore.certificates.port}`,
        token,
        workers: 2,
        ratePerSecond: 400,
        behaviour: {
          ...KUBEEDGE_BEHAVIOUR,
          podStartupMs: { min: 200, max: 800 },
          rttIntervalMs: 2000,
          statusReportIntervalMs: 5000,
        },
        labels: { "edgefleet.io/test": label },
        cloud: "edgefleet",
        sourceAddressBase: "127.64.0.1",
        nodesPerSourceAddress: 100,
        certCache: join(dir, "certs.db"),
      },
      kubeConfig: kc,
      namespace,
      podsPerNode: 5,
      podMode: "bound",
      podQps: 250,
      phases: [
        { type: "steady", durationMs: 5000 },
        { type: "chaos", fraction: 0.1, downMs: 500 },
        { type: "churn", fraction: 0.2 },
      ],
      phaseTimeoutMs: 120_000,
      cleanup: false,
      shard: "0/1",
      settings: { test: true },
      progress: silentProgress,
      log,
    });

    // In the apiserver: 200 Nodes Ready, 1,000 pods Running and Ready.
    const nodes = (
      await rest.list<NodeJson>("/api/v1/nodes", { labelSelector: `edgefleet.io/sim=${prefix}` })
    ).items;
    expect(nodes).toHaveLength(200);
    expect(
      nodes.filter((n) => n.status?.conditions?.find((c) => c.type === "Ready")?.status === "True"),
    ).toHaveLength(200);
    const pods = (await rest.list<PodJson>(`/api/v1/namespaces/${namespace}/pods`)).items;
    expect(pods).toHaveLength(1000); // after churn: as many as before, all new ones Running
    expect(pods.filter((p) => p.status?.phase === "Running")).toHaveLength(1000);

    expect(report.totals).toMatchObject({ nodes: 200, registered: 200, podsRunning: 1000, joinErrors: 0 });
    expect(report.phases.map((p) => p.name)).toEqual(["ramp", "pods", "steady", "chaos", "churn"]);
    const ramp = report.phases[0];
    const podsPhase = report.phases[1];
    const chaos = report.phases[3];
    expect(ramp?.latencies.join?.count).toBe(200);
    expect(ramp?.latencies.connect?.count).toBe(200);
    expect(ramp?.latencies.register?.count).toBe(200);
    expect(podsPhase?.latencies.podStartup?.count).toBe(1000);
    expect(podsPhase?.latencies.podDelivery?.count).toBe(1000);
    expect(podsPhase?.latencies.podStartup?.p50).toBeGreaterThan(0);
    expect((podsPhase?.latencies.podStartup?.p99 ?? 0) >= (podsPhase?.latencies.podStartup?.p50 ?? 0)).toBe(
      true,
    );
    expect(report.phases.some((p) => (p.latencies.rtt?.count ?? 0) > 0)).toBe(true);
    expect(chaos?.latencies.reconnect?.count).toBe(20);
    // Churn replaced about a fifth of the pods: each new one was timed, each old one deleted.
    const churn = report.phases[4];
    expect(churn?.latencies.podStartup?.count).toBeGreaterThan(100);
    expect(churn?.counts.podsDeleted).toBe(churn?.latencies.podStartup?.count);
    expect(report.memory.perNodeBytes).toBeGreaterThan(0);

    const files = await writeReport(report, join(dir, "report.json"));
    expect(SimulationReportSchema.parse(JSON.parse(readFileSync(files.json, "utf8"))).totals.nodes).toBe(200);
    expect(readFileSync(files.chart, "utf8")).toMatch(/^<svg/);
    expect(readFileSync(files.markdown, "utf8")).toContain("pod created → Running in the apiserver");
    expect(existsSync(join(dir, "certs.db"))).toBe(true);

    await rest.request("delete", `/api/v1/namespaces/${namespace}`).catch(() => undefined);
    await rest.request("delete", "/api/v1/nodes", { query: { labelSelector: `edgefleet.io/sim=${prefix}` } });
  }, 240_000);

  it("a node the control plane marks Unknown (no Lease came) reports its status again and is Ready once more", async () => {
    // The test environment's controller-manager gives nodes 10 s; these nodes never renew a Lease
    // and send no periodic status, so only the correction brings them back.
    const { token } = await cloudcore.tokens.create({ ttlSeconds: 600, description: "simulator test" });
    const prefix = `simu${suffix}`;
    const selector = `edgefleet.io/sim=${prefix}`;
    const transitions = new Map<string, Set<string>>();
    let watching = true;
    const watcher = (async () => {
      while (watching) {
        const nodes = (await rest.list<NodeJson>("/api/v1/nodes", { labelSelector: selector })).items;
        for (const n of nodes) {
          const ready = n.status?.conditions?.find((c) => c.type === "Ready");
          const seen = transitions.get(n.metadata?.name ?? "") ?? new Set<string>();
          if (ready?.lastTransitionTime) seen.add(ready.lastTransitionTime);
          transitions.set(n.metadata?.name ?? "", seen);
        }
        await new Promise((r) => setTimeout(r, 500));
      }
    })();
    try {
      await runSimulation({
        simulation: {
          nodes: 3,
          firstIndex: 0,
          prefix,
          server: `127.0.0.1:${cloudcore.hub.port}`,
          certificateServer: `127.0.0.1:${cloudcore.certificates.port}`,
          token,
          workers: 1,
          ratePerSecond: 10,
          behaviour: {
            ...KUBEEDGE_BEHAVIOUR,
            leaseIntervalMs: 0,
            statusReportIntervalMs: 0,
            rttIntervalMs: 0,
          },
          labels: { "edgefleet.io/test": label },
          cloud: "edgefleet",
          sourceAddressBase: "127.64.1.1",
          nodesPerSourceAddress: 100,
        },
        kubeConfig: kc,
        namespace: `simu-${suffix}`,
        podsPerNode: 0,
        podMode: "bound",
        podQps: 10,
        // Held until every node has gone Unknown and come back (~15–25 s), not for a fixed time.
        phases: [
          {
            type: "action",
            name: "until each node is Unknown and back",
            run: async () => {
              await untilValue("every node Unknown and back", 60_000, async () =>
                transitions.size === 3 && [...transitions.values()].every((t) => t.size >= 2)
                  ? true
                  : undefined,
              );
            },
          },
        ],
        phaseTimeoutMs: 70_000,
        cleanup: false,
        shard: "0/1",
        settings: {},
        progress: silentProgress,
        log,
      });
      // Each node went Unknown and back: its Ready condition has transitioned again since it
      // registered (the correction follows within milliseconds, so the poll may not see Unknown).
      expect([...transitions.values()].filter((t) => t.size >= 2)).toHaveLength(3);
      await untilValue("all Ready again", 20_000, async () => {
        const nodes = (await rest.list<NodeJson>("/api/v1/nodes", { labelSelector: selector })).items;
        return nodes.length === 3 &&
          nodes.every((n) => n.status?.conditions?.find((c) => c.type === "Ready")?.status === "True")
          ? true
          : undefined;
      });
    } finally {
      watching = false;
      await watcher;
      await rest.request("delete", "/api/v1/nodes", { query: { labelSelector: selector } });
    }
  }, 120_000);
});
