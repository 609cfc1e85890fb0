import { describe, expect, it } from "vitest";
import type { Pod } from "./pod-spec.js";
import { podPhase, podStatus, qosClass, type ObservedContainer, type StatusInputs } from "./pod-status.js";
import { RestartBackoff, shouldRestart } from "./restart-backoff.js";

const pod = (spec: Record<string, unknown> = {}): Pod =>
  ({
    metadata: { name: "web", namespace: "apps", uid: "u1" },
    spec: { containers: [{ name: "app", image: "busybox" }], ...spec },
  }) as Pod;

const container = (over: Partial<ObservedContainer> = {}): ObservedContainer => ({
  name: "app",
  id: "c1",
  attempt: 0,
  state: "running",
  createdAt: 1_000,
  startedAt: 2_000,
  finishedAt: 0,
  exitCode: 0,
  reason: "",
  message: "",
  image: "busybox",
  imageRef: "sha256:abc",
  ...over,
});

const inputs = (p: Pod, latest: ObservedContainer[], over: Partial<StatusInputs> = {}): StatusInputs => ({
  pod: p,
  sandbox: { id: "s1", ready: true, ip: "10.88.0.4", createdAt: 500 },
  latest: new Map(latest.map((c) => [c.name, c])),
  previous: new Map(),
  waiting: new Map(),
  ready: new Map(),
  hostIP: "10.0.0.1",
  startTime: "2026-11-23T00:00:00Z",
  now: "2026-11-23T00:00:05Z",
  ...over,
});

describe("podStatus", () => {
  it("reports a running container Running and Ready with the sandbox IP and containerID", () => {
    const status = podStatus(inputs(pod(), [container()]));
    expect(status).toMatchObject({
      phase: "Running",
      podIP: "10.88.0.4",
      hostIP: "10.0.0.1",
      qosClass: "BestEffort",
      containerStatuses: [
        {
          name: "app",
          ready: true,
          restartCount: 0,
          containerID: "containerd://c1",
          state: { running: { startedAt: "1970-01-01T00:00:02Z" } },
        },
      ],
    });
    const conditions = status["conditions"] as { type: string; status: string }[];
    expect(conditions.find((c) => c.type === "Ready")?.status).toBe("True");
  });

  it("shows a restarted container's previous run as lastState and its attempt as restartCount", () => {
    const previous = container({ id: "c0", state: "exited", exitCode: 137, finishedAt: 3_000 });
    const status = podStatus(
      inputs(pod(), [container({ id: "c2", attempt: 1 })], { previous: new Map([["app", previous]]) }),
    );
    expect(status["containerStatuses"]).toMatchObject([
      {
        restartCount: 1,
        lastState: { terminated: { exitCode: 137, reason: "Error", containerID: "containerd://c0" } },
      },
    ]);
  });

  it("shows CrashLoopBackOff as waiting, with the crashed run as lastState, and the pod not Ready", () => {
    const crashed = container({ state: "exited", exitCode: 1, finishedAt: 4_000, attempt: 2 });
    const status = podStatus(
      inputs(pod(), [crashed], {
        waiting: new Map([["app", { reason: "CrashLoopBackOff", message: "back-off 20s" }]]),
      }),
    );
    expect(status).toMatchObject({
      phase: "Running",
      containerStatuses: [
        {
          ready: false,
          restartCount: 2,
          state: { waiting: { reason: "CrashLoopBackOff" } },
          lastState: { terminated: { exitCode: 1 } },
        },
      ],
    });
  });

  it("keeps a condition's transition time while its status holds", () => {
    const first = podStatus(inputs(pod(), [container()]));
    const again = podStatus(
      inputs(pod(), [container()], {
        previousConditions: first["conditions"] as never,
        now: "2026-11-23T01:00:00Z",
      }),
    );
    expect(again["conditions"]).toEqual(first["conditions"]);
  });

  it("uses the node's IP for a host-network pod", () => {
    const status = podStatus(
      inputs(pod({ hostNetwork: true }), [container()], {
        sandbox: { id: "s", ready: true, ip: "", createdAt: 0 },
      }),
    );
    expect(status["podIP"]).toBe("10.0.0.1");
  });
});

describe("podPhase", () => {
  const exited = (exitCode: number): ObservedContainer =>
    container({ state: "exited", exitCode, finishedAt: 9_000 });
  const phase = (policy: string, latest: ObservedContainer[]): string =>
    podPhase(
      pod({ restartPolicy: policy }),
      { latest: new Map(latest.map((c) => [c.name, c])), waiting: new Map() },
      true,
    );

  it("follows the kubelet's rules for exited containers per restartPolicy", () => {
    expect(phase("Always", [exited(0)])).toBe("Running");
    expect(phase("OnFailure", [exited(0)])).toBe("Succeeded");
    expect(phase("OnFailure", [exited(2)])).toBe("Running");
    expect(phase("Never", [exited(2)])).toBe("Failed");
    expect(phase("Never", [exited(0)])).toBe("Succeeded");
    expect(phase("Always", [])).toBe("Pending");
  });

  it("is Pending until init containers have succeeded", () => {
    const p = pod({ initContainers: [{ name: "init", image: "busybox" }] });
    expect(podPhase(p, { latest: new Map(), waiting: new Map() }, false)).toBe("Pending");
  });
});

describe("qosClass", () => {
  it("classifies Guaranteed, Burstable and BestEffort", () => {
    const withResources = (resources: unknown): Pod =>
      pod({ containers: [{ name: "a", image: "i", resources }] });
    expect(qosClass(withResources({ limits: { cpu: "1", memory: "1Gi" } }))).toBe("Guaranteed");
    expect(qosClass(withResources({ requests: { cpu: "100m" } }))).toBe("Burstable");
    expect(qosClass(pod())).toBe("BestEffort");
  });
});

describe("restart policy and back-off", () => {
  const exit = (exitCode: number, finishedAt: number, startedAt = finishedAt - 1000): ObservedContainer =>
    container({ state: "exited", exitCode, startedAt, finishedAt });

  it("restarts per restartPolicy", () => {
    expect(shouldRestart("Always", exit(0, 1))).toBe(true);
    expect(shouldRestart("OnFailure", exit(0, 1))).toBe(false);
    expect(shouldRestart("OnFailure", exit(1, 1))).toBe(true);
    expect(shouldRestart("Never", exit(1, 1))).toBe(false);
  });

  it("restarts at once the first time, then waits 10 s, 20 s… after each exit", () => {
    const b = new RestartBackoff();
    expect(b.decide("u1/app", exit(1, 100_000), 100_001, "app").action).toBe("restart");
    const second = b.decide("u1/app", exit(1, 105_000), 105_001, "app");
    expect(second).toMatchObject({ action: "wait", untilMs: 115_000 });
    expect(b.decide("u1/app", exit(1, 105_000), 115_000, "app").action).toBe("restart");
    expect(b.decide("u1/app", exit(1, 120_000), 125_000, "app")).toMatchObject({
      action: "wait",
      untilMs: 140_000,
    });
  });

  it("starts over after a run longer than ten minutes", () => {
    const b = new RestartBackoff();
    b.decide("k", exit(1, 10_000), 10_000, "app");
    expect(b.decide("k", exit(1, 1_000_000, 100_000), 1_000_001, "app").action).toBe("restart");
  });
});
