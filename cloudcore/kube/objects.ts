/**
 * The parts of Kubernetes objects cloudcore reads, as plain JSON from the apiserver (timestamps are
 * RFC 3339 strings). Objects are passed to edges whole; these types only name what we look at.
 */
export interface ObjectMeta {
  name?: string;
  namespace?: string;
  uid?: string;
  resourceVersion?: string;
  generation?: number;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
  deletionTimestamp?: string;
  deletionGracePeriodSeconds?: number;
  ownerReferences?: unknown[];
  managedFields?: unknown[];
  [field: string]: unknown;
}

export interface KubeObject {
  apiVersion?: string;
  kind?: string;
  metadata?: ObjectMeta;
  [field: string]: unknown;
}

interface NameRef {
  name?: string;
}
interface KeyRef extends NameRef {
  key?: string;
  optional?: boolean;
}

export interface ContainerJson {
  name?: string;
  env?: { name?: string; valueFrom?: { configMapKeyRef?: KeyRef; secretKeyRef?: KeyRef } }[];
  envFrom?: { configMapRef?: NameRef; secretRef?: NameRef }[];
  [field: string]: unknown;
}

export interface VolumeJson {
  name?: string;
  configMap?: NameRef;
  secret?: { secretName?: string };
  projected?: {
    sources?: {
      configMap?: NameRef;
      secret?: NameRef;
      serviceAccountToken?: { audience?: string; expirationSeconds?: number; path?: string };
    }[];
  };
  [field: string]: unknown;
}

export interface PodJson extends KubeObject {
  spec?: {
    nodeName?: string;
    serviceAccountName?: string;
    containers?: ContainerJson[];
    initContainers?: ContainerJson[];
    ephemeralContainers?: ContainerJson[];
    volumes?: VolumeJson[];
    imagePullSecrets?: NameRef[];
    [field: string]: unknown;
  };
  status?: { phase?: string; [field: string]: unknown };
}

export interface NodeCondition {
  type: string;
  status: string;
  reason?: string;
  message?: string;
  lastHeartbeatTime?: string;
  lastTransitionTime?: string;
}

export interface Taint {
  key: string;
  value?: string;
  effect: string;
  timeAdded?: string;
}

export interface NodeJson extends KubeObject {
  spec?: { taints?: Taint[]; unschedulable?: boolean; [field: string]: unknown };
  status?: {
    conditions?: NodeCondition[];
    addresses?: { type: string; address: string }[];
    capacity?: Record<string, string>;
    allocatable?: Record<string, string>;
    [field: string]: unknown;
  };
}

/** Whether a Node's Ready condition is True (what `kubectl get nodes` shows as Ready). */
export function isNodeReady(node: NodeJson): boolean {
  return node.status?.conditions?.some((c) => c.type === "Ready" && c.status === "True") ?? false;
}

/** `<namespace>/<name>`, or `<name>` for cluster-scoped objects. */
export function objectKey(o: KubeObject): string {
  const ns = o.metadata?.namespace;
  return ns ? `${ns}/${o.metadata?.name ?? ""}` : (o.metadata?.name ?? "");
}
