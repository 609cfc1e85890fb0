import { describe, expect, it } from "vitest";
import { behaviourOf, certificateServerOf, loadRunConfig, phasesOf, shardRange } from "./config.js";

const base = { cloudcore: "10.0.0.5:10000", token: "t" };

describe("simulator run config", () => {
  it("applies KubeEdge's heartbeat defaults and reads rates, ranges and durations", () => {
    const c = loadRunConfig(undefined, { ...base, ramp: "2000/s", podQps: "120/m", podStartup: "500ms-2s" });
    expect(c.ramp).toBe(2000);
    expect(c.podQps).toBe(2);
    const b = behaviourOf(c);
    expect(b).toMatchObject({
      leaseIntervalMs: 10_000,
      leaseDurationSeconds: 40,
      statusReportIntervalMs: 300_000,
    });
    expect(b.podStartupMs).toEqual({ min: 500, max: 2000 });
    expect(certificateServerOf(c)).toBe("10.0.0.5:10002");
  });

  it("splits the nodes of a sharded run into disjoint ranges that cover them all", () => {
    const ranges = [0, 1, 2].map((i) =>
      shardRange(loadRunConfig(undefined, { ...base, nodes: 10, shard: `${i}/3` })),
    );
    expect(ranges).toEqual([
      { firstIndex: 0, count: 4 },
      { firstIndex: 4, count: 4 },
      { firstIndex: 8, count: 2 },
    ]);
  });

  it("turns scenario phases into steps, and a bare duration into one steady phase", () => {
    const c = loadRunConfig(undefined, {
      ...base,
      phases: [{ steady: "1m" }, { chaos: { fraction: "10%", down: "5s" } }, { churn: { fraction: 0.2 } }],
    });
    expect(phasesOf(c)).toEqual([
      { type: "steady", durationMs: 60_000 },
      { type: "chaos", fraction: 0.1, downMs: 5000 },
      { type: "churn", fraction: 0.2 },
    ]);
    expect(phasesOf(loadRunConfig(undefined, { ...base, duration: "10m" }))).toEqual([
      { type: "steady", durationMs: 600_000 },
    ]);
  });

  it("reads the scenario checked into docs/", () => {
    const c = loadRunConfig("docs/scenarios/laptop.yaml", {
      cloudcore: "127.0.0.1:10000",
      token: "t",
      kubeconfig: "k",
    });
    expect(c.nodes).toBe(1000);
    expect(phasesOf(c).map((p) => p.type)).toEqual(["steady", "chaos", "churn", "steady"]);
  });

  it("names the field of a bad value", () => {
    const bad: [Record<string, unknown>, string][] = [
      [{ ...base, ramp: "fast" }, "field ramp"],
      [{ ...base, shard: "2/2" }, "field shard"],
      [{ ...base, podStartup: "3s-1s" }, "field podStartup"],
      [{ ...base, sourceAddress: "10.0.0.1" }, "field sourceAddress"],
      [{ ...base, podsPerNode: 5 }, "field kubeconfig"],
      [{ ...base, nodes: 0 }, "field nodes"],
      [{ ...base, bogus: 1 }, "(config)"],
      [{ ...base, phases: [{ chaos: { fraction: 2, down: "1s" } }] }, "field phases.0"],
    ];
    for (const [flags, field] of bad) expect(() => loadRunConfig(undefined, flags), field).toThrow(field);
  });
});
