import { describe, expect, it } from "vitest";
import { sampleReport, scaleReport } from "../report/sample-report.js";
import { compareReports, DEFAULT_THRESHOLDS, regressions, type ComparisonRow } from "./compare.js";

const find = (rows: readonly ComparisonRow[], metric: string): ComparisonRow => {
  const row = rows.find((r) => r.metric === metric);
  if (!row) throw new Error(`no row ${metric} in ${rows.map((r) => r.metric).join(", ")}`);
  return row;
};

describe("compareReports", () => {
  const baseline = sampleReport();

  it("an identical pair has no regressions, every ratio 1", () => {
    const rows = compareReports(baseline, sampleReport());
    expect(rows.length).toBeGreaterThan(20);
    expect(regressions(rows)).toEqual([]);
    for (const r of rows) expect(r.status).toBe("ok");
    for (const r of rows.filter((r) => r.kind !== "errors")) expect(r.ratio).toBe(1);
  });

  it("every latency doubled is flagged, and the rows name the metrics", () => {
    const rows = compareReports(baseline, scaleReport(baseline, { latency: 2 }));
    const flagged = regressions(rows).map((r) => r.metric);
    expect(flagged).toEqual(
      expect.arrayContaining([
        "phase ramp: join p50",
        "phase ramp: join p99",
        "phase pods: podStartup p99",
        "phase steady: rtt p99",
        "phase chaos: reconnect p50",
        "http ca-certificate: p50",
        "http ca-certificate: p99",
        "http readyz: p99",
      ]),
    );
    for (const r of regressions(rows)) {
      expect(r.kind).toBe("latency");
      expect(r.ratio).toBeCloseTo(2);
      expect(r.limit).toBe(1.2);
    }
    expect(find(rows, "phase steady: rtt p99")).toMatchObject({ baseline: 3.8, candidate: 7.6, unit: "ms" });
  });

  it("latencies below 1 ms in both reports are noise, not a regression", () => {
    const rows = compareReports(baseline, scaleReport(baseline, { latency: 1.6 }));
    // steady rtt p50: 0.6 → 0.96 ms, 1.6× but under the floor in both.
    expect(find(rows, "phase steady: rtt p50")).toMatchObject({
      regression: false,
      status: "below-noise-floor",
    });
    // chaos rtt p50: 0.7 → 1.12 ms crosses the floor, so it counts.
    expect(find(rows, "phase chaos: rtt p50")).toMatchObject({ regression: true, status: "regression" });
  });

  it("throughput halved is flagged; 10% less passes the 0.8 default", () => {
    const halved = compareReports(baseline, scaleReport(baseline, { throughput: 0.5 }));
    expect(regressions(halved).map((r) => r.metric)).toEqual([
      "phase ramp: msg/s",
      "phase pods: msg/s",
      "phase steady: msg/s",
      "phase chaos: msg/s",
      "http ca-certificate: req/s",
      "http readyz: req/s",
    ]);
    expect(find(halved, "http readyz: req/s")).toMatchObject({ ratio: 0.5, limit: 0.8, kind: "throughput" });
    expect(regressions(compareReports(baseline, scaleReport(baseline, { throughput: 0.9 })))).toEqual([]);
  });

  it("memory per node above the limit is flagged for cloudcore and the simulator", () => {
    const rows = compareReports(baseline, scaleReport(baseline, { memory: 1.5 }));
    expect(regressions(rows).map((r) => r.metric)).toEqual([
      "memory: cloudcore per node",
      "memory: simulator per node",
    ]);
    expect(
      regressions(compareReports(baseline, scaleReport(baseline, { memory: 1.5 }), { memory: 1.6 })),
    ).toEqual([]);
  });

  it("more errors than the baseline plus the allowance regress", () => {
    const candidate = sampleReport();
    const chaos = candidate.phases[3];
    const readyz = candidate.http[1];
    if (!chaos || !readyz) throw new Error("sample report changed");
    chaos.errors = 5; // baseline 3
    readyz.non2xx = 3; // baseline 2
    const strict = compareReports(baseline, candidate);
    expect(regressions(strict).map((r) => r.metric)).toEqual(["phase chaos: errors", "http readyz: non-2xx"]);
    expect(find(strict, "phase chaos: errors")).toMatchObject({ baseline: 3, candidate: 5, limit: 3 });
    const lenient = compareReports(baseline, candidate, { errors: 2 });
    expect(regressions(lenient)).toEqual([]);
  });

  it("metrics in only one report are listed, not flagged", () => {
    const [first, readyz] = baseline.http;
    if (!first || !readyz) throw new Error("sample report changed");
    const candidate = sampleReport({ http: [first, { ...readyz, name: "healthz" }] });
    const rows = compareReports(baseline, candidate);
    expect(find(rows, "http readyz: p99")).toMatchObject({
      status: "only-in-baseline",
      baseline: 3.2,
      candidate: null,
      ratio: null,
      regression: false,
    });
    expect(find(rows, "http healthz: p99")).toMatchObject({
      status: "only-in-candidate",
      baseline: null,
      candidate: 3.2,
      regression: false,
    });
    expect(regressions(rows)).toEqual([]);
  });

  it("a phase latency without samples is not compared", () => {
    const candidate = structuredClone(baseline);
    const rtt = candidate.phases[2]?.latencies["rtt"];
    if (!rtt) throw new Error("sample report changed");
    Object.assign(rtt, { count: 0, p50: 0, p90: 0, p99: 0, max: 0 });
    expect(find(compareReports(baseline, candidate), "phase steady: rtt p99").status).toBe(
      "only-in-baseline",
    );
  });

  it("a phase name used twice is matched by occurrence", () => {
    const steady = baseline.phases[2];
    if (!steady) throw new Error("sample report changed");
    const twice = sampleReport({ phases: [...baseline.phases, { ...steady, messagesPerSecond: 500 }] });
    const rows = compareReports(twice, scaleReport(twice, { throughput: 0.5 }));
    expect(find(rows, "phase steady#2: msg/s")).toMatchObject({
      baseline: 500,
      candidate: 250,
      regression: true,
    });
  });

  it("defaults are latency 1.2, throughput 0.8, memory 1.2, errors 0", () => {
    expect(DEFAULT_THRESHOLDS).toEqual({ latency: 1.2, throughput: 0.8, memory: 1.2, errors: 0 });
  });
});
