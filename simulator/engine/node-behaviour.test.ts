import { describe, expect, it } from "vitest";
import {
  containerCreatingStatus,
  KUBEEDGE_BEHAVIOUR,
  nodeAddress,
  podAddress,
  runningStatus,
  startupDelay,
  stopDelay,
} from "./node-behaviour.js";

const pod = {
  metadata: { name: "p", namespace: "n", uid: "0b3c5d2e-1111-2222-3333-444455556666" },
  spec: {
    containers: [
      { name: "app", image: "busybox" },
      { name: "side", image: "busybox" },
    ],
  },
};

describe("emulated pod lifecycle", () => {
  it("reports ContainerCreating first, then Running and Ready with every container running", () => {
    const creating = containerCreatingStatus(pod, "172.16.0.1") as Record<string, unknown>;
    expect(creating["phase"]).toBe("Pending");
    expect(JSON.stringify(creating)).toContain('"reason":"ContainerCreating"');
    const running = runningStatus(pod, "172.16.0.1", "10.0.0.2", new Date(0)) as {
      phase: string;
      podIP: string;
      conditions: { type: string; status: string }[];
      containerStatuses: { name: string; ready: boolean; state: { running?: unknown } }[];
    };
    expect(running.phase).toBe("Running");
    expect(running.podIP).toBe("10.0.0.2");
    expect(running.conditions.find((c) => c.type === "Ready")?.status).toBe("True");
    expect(running.containerStatuses.map((c) => [c.name, c.ready, c.state.running !== undefined])).toEqual([
      ["app", true, true],
      ["side", true, true],
    ]);
  });

  it("draws startup delays inside the configured range and caps the stop time by the grace period", () => {
    const b = { ...KUBEEDGE_BEHAVIOUR, podStartupMs: { min: 100, max: 200 }, podStopMs: 5000 };
    expect(startupDelay(b, () => 0)).toBe(100);
    expect(startupDelay(b, () => 0.999999)).toBe(200);
    expect(stopDelay({ metadata: { deletionGracePeriodSeconds: 2 } }, b)).toBe(2000);
    expect(stopDelay({}, b)).toBe(5000);
  });

  it("gives distinct addresses to distinct nodes and pods", () => {
    const nodes = new Set(Array.from({ length: 100_000 }, (_, i) => nodeAddress(i)));
    expect(nodes.size).toBe(100_000);
    const pods = new Set<string>();
    for (let n = 0; n < 2000; n++) for (let p = 0; p < 5; p++) pods.add(podAddress(n, p));
    expect(pods.size).toBe(10_000);
  });
});
