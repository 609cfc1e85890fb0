/**
 * The requests an edge node makes of the cloud, as KubeEdge's edged/metamanager send them through
 * edgehub (group `meta`, source `edged`). One place for their shapes, used by edgecore, the
 * simulator and the tests' edge.
 */
import { Group, Operation, Source } from "../../protocol/constants.js";
import { newMessage, type Message } from "../../protocol/message.js";

/** Kubernetes' RFC 3339 timestamps, seconds precision (metav1.Time). */
export const kubeTime = (at = new Date()): string => at.toISOString().replace(/\.\d{3}Z$/, "Z");
/** metav1.MicroTime, as Leases carry it. */
export const kubeMicroTime = (at = new Date()): string => at.toISOString().replace(/Z$/, "000Z");

const request = (operation: string, resource: string, content: unknown): Message =>
  newMessage({ source: Source.Edged, group: Group.Meta, operation, resource, content });

export interface NodeRegistration {
  readonly name: string;
  readonly labels?: Readonly<Record<string, string>>;
  readonly internalIP: string;
  readonly capacity?: Readonly<Record<string, string>>;
  readonly kubeletVersion?: string;
}

/** `insert null/node/<name>`: registers (or merges into) the Node, Ready. */
export function registerNode(node: NodeRegistration): Message {
  const now = kubeTime();
  const capacity = node.capacity ?? { cpu: "2", memory: "4Gi", pods: "110" };
  return request(Operation.Insert, `null/node/${node.name}`, {
    apiVersion: "v1",
    kind: "Node",
    metadata: {
      name: node.name,
      labels: { "kubernetes.io/hostname": node.name, "kubernetes.io/os": "linux", ...node.labels },
    },
    spec: {},
    status: {
      capacity,
      allocatable: capacity,
      addresses: [
        { type: "InternalIP", address: node.internalIP },
        { type: "Hostname", address: node.name },
      ],
      conditions: [readyCondition(now, now)],
      nodeInfo: {
        kubeletVersion: node.kubeletVersion ?? "v1.36.3-edgefleet",
        architecture: "amd64",
        operatingSystem: "linux",
      },
    },
  });
}

function readyCondition(heartbeat: string, transition: string): Record<string, string> {
  return {
    type: "Ready",
    status: "True",
    reason: "EdgeReady",
    message: "edge is ready",
    lastHeartbeatTime: heartbeat,
    lastTransitionTime: transition,
  };
}

/** `patch null/nodepatch/<name>`: a strategic-merge patch of the Node's status (the kubelet's status report). */
export function nodeStatusHeartbeat(name: string, readySince: string): Message {
  return request(
    Operation.Patch,
    `null/nodepatch/${name}`,
    JSON.stringify({ status: { conditions: [readyCondition(kubeTime(), readySince)] } }),
  );
}

/** `update kube-node-lease/lease/<name>`: renews the node's Lease (the kubelet's heartbeat). */
export function renewLease(name: string, durationSeconds = 40): Message {
  return request(Operation.Update, `kube-node-lease/lease/${name}`, {
    apiVersion: "coordination.k8s.io/v1",
    kind: "Lease",
    metadata: { name, namespace: "kube-node-lease" },
    spec: { holderIdentity: name, leaseDurationSeconds: durationSeconds, renewTime: kubeMicroTime() },
  });
}

/** `patch <ns>/podpatch/<name>`: a strategic-merge patch of the pod's status. */
export function patchPodStatus(namespace: string, name: string, status: unknown): Message {
  return request(Operation.Patch, `${namespace}/podpatch/${name}`, JSON.stringify({ status }));
}

/**
 * `delete <ns>/pod/<name>`: the containers are stopped, remove the pod (grace 0, UID precondition),
 * as the kubelet's status manager does.
 */
export function confirmPodDeletion(namespace: string, name: string, uid: string | undefined): Message {
  return request(Operation.Delete, `${namespace}/pod/${name}`, {
    gracePeriodSeconds: 0,
    ...(uid !== undefined && { preconditions: { uid } }),
  });
}
