import type { KubeRest } from "../../cloudcore/kube/kube-rest.js";
import { isNodeReady, type NodeJson } from "../../cloudcore/kube/objects.js";

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

export interface Readiness {
  readonly nodes: number;
  readonly ready: number;
  readonly tainted: number;
  /** Taint key:effect → nodes carrying it. */
  readonly taints: Record<string, number>;
}

/** Ready and tainted counts of the benchmark's Nodes (label edgefleet.io/bench=<prefix>). */
export async function readiness(rest: KubeRest, prefix: string): Promise<Readiness> {
  const nodes = (
    await rest.list<NodeJson>("/api/v1/nodes", { labelSelector: `edgefleet.io/bench=${prefix}` })
  ).items;
  const taints: Record<string, number> = {};
  for (const n of nodes)
    for (const t of n.spec?.taints ?? [])
      taints[`${t.key}:${t.effect}`] = (taints[`${t.key}:${t.effect}`] ?? 0) + 1;
  return {
    nodes: nodes.length,
    ready: nodes.filter(isNodeReady).length,
    tainted: nodes.filter((n) => (n.spec?.taints ?? []).length > 0).length,
    taints,
  };
}

/**
 * New Nodes carry node.kubernetes.io/not-ready:NoSchedule (admission) until the node lifecycle
 * controller sees them Ready; waits for that (up to `timeoutMs`), so taints seen later are ours.
 * Resolves to whether they cleared.
 */
export async function waitUntainted(rest: KubeRest, prefix: string, timeoutMs = 60_000): Promise<boolean> {
  for (const start = Date.now(); Date.now() - start < timeoutMs; await sleep(500))
    if ((await readiness(rest, prefix)).tainted === 0) return true;
  return false;
}
