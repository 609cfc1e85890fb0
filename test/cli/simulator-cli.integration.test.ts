import { spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { KubeConfig } from "@kubernetes/client-node";
import { pino } from "pino";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import type { Cloudcore } from "../../cloudcore/cloudcore.js";
import { KubeRest } from "../../cloudcore/kube/kube-rest.js";
import { freePort } from "../../scripts/env/ports.js";
import { SimulationReportSchema } from "../../simulator/report/report.js";
import { untilValue } from "../until.js";
import { startTestCloudcore } from "../test-cloudcore.js";

const env = inject("env");
const TSX = join(process.cwd(), "node_modules", ".bin", "tsx");
const SIM = join(process.cwd(), "simulator", "main.ts");

interface Running {
  readonly done: Promise<{ code: number; stdout: string; stderr: string }>;
}

function sim(args: readonly string[], timeoutMs = 120_000): Running {
  const child = spawn(TSX, [SIM, ...args], { stdio: ["ignore", "pipe", "pipe"] });
  let stdout = "";
  let stderr = "";
  child.stdout.on("data", (d: Buffer) => (stdout += d.toString("utf8")));
  child.stderr.on("data", (d: Buffer) => (stderr += d.toString("utf8")));
  const timer = setTimeout(() => child.kill("SIGKILL"), timeoutMs);
  return {
    done: new Promise((resolve) =>
      child.on("exit", (code) => {
        clearTimeout(timer);
        resolve({ code: code ?? 1, stdout, stderr });
      }),
    ),
  };
}

describe("edgefleet-sim CLI", () => {
  const kubeconfig = env.kubernetes?.kubeconfig ?? "";
  const kc = new KubeConfig();
  kc.loadFromFile(kubeconfig);
  const suffix = randomBytes(3).toString("hex");
  const label = `simcli-${suffix}`;
  const dir = mkdtempSync(join(tmpdir(), "edgefleet-simcli-"));
  let cloudcore: Cloudcore;
  let rest: KubeRest;
  let token: string;

  beforeAll(async () => {
    rest = await KubeRest.create(kc);
    cloudcore = await startTestCloudcore(kc, env.redis?.url ?? "", {
      edgeNodeSelector: `edgefleet.io/sim=simcli${suffix}`,
      logger: pino({ level: "silent" }),
    });
    ({ token } = await cloudcore.tokens.create({ ttlSeconds: 600, description: "simulator cli" }));
  }, 60_000);

  afterAll(async () => {
    await cloudcore.close();
    await rest.request("delete", "/api/v1/nodes", {
      query: { labelSelector: `edgefleet.io/sim=simcli${suffix}` },
    });
    await rest.request("delete", `/api/v1/namespaces/${label}`).catch(() => undefined);
    rest.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it("join caches certificates; run (scenario file + flags) uses them, takes chaos from `chaos`, writes the reports; report render and merge read them", async () => {
    const cache = join(dir, "certs.db");
    const certificateServer = `127.0.0.1:${cloudcore.certificates.port}`;
    const joined = await sim([
      "join",
      "--certificate-server",
      certificateServer,
      "--token",
      token,
      "--nodes",
      "20",
      "--prefix",
      `simcli${suffix}`,
      "--cert-cache",
      cache,
    ]).done;
    expect(joined.stderr).not.toMatch(/failed [1-9]/);
    expect(joined.stdout).toMatch(/joined 20, already cached 0, failed 0/);

    const scenario = join(dir, "scenario.yaml");
    writeFileSync(
      scenario,
      [
        `cloudcore: 127.0.0.1:${cloudcore.hub.port}`,
        `certificateServer: ${certificateServer}`,
        `nodes: 20`,
        `podsPerNode: 2`,
        `podStartup: 100ms-300ms`,
        `rttInterval: 1s`,
        `phases:`,
        `  - steady: 6s`,
        `  - churn: { fraction: 50% }`,
      ].join("\n"),
    );
    const metricsPort = await freePort();
    const report = join(dir, "out", "run.json");
    const running = sim([
      "run",
      "--scenario",
      scenario,
      "--token",
      token,
      "--kubeconfig",
      kubeconfig,
      "--prefix",
      `simcli${suffix}`,
      "--namespace",
      label,
      "--cert-cache",
      cache,
      "--workers",
      "1",
      "--metrics-port",
      String(metricsPort),
      "--report",
      report,
    ]);
    // While it runs: Prometheus metrics, and chaos through the control endpoint.
    let exited: string | undefined;
    void running.done.then((r) => (exited = `run exited early (${r.code}): ${r.stderr}`));
    const metrics = await untilValue("simulator metrics with 20 registered nodes", 60_000, async () => {
      if (exited) throw new Error(exited);
      const text = await fetch(`http://127.0.0.1:${metricsPort}/metrics`).then(
        (r) => r.text(),
        () => "",
      );
      return /edgefleet_sim_nodes\{state="registered"\} 20/.test(text) ? text : undefined;
    });
    expect(metrics).toContain("edgefleet_sim_messages_total");
    // Chaos runs alone while the run's 6 s hold lasts (a second process starting beside it made it
    // miss the hold on a busy CI machine); the refused one needs no running simulation.
    const chaos = await sim([
      "chaos",
      "--target",
      `127.0.0.1:${metricsPort}`,
      "--disconnect",
      "25%",
      "--down",
      "300ms",
    ]).done;
    expect(chaos.stdout, chaos.stderr).toMatch(/cut \d+ tunnels for 300ms/);
    const bad = await sim(["chaos", "--target", `127.0.0.1:${metricsPort}`, "--disconnect", "150%"]).done;
    expect(bad.code).toBe(1);
    expect(bad.stderr).toContain("--disconnect must be a fraction");

    const result = await running.done;
    expect(result.code, result.stderr).toBe(0);
    expect(result.stdout).toMatch(/nodes\s+20\/20 registered/);
    expect(result.stdout).toMatch(/pods\s+40\/40 Running/);
    const parsed = SimulationReportSchema.parse(JSON.parse(readFileSync(report, "utf8")));
    expect(parsed.phases.map((p) => p.name)).toEqual(["ramp", "pods", "steady", "churn"]);
    // Certificates came from the cache: nothing joined during the run.
    expect(parsed.phases[0]?.latencies.join).toBeUndefined();
    expect(parsed.settings["token"]).toBe("(hidden)");
    expect(readFileSync(join(dir, "out", "run.md"), "utf8")).toContain("## Phase churn");

    const [rendered, merged, notReport] = await Promise.all([
      sim(["report", "render", report]).done,
      sim(["report", "merge", report, report, "--out", join(dir, "merged.json")]).done,
      sim(["report", "render", scenario]).done,
    ]);
    expect(rendered.code).toBe(0);
    expect(rendered.stdout).toContain("40/40 Running");
    expect(merged.code, merged.stderr).toBe(0);
    expect(merged.stdout).toMatch(/nodes\s+40\/40 registered/);
    expect(notReport.code).toBe(1);
    expect(notReport.stderr).toMatch(/scenario.yaml: /);
  }, 180_000);

  it("bad flags and scenario fields are refused with their name, and nothing starts", async () => {
    const scenario = join(dir, "bad.yaml");
    writeFileSync(
      scenario,
      "cloudcore: 127.0.0.1:1\ntoken: t\nphases:\n  - chaos: { fraction: 2, down: 1s }\n",
    );
    const [missing, rate, shard, phase] = await Promise.all([
      sim(["run", "--token", token]).done,
      sim(["run", "--cloudcore", "127.0.0.1:1", "--token", token, "--ramp", "fast"]).done,
      sim(["run", "--cloudcore", "127.0.0.1:1", "--token", token, "--shard", "3/3"]).done,
      sim(["run", "--scenario", scenario]).done,
    ]);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toContain("field cloudcore");
    expect(rate.stderr).toContain('field ramp: rate "fast" is not like 2000/s');
    expect(shard.stderr).toContain("field shard");
    expect(phase.stderr).toMatch(/field phases\.0/);
  }, 60_000);
});
