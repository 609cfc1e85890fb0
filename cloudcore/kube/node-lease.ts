import type { KubeRest } from "./kube-rest.js";
import { statusCodeOf } from "./kube-rest.js";
import type { KubeObject } from "./objects.js";
import { retryOn } from "./retry.js";

export const LEASE_NAMESPACE = "kube-node-lease";
const LEASES = `/apis/coordination.k8s.io/v1/namespaces/${LEASE_NAMESPACE}/leases`;

export const leasePath = (node: string): string => `${LEASES}/${node}`;

type LeaseSpec = Record<string, unknown>;

/**
 * The last Lease each node's write returned, per apiserver client. A renewal is then one PUT with
 * that resourceVersion instead of a GET and a PUT (Leases are the busiest write of a fleet: one per
 * node every 10 s); if someone else wrote meanwhile the PUT fails with 409 and the retry reads.
 */
const lastWritten = new WeakMap<KubeRest, Map<string, KubeObject>>();

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
  let known = lastWritten.get(rest);
  if (!known) {
    known = new Map();
    lastWritten.set(rest, known);
  }
  const cache = known;
  const remember = (lease: KubeObject): KubeObject => {
    cache.set(node, lease);
    return lease;
  };
  const cached = cache.get(node);
  cache.delete(node); // until a write succeeds, nothing here is known to be current
  const fromCache = cached
    ? rest
        .request("update", leasePath(node), {
          body: { ...cached, spec: spec(cached["spec"] as LeaseSpec | undefined) },
        })
        .then(remember, (err: unknown) => {
          // Written or deleted by someone else since: read it afresh below.
          const code = statusCodeOf(err);
          if (code !== 409 && code !== 404) throw err;
          return undefined;
        })
    : Promise.resolve(undefined);
  return fromCache.then(
    (written) =>
      written ??
      retryOn(async () => {
        let current: KubeObject | undefined;
        try {
          current = await rest.get(leasePath(node));
        } catch (err) {
          if (statusCodeOf(err) !== 404) throw err;
        }
        if (current) {
          const body = { ...current, spec: spec(current["spec"] as LeaseSpec | undefined) };
          return remember(await rest.request("update", leasePath(node), { body }));
        }
        return remember(
          await rest.request("create", LEASES, {
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
          }),
        );
      }, options.retryCodes),
  );
}
