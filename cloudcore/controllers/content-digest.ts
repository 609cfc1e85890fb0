import { createHash } from "node:crypto";
import type { KubeObject } from "../kube/objects.js";

/**
 * What of a pod or node goes down to the edge: everything but its status (the edge owns status) and
 * managedFields (bookkeeping of the apiserver). KubeEdge likewise sends no status-only change.
 */
export function withoutStatus<T extends KubeObject>(object: T): T {
  const { status: _status, ...rest } = object;
  const { managedFields: _managed, ...metadata } = object.metadata ?? {};
  return { ...rest, metadata } as T;
}

/** A ConfigMap or Secret as sent: without managedFields. */
export function objectForEdge<T extends KubeObject>(object: T): T {
  const { managedFields: _managed, ...metadata } = object.metadata ?? {};
  return { ...object, metadata };
}

/**
 * A digest of what an edge would receive, ignoring resourceVersion: two versions of an object
 * that differ only in status (or only in RV) have the same digest and need not be resent. Stored
 * with each ack, so a reconnecting node is sent an object only if its content changed. Keys are
 * sorted first: a listed object and a watched one carry the same fields in different orders.
 */
export function contentDigest(object: KubeObject): string {
  const { resourceVersion: _rv, ...metadata } = object.metadata ?? {};
  return createHash("sha256")
    .update(canonicalJson({ ...object, metadata }))
    .digest("base64url")
    .slice(0, 22);
}

/** JSON with object keys sorted at every level. */
export function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(",")}]`;
  if (value !== null && typeof value === "object") {
    const entries = Object.entries(value as Record<string, unknown>)
      .filter(([, v]) => v !== undefined)
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonicalJson(v)}`).join(",")}}`;
  }
  return JSON.stringify(value) ?? "null";
}
