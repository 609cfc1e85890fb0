import { spawn } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { KUBECTL, runWith } from "../../test/kubectl.js";
import { until } from "../../test/until.js";
import type { MainJobReport } from "./main-job-report.js";

/**
 * The README's first command, small: `npm start`'s script with 20 simulated nodes and --keep, so
 * that the test can hold the summary and the report against the apiserver while everything is
 * still up, then stop it with Ctrl-C as a user would.
 */
describe("the main job (npm start)", () => {
  const work = mkdtempSync(join(tmpdir(), "edgefleet-main-job-test-"));
  const stateDir = join(work, "state");
  const reportDir = join(work, "report");
  afterAll(() => rmSync(work, { recursive: true, force: true }));

  it("brings up HA cloudcore, runs a real edge pod and a simulated fleet through a failover; its summary and report are what the apiserver says; Ctrl-C stops everything", async () => {
    const child = spawn(
      process.execPath,
      [
        ...["--import", "tsx", join(process.cwd(), "scripts", "demo.ts")],
        ...["--nodes", "20", "--pods-per-node", "2", "--duration", "6s", "--replicas", "2"],
        ...["--keep", "--state-dir", stateDir, "--report-dir", reportDir],
      ],
      { stdio: ["ignore", "pipe", "pipe"] },
    );
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (d: Buffer) => (stdout += d.toString("utf8")));
    child.stderr.on("data", (d: Buffer) => (stderr += d.toString("utf8")));
    const exited = new Promise<number | null>((resolve) => child.once("close", (code) => resolve(code)));
    try {
      await until(
        "the main job to finish its run and keep everything up",
        () =>
          stdout.includes("stop: Ctrl-C stops everything the main job started") || child.exitCode !== null,
        240_000,
      );
      expect(child.exitCode, `stdout:\n${stdout}\nstderr:\n${stderr.slice(-4000)}`).toBeNull();

      // The report on disk, and the summary printed from it.
      const report = JSON.parse(readFileSync(join(reportDir, "main-job.json"), "utf8")) as MainJobReport;
      expect(report.schema).toBe("edgefleet.io/main-job-report/v1");
      expect(readFileSync(join(reportDir, "main-job.md"), "utf8")).toContain("## Failover");
      expect(existsSync(join(reportDir, "simulator.json"))).toBe(true);
      expect(
        report.checks.every((c) => c.ok),
        JSON.stringify(report.checks),
      ).toBe(true);
      expect(stdout).toContain(
        `${report.apiserver.nodesReady}/${report.apiserver.nodes} nodes Ready, ${report.apiserver.podsRunning}/${report.apiserver.pods} pods Running`,
      );
      expect(stdout).toContain(`report: ${join(reportDir, "main-job.json")}`);
      expect(report.apiserver).toEqual({ nodes: 21, nodesReady: 21, pods: 40, podsRunning: 40 });
      expect(report.failover.orphans).toBeGreaterThan(0);
      expect(report.failover.recoveredSeconds).toBeGreaterThan(0);
      expect(report.edge.ownerAfter).not.toBe(report.failover.killed);
      expect(report.edge.logsBefore[0]).toMatch(/^hello from hello-edge-.*edge-real-0$/);
      expect(report.edge.logsAfter.at(-1)).toMatch(/^tick \d+$/);
      expect(report.fleet.podStartupMs.count).toBe(40);
      expect(report.fleet.podStartupMs.p99).toBeGreaterThanOrEqual(report.fleet.podStartupMs.p50);

      // The apiserver, through the kubeconfig the job printed, says the same.
      const kubeconfig = /export KUBECONFIG=(\S+)/.exec(stdout)?.[1] ?? "";
      expect(existsSync(kubeconfig)).toBe(true);
      const kubectl = async (args: string[]): Promise<string> => {
        const r = await runWith(kubeconfig, KUBECTL, args);
        expect(r.code, r.stderr).toBe(0);
        return r.stdout;
      };
      const nodes = (await kubectl(["get", "nodes", "-l", "edgefleet.io/main-job", "-o", "name"])).trim();
      expect(nodes.split("\n")).toHaveLength(report.apiserver.nodes);
      const running = await kubectl([
        ...["get", "pods", "-n", "edgefleet-sim", "--field-selector=status.phase=Running"],
        ...["-o", "name"],
      ]);
      expect(running.trim().split("\n")).toHaveLength(report.apiserver.podsRunning);
      const edgePod = await kubectl([
        "get",
        "pod",
        "-n",
        "edgefleet-demo",
        report.edge.pod,
        "-o",
        "jsonpath={.status.phase} {.spec.nodeName}",
      ]);
      expect(edgePod).toBe("Running edge-real-0");
      // Who owns the real node now is who the report says took it over.
      expect(report.failover.ownersAfter[report.edge.ownerAfter]).toBeGreaterThan(0);

      // What it printed to look around with is on 127.0.0.1 and answers: each live replica's
      // /metrics, and the Prometheus dashboard page whose every graph has data.
      const keptPart = stdout.slice(stdout.lastIndexOf("look around"));
      expect(keptPart).toContain(`${KUBECTL} get nodes`);
      const metricsUrls = [
        ...keptPart.matchAll(/(cloudcore-\d+) metrics: (http:\/\/127\.0\.0\.1:\d+\/metrics)/g),
      ];
      expect(metricsUrls.map((m) => m[1])).toEqual(["cloudcore-0", "cloudcore-1"]);
      for (const [, id, url] of metricsUrls.filter((m) => m[1] !== report.failover.killed)) {
        const body = await (await fetch(url ?? "")).text();
        expect(body, `${id} ${url}`).toMatch(/^edgefleet_connected_nodes \d+/m);
      }
      const dashboard = /^ {4}(http:\/\/127\.0\.0\.1:\d+)\/graph\?(\S+)$/m.exec(keptPart);
      expect(dashboard, keptPart).not.toBeNull();
      const [, prometheus = "", query = ""] = dashboard ?? [];
      expect((await fetch(`${prometheus}/graph?${query}`)).status).toBe(200);
      const exprs = [...new URLSearchParams(query)].filter(([k]) => /^g\d+\.expr$/.test(k)).map(([, v]) => v);
      expect(exprs.length).toBeGreaterThanOrEqual(4);
      for (const expr of exprs) {
        const answer = (await (
          await fetch(`${prometheus}/api/v1/query?query=${encodeURIComponent(expr)}`)
        ).json()) as { status: string; data: { result: unknown[] } };
        expect(answer.status, expr).toBe("success");
        expect(answer.data.result.length, expr).toBeGreaterThan(0);
      }
    } finally {
      // A terminal's Ctrl-C reaches npm, tsx and the job at once and tsx relays it: two SIGINTs
      // close together are one Ctrl-C, not "quit at once" (which leaves the namespace behind).
      child.kill("SIGINT");
      setTimeout(() => child.kill("SIGINT"), 100);
      const code = await exited;
      expect(code, stdout.slice(-2000)).toBe(0);
    }
    expect(stdout).toMatch(/stopped \(.* in all\)/);
    // Nothing it started is left: no process holds its state directory, no network namespace.
    const left = await runWith("", "pgrep", ["-f", stateDir]);
    expect(left.stdout).toBe("");
    const netns = /stream-apiserver\/apiserver-([0-9a-f]+)\//.exec(stdout)?.[1] ?? "";
    expect(netns).not.toBe("");
    expect((await runWith("", "ip", ["netns", "list"])).stdout).not.toContain(`efapi-${netns}`);
  }, 300_000);
});
