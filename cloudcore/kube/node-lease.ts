import type { KubeRest } from "./kube-rest.js";
import { statusCodeOf } from "./kube-rest.js";
import type { KubeObject } from "./objects.js";
import { retryOn } from "./retry.js";

export const LEASE_NAMESPACE = "kube-node-lease";
const LEASES = `/apis/coordination.k8s.io/v1/namespaces/${LEASE_NAMESPACE}/leases`;

export const leasePath = (node: string): string => `${LEASES}/${node}`;

type LeaseSpec = Record<string, unknown>;

/**
 * Writes a node's Lease, last writer wins: from a fresh read, `spec(current)` is written over the
 * current Lease, or a new Lease is created with it if there is none. A lost race (`retryCodes`) is
 * retried from a new read. Used for the edge's own renewals and for cloudcore renewing on behalf of
 * an offline node.
 */
export function writeNodeLease(
  rest: KubeRest,
  node: string,
  spec: (current: LeaseSpec | undefined) => LeaseSpec,
  options: { readonly ownerReferences?: unknown; readonly retryCodes?: readonly number[] } = {},
): Promise<KubeObject> {
  return retryOn(async () => {
    let current: KubeObject | undefined;
    try {
      current = await rest.get(leasePath(node));
    } catch (err) {
      if (statusCodeOf(err) !== 404) throw err;
    }
    if (current) {
      const body = { ...current, spec: spec(current["spec"] as LeaseSpec | undefined) };
      return rest.request("update", leasePath(node), { body });
    }
    return rest.request("create", LEASES, {
      body: {
        apiVersion: "coordination.k8s.io/v1",
        kind: "Lease",
        metadata: {
          name: node,
          namespace: LEASE_NAMESPACE,
          ...(options.ownerReferences !== undefined && { ownerReferences: options.ownerReferences }),
        },
        spec: spec(undefined),
      },
    });
  }, options.retryCodes);
}
