import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { markdownOf, summaryRows, writeMainJobReport, type MainJobReport } from "./main-job-report.js";

const report: MainJobReport = {
  schema: "edgefleet.io/main-job-report/v1",
  startedAt: "2026-12-06T00:00:00.000Z",
  endedAt: "2026-12-06T00:05:00.000Z",
  durationSeconds: 300,
  settings: { replicas: 3, nodes: 1000, podsPerNode: 5, holdSeconds: 30 },
  edge: {
    node: "edge-real-0",
    pod: "hello-edge-abc",
    podRunningSeconds: 1.1,
    logsBefore: ["hello from hello-edge-abc, a pod on edge node edge-real-0", "tick 1"],
    logsAfter: ["tick 160"],
    ownerBefore: "cloudcore-0",
    ownerAfter: "cloudcore-2",
  },
  fleet: {
    joinRatePerSecond: 14.2,
    allReadySeconds: 74.2,
    podStartupMs: { p50: 2800, p99: 9100, count: 5000 },
    messagesPerSecond: 222,
    errors: 0,
  },
  failover: {
    killed: "cloudcore-0",
    orphans: 334,
    ownersBefore: { "cloudcore-0": 334, "cloudcore-1": 333, "cloudcore-2": 334 },
    ownersAfter: { "cloudcore-1": 500, "cloudcore-2": 501 },
    reownedSeconds: 5.4,
    recoveredSeconds: 6.2,
  },
  memory: {
    cloudcorePerNodeBytes: 370 * 1024,
    cloudcoreRssBytes: 900 * 2 ** 20,
    simulatorPerNodeBytes: 163 * 1024,
  },
  apiserver: { nodes: 1001, nodesReady: 1001, pods: 5000, podsRunning: 5000 },
  checks: [
    { name: "no pod lost", ok: true, detail: "5000/5000 simulated pods Running" },
    { name: "no fleet errors", ok: false, detail: "3 join errors" },
  ],
  simulatorReport: "reports/x/simulator.json",
};

describe("the main job's summary and report", () => {
  it("summarises the figures a reader looks for, with their units", () => {
    const rows = Object.fromEntries(summaryRows(report));
    expect(rows["replicas / nodes / pods"]).toBe("3 / 1001 / 5001");
    expect(rows["join rate"]).toBe("14 nodes/s (all Ready in 74.2 s)");
    expect(rows["pod startup (created → Running)"]).toBe("p50 2800 ms, p99 9100 ms");
    expect(rows["failover"]).toBe(
      "cloudcore-0 killed: 334 nodes re-owned in 5.4 s, all tunnels back in 6.2 s",
    );
    expect(rows["memory per node"]).toBe("cloudcore 370 KiB, simulator 163 KiB");
    expect(rows["checks"]).toBe("1/2 passed");
  });

  it("writes JSON that reads back as the report, and Markdown naming the killed replica and a failed check", () => {
    const dir = mkdtempSync(join(tmpdir(), "main-job-report-"));
    try {
      const files = writeMainJobReport(report, dir);
      expect(JSON.parse(readFileSync(files.json, "utf8"))).toEqual(report);
      const md = readFileSync(files.markdown, "utf8");
      expect(md).toBe(markdownOf(report));
      expect(md).toContain("| cloudcore-0 (killed) | 334 | 0 |");
      expect(md).toContain("| cloudcore-2 | 334 | 501 |");
      expect(md).toContain("| no fleet errors | FAILED | 3 join errors |");
      expect(md).toContain("tick 160");
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
