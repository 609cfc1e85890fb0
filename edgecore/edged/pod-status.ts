import type { Pod } from "./pod-spec.js";

/** One container instance as the runtime reports it (one per restart attempt). */
export interface ObservedContainer {
  readonly name: string;
  readonly id: string;
  /** 0 for the first start, then one more per restart: the restart count. */
  readonly attempt: number;
  readonly state: "created" | "running" | "exited" | "unknown";
  /** Milliseconds since the epoch; 0 when not reached. */
  readonly createdAt: number;
  readonly startedAt: number;
  readonly finishedAt: number;
  readonly exitCode: number;
  readonly reason: string;
  readonly message: string;
  readonly image: string;
  readonly imageRef: string;
}

export interface ObservedSandbox {
  readonly id: string;
  readonly ready: boolean;
  readonly ip: string;
  readonly createdAt: number;
}

export interface Waiting {
  readonly reason: string;
  readonly message: string;
}

export interface StatusInputs {
  readonly pod: Pod;
  readonly sandbox: ObservedSandbox | undefined;
  /** The latest instance of each container, by name (init containers included). */
  readonly latest: ReadonlyMap<string, ObservedContainer>;
  /** The instance before the latest, by name, for lastState. */
  readonly previous: ReadonlyMap<string, ObservedContainer>;
  /** Why a container is not running when edged knows better than the runtime (back-off, config error). */
  readonly waiting: ReadonlyMap<string, Waiting>;
  /** Readiness probe results; a container without a probe is ready when running. */
  readonly ready: ReadonlyMap<string, boolean>;
  readonly hostIP: string;
  readonly startTime: string;
  /** Kept from the last status: a condition's transition time only moves when its status does. */
  readonly previousConditions?: readonly PodCondition[];
  readonly now: string;
}

export interface PodCondition {
  type: string;
  status: "True" | "False";
  lastProbeTime: null;
  lastTransitionTime: string;
  reason?: string;
}

const time = (ms: number): string => new Date(ms).toISOString().replace(/\.\d{3}Z$/, "Z");

function containerState(
  c: ObservedContainer | undefined,
  waiting: Waiting | undefined,
): Record<string, unknown> {
  if (c?.state === "running" && !waiting) return { running: { startedAt: time(c.startedAt) } };
  if (c?.state === "exited" && !waiting)
    return {
      terminated: {
        exitCode: c.exitCode,
        reason: c.reason || (c.exitCode === 0 ? "Completed" : "Error"),
        ...(c.message && { message: c.message }),
        startedAt: time(c.startedAt),
        finishedAt: time(c.finishedAt),
        containerID: `containerd://${c.id}`,
      },
    };
  return {
    waiting: {
      reason: waiting?.reason ?? "ContainerCreating",
      ...(waiting?.message && { message: waiting.message }),
    },
  };
}

function lastState(c: ObservedContainer | undefined): Record<string, unknown> {
  if (c?.state !== "exited") return {};
  return {
    terminated: {
      exitCode: c.exitCode,
      reason: c.reason || (c.exitCode === 0 ? "Completed" : "Error"),
      startedAt: time(c.startedAt),
      finishedAt: time(c.finishedAt),
      containerID: `containerd://${c.id}`,
    },
  };
}

/**
 * The pod's status as the kubelet reports it, from what the runtime shows: phase by the
 * kubelet's rules (getPhase), the standard conditions, and one status per container with state,
 * lastState, restartCount, image and containerID.
 */
export function podStatus(input: StatusInputs): Record<string, unknown> {
  const { pod } = input;
  const statusOf = (name: string, image: string, probe: boolean): Record<string, unknown> => {
    const latest = input.latest.get(name);
    const waiting = input.waiting.get(name);
    const state = containerState(latest, waiting);
    const running = "running" in state;
    const ready = running && (probe ? (input.ready.get(name) ?? false) : true);
    // After a crash, the previous run is the lastState; while waiting to restart, the latest is.
    const last = waiting && latest?.state === "exited" ? latest : input.previous.get(name);
    return {
      name,
      state,
      lastState: lastState(last),
      ready,
      restartCount: latest?.attempt ?? 0,
      image,
      imageID: latest?.imageRef ?? "",
      ...(latest && { containerID: `containerd://${latest.id}` }),
      started: running,
    };
  };
  const init = (pod.spec.initContainers ?? []).map((c) => statusOf(c.name, c.image, false));
  const containers = pod.spec.containers.map((c) =>
    statusOf(c.name, c.image, c.readinessProbe !== undefined),
  );
  const initDone = (pod.spec.initContainers ?? []).every((c) => {
    const latest = input.latest.get(c.name);
    return latest?.state === "exited" && latest.exitCode === 0;
  });
  const phase = podPhase(pod, input, initDone);
  const allReady = containers.every((c) => c["ready"] === true);
  const terminal = phase === "Succeeded" || phase === "Failed";
  const conditions = conditionsWithTimes(
    [
      { type: "PodReadyToStartContainers", status: input.sandbox?.ready === true },
      { type: "Initialized", status: initDone },
      { type: "Ready", status: allReady && !terminal, reason: allReady ? undefined : "ContainersNotReady" },
      {
        type: "ContainersReady",
        status: allReady && !terminal,
        reason: allReady ? undefined : "ContainersNotReady",
      },
      { type: "PodScheduled", status: true },
    ],
    input.previousConditions ?? [],
    input.now,
  );
  const podIP = input.sandbox?.ip || (pod.spec.hostNetwork ? input.hostIP : "");
  return {
    phase,
    conditions,
    hostIP: input.hostIP,
    hostIPs: [{ ip: input.hostIP }],
    ...(podIP && { podIP, podIPs: [{ ip: podIP }] }),
    startTime: input.startTime,
    ...(init.length > 0 && { initContainerStatuses: init }),
    containerStatuses: containers,
    qosClass: qosClass(pod),
  };
}

/** The kubelet's getPhase. */
export function podPhase(
  pod: Pod,
  input: Pick<StatusInputs, "latest" | "waiting">,
  initDone: boolean,
): string {
  const policy = pod.spec.restartPolicy ?? "Always";
  if (!initDone) {
    const failedInit = (pod.spec.initContainers ?? []).some((c) => {
      const latest = input.latest.get(c.name);
      return latest?.state === "exited" && latest.exitCode !== 0;
    });
    return failedInit && policy === "Never" ? "Failed" : "Pending";
  }
  let running = 0;
  let waiting = 0;
  let stopped = 0;
  let succeeded = 0;
  for (const c of pod.spec.containers) {
    const latest = input.latest.get(c.name);
    const held = input.waiting.get(c.name);
    if (latest?.state === "running" && !held) running++;
    else if (latest?.state === "exited") {
      stopped++;
      if (latest.exitCode === 0) succeeded++;
    } else waiting++;
  }
  if (waiting > 0) return "Pending";
  if (running > 0) return "Running";
  if (stopped > 0) {
    if (policy === "Always") return "Running";
    if (stopped === succeeded) return "Succeeded";
    return policy === "Never" ? "Failed" : "Running";
  }
  return "Pending";
}

function conditionsWithTimes(
  wanted: { type: string; status: boolean; reason?: string | undefined }[],
  previous: readonly PodCondition[],
  now: string,
): PodCondition[] {
  return wanted.map(({ type, status, reason }) => {
    const value = status ? "True" : "False";
    const before = previous.find((p) => p.type === type);
    return {
      type,
      status: value,
      lastProbeTime: null,
      lastTransitionTime: before?.status === value ? before.lastTransitionTime : now,
      ...(reason !== undefined && !status && { reason }),
    };
  });
}

/** Guaranteed, Burstable or BestEffort, from requests and limits (the kubelet's GetPodQOS, simplified to cpu and memory). */
export function qosClass(pod: Pod): string {
  const containers = [...pod.spec.containers, ...(pod.spec.initContainers ?? [])];
  let any = false;
  let guaranteed = true;
  for (const c of containers) {
    for (const resource of ["cpu", "memory"]) {
      const limit = c.resources?.limits?.[resource];
      const request = c.resources?.requests?.[resource] ?? limit;
      if (limit !== undefined || request !== undefined) any = true;
      if (limit === undefined || String(request) !== String(limit)) guaranteed = false;
    }
  }
  if (!any) return "BestEffort";
  return guaranteed ? "Guaranteed" : "Burstable";
}
