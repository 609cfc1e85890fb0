import type { NodeJson } from "../kube/objects.js";
import { FencedError } from "./node-ownership.js";

/** Node annotations the owner writes when it acquires the node: who, and at which fencing epoch. */
export const OWNER_ANNOTATION = "edgefleet.io/owner";
export const OWNER_EPOCH_ANNOTATION = "edgefleet.io/owner-epoch";

/**
 * Fencing inside the apiserver for Node writes: the owner's epoch is in a Node annotation, so a
 * write computed from a Node whose annotation names a later epoch is refused here, and the write
 * itself carries that Node's resourceVersion, so if a new owner re-annotated the Node in between
 * the apiserver answers 409 and the write is re-checked against the fresh Node. No window is left
 * between the check and the write. Throws FencedError when `node` belongs to a later epoch.
 */
export function assertNodeEpoch(node: NodeJson, mine: number): void {
  const recorded = Number(node.metadata?.annotations?.[OWNER_EPOCH_ANNOTATION] ?? "0");
  if (Number.isFinite(recorded) && recorded > mine) {
    throw new FencedError(
      `node ${node.metadata?.name ?? ""} is owned at epoch ${recorded} by ${node.metadata?.annotations?.[OWNER_ANNOTATION] ?? "?"}; this replica holds epoch ${mine}`,
    );
  }
}

/** A JSON patch document (merge or strategic) with a resourceVersion precondition added. */
export function withResourceVersion(patch: string, resourceVersion: string): string {
  const parsed = JSON.parse(patch) as { metadata?: Record<string, unknown> };
  return JSON.stringify({ ...parsed, metadata: { ...parsed.metadata, resourceVersion } });
}
