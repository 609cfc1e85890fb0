import type { PodJson } from "../kube/objects.js";
import { podReferences, type ReferenceKey } from "./pod-references.js";

/** How a pod event changed what one node needs. */
export interface PlacementChange {
  readonly node: string;
  /** Objects the node now needs and did not before. */
  readonly added: readonly ReferenceKey[];
  /** Objects no pod on the node needs any more. */
  readonly removed: readonly ReferenceKey[];
}

interface PlacedPod {
  readonly node: string;
  readonly refs: ReadonlySet<ReferenceKey>;
}

const podKeyOf = (pod: PodJson): string => `${pod.metadata?.namespace ?? ""}/${pod.metadata?.name ?? ""}`;

/**
 * Which pods are bound to which node and which ConfigMaps/Secrets each node needs, with a reference
 * count per (node, object): an object used by many pods on one node is sent to it once and removed
 * when the last of them goes. Pure bookkeeping, fed by the pod informer; it keeps keys, not objects.
 */
export class NodePlacement {
  readonly #pods = new Map<string, PlacedPod>();
  readonly #podsByNode = new Map<string, Set<string>>();
  /** node → object → number of the node's pods referencing it. */
  readonly #refCounts = new Map<string, Map<ReferenceKey, number>>();
  /** object → nodes that need it. */
  readonly #nodesByRef = new Map<ReferenceKey, Set<string>>();

  /** Records a bound pod (added or modified); returns what changed for its node(s). */
  setPod(pod: PodJson): PlacementChange[] {
    const node = pod.spec?.nodeName;
    if (!node) return this.removePod(pod);
    const key = podKeyOf(pod);
    const refs = podReferences(pod);
    const before = this.#pods.get(key);
    const changes: PlacementChange[] = [];
    if (before && before.node !== node) {
      // A pod never moves in Kubernetes; if it ever seems to, treat it as remove + add.
      changes.push(...this.removePod(pod));
    }
    const old = before && before.node === node ? before.refs : new Set<ReferenceKey>();
    this.#pods.set(key, { node, refs });
    setAdd(this.#podsByNode, node, key);
    const added: ReferenceKey[] = [];
    const removed: ReferenceKey[] = [];
    for (const ref of refs) if (!old.has(ref) && this.#inc(node, ref)) added.push(ref);
    for (const ref of old) if (!refs.has(ref) && this.#dec(node, ref)) removed.push(ref);
    changes.push({ node, added, removed });
    return changes;
  }

  /** Forgets a pod; returns the objects its node no longer needs. */
  removePod(pod: PodJson): PlacementChange[] {
    const key = podKeyOf(pod);
    const before = this.#pods.get(key);
    if (!before) return [];
    this.#pods.delete(key);
    setDelete(this.#podsByNode, before.node, key);
    const removed: ReferenceKey[] = [];
    for (const ref of before.refs) if (this.#dec(before.node, ref)) removed.push(ref);
    return [{ node: before.node, added: [], removed }];
  }

  /** The node a pod is recorded on. */
  nodeOf(namespace: string, name: string): string | undefined {
    return this.#pods.get(`${namespace}/${name}`)?.node;
  }

  /** `<namespace>/<name>` of every pod on `node`. */
  podsOn(node: string): ReadonlySet<string> {
    return this.#podsByNode.get(node) ?? new Set();
  }

  /** Objects the pods on `node` reference. */
  referencesOf(node: string): ReferenceKey[] {
    return [...(this.#refCounts.get(node)?.keys() ?? [])];
  }

  /** True if some pod on `node` references `ref`. */
  needs(node: string, ref: ReferenceKey): boolean {
    return (this.#refCounts.get(node)?.get(ref) ?? 0) > 0;
  }

  /** Nodes whose pods reference `ref`. */
  nodesReferencing(ref: ReferenceKey): ReadonlySet<string> {
    return this.#nodesByRef.get(ref) ?? new Set();
  }

  /** True when this is the first reference from `node`. */
  #inc(node: string, ref: ReferenceKey): boolean {
    let counts = this.#refCounts.get(node);
    if (!counts) this.#refCounts.set(node, (counts = new Map()));
    const n = (counts.get(ref) ?? 0) + 1;
    counts.set(ref, n);
    if (n === 1) setAdd(this.#nodesByRef, ref, node);
    return n === 1;
  }

  /** True when that was the last reference from `node`. */
  #dec(node: string, ref: ReferenceKey): boolean {
    const counts = this.#refCounts.get(node);
    const n = (counts?.get(ref) ?? 0) - 1;
    if (!counts || n < 0) return false;
    if (n > 0) {
      counts.set(ref, n);
      return false;
    }
    counts.delete(ref);
    if (counts.size === 0) this.#refCounts.delete(node);
    setDelete(this.#nodesByRef, ref, node);
    return true;
  }
}

function setAdd<K, V>(map: Map<K, Set<V>>, key: K, value: V): void {
  let set = map.get(key);
  if (!set) map.set(key, (set = new Set()));
  set.add(value);
}

function setDelete<K, V>(map: Map<K, Set<V>>, key: K, value: V): void {
  const set = map.get(key);
  if (!set) return;
  set.delete(value);
  if (set.size === 0) map.delete(key);
}
