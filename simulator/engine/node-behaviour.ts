/**
 * How an emulated node behaves: its heartbeat intervals (KubeEdge's edged defaults) and the
 * emulated pod lifecycle. Pure functions, so the statuses an emulated node reports can be tested
 * without a tunnel.
 */
import { kubeTime } from "../../edgecore/upstream/requests.js";

export interface NodeBehaviour {
  /** Lease renewal; the kubelet renews every leaseDuration / 4 (KubeEdge: 40 s → 10 s). */
  readonly leaseIntervalMs: number;
  readonly leaseDurationSeconds: number;
  /** Unchanged node status is reported this often (KubeEdge's nodeStatusReportFrequency: 5 m). */
  readonly statusReportIntervalMs: number;
  /** ContainerCreating → Running takes a uniform random time in this range. */
  readonly podStartupMs: { readonly min: number; readonly max: number };
  /** Stopping a deleted pod's containers takes this long (capped by its grace period). */
  readonly podStopMs: number;
  /** Each node measures its tunnel round trip this often; 0 = never. */
  readonly rttIntervalMs: number;
  /** edgehub keepalive (KubeEdge: 15 s). */
  readonly keepaliveIntervalMs: number;
}

export const KUBEEDGE_BEHAVIOUR: NodeBehaviour = {
  leaseIntervalMs: 10_000,
  leaseDurationSeconds: 40,
  statusReportIntervalMs: 300_000,
  podStartupMs: { min: 1000, max: 3000 },
  podStopMs: 500,
  rttIntervalMs: 30_000,
  keepaliveIntervalMs: 15_000,
};

/** The part of a pod the emulation reads. */
export interface PodSpecView {
  readonly metadata?: {
    readonly name?: string;
    readonly namespace?: string;
    readonly uid?: string;
    readonly deletionTimestamp?: string;
    readonly deletionGracePeriodSeconds?: number;
    readonly annotations?: Readonly<Record<string, string>>;
  };
  readonly spec?: {
    readonly containers?: readonly { readonly name: string; readonly image?: string }[];
    readonly initContainers?: readonly { readonly name: string; readonly image?: string }[];
  };
}

/** Annotation the simulator's workload puts on pods: creation time in ms, for delivery latency. */
export const CREATED_AT_ANNOTATION = "edgefleet.io/created-at-ms";

export function startupDelay(behaviour: NodeBehaviour, random: () => number = Math.random): number {
  const { min, max } = behaviour.podStartupMs;
  return min + Math.floor(random() * (max - min + 1));
}

const containerId = (uid: string, name: string): string =>
  `containerd://${(uid.replace(/-/g, "") + Buffer.from(name).toString("hex")).slice(0, 64).padEnd(64, "0")}`;

/** Status right after the pod arrived: Pending, containers being created. */
export function containerCreatingStatus(pod: PodSpecView, hostIP: string, at = new Date()): unknown {
  const now = kubeTime(at);
  return {
    phase: "Pending",
    hostIP,
    startTime: now,
    conditions: [
      { type: "PodScheduled", status: "True", lastTransitionTime: now },
      { type: "Initialized", status: "True", lastTransitionTime: now },
      { type: "ContainersReady", status: "False", reason: "ContainersNotReady", lastTransitionTime: now },
      { type: "Ready", status: "False", reason: "ContainersNotReady", lastTransitionTime: now },
    ],
    containerStatuses: (pod.spec?.containers ?? []).map((c) => ({
      name: c.name,
      image: c.image ?? "",
      imageID: "",
      ready: false,
      started: false,
      restartCount: 0,
      state: { waiting: { reason: "ContainerCreating" } },
    })),
  };
}

/** Status once the emulated containers run: Running and Ready. */
export function runningStatus(
  pod: PodSpecView,
  hostIP: string,
  podIP: string,
  startedAt: Date,
  at = new Date(),
): unknown {
  const started = kubeTime(startedAt);
  const now = kubeTime(at);
  const uid = pod.metadata?.uid ?? "";
  return {
    phase: "Running",
    hostIP,
    podIP,
    podIPs: [{ ip: podIP }],
    startTime: started,
    conditions: [
      { type: "PodScheduled", status: "True", lastTransitionTime: started },
      { type: "Initialized", status: "True", lastTransitionTime: started },
      { type: "ContainersReady", status: "True", lastTransitionTime: now },
      { type: "Ready", status: "True", lastTransitionTime: now },
    ],
    containerStatuses: (pod.spec?.containers ?? []).map((c) => ({
      name: c.name,
      image: c.image ?? "",
      imageID: `${c.image ?? ""}@sha256:${"0".repeat(64)}`,
      containerID: containerId(uid, c.name),
      ready: true,
      started: true,
      restartCount: 0,
      state: { running: { startedAt: now } },
    })),
  };
}

/** How long to wait before confirming a deletion: the stop time, capped by the grace period. */
export function stopDelay(pod: PodSpecView, behaviour: NodeBehaviour): number {
  const grace = pod.metadata?.deletionGracePeriodSeconds;
  return grace === undefined ? behaviour.podStopMs : Math.min(grace * 1000, behaviour.podStopMs);
}

const dotted = (prefix: number, n: number): string =>
  `${prefix}.${(n >>> 16) & 255}.${(n >>> 8) & 255}.${n & 255}`;

/** A pod IP unique per (node, ordinal < 128) for up to 131,071 nodes: 10.0.0.0/8. */
export function podAddress(nodeIndex: number, podOrdinal: number): string {
  return dotted(10, (nodeIndex * 128 + (podOrdinal % 128) + 1) & 0xffffff);
}

/** An emulated node's InternalIP, unique for up to 1,048,575 nodes: 172.16.0.0/12. */
export function nodeAddress(nodeIndex: number): string {
  const n = nodeIndex + 1;
  return `172.${16 + ((n >>> 16) & 15)}.${(n >>> 8) & 255}.${n & 255}`;
}
