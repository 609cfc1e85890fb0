import { describe, expect, it } from "vitest";
import { canonicalJson, contentDigest, withoutStatus } from "./content-digest.js";

describe("contentDigest", () => {
  const pod = {
    apiVersion: "v1",
    kind: "Pod",
    metadata: { name: "p", namespace: "ns", resourceVersion: "10", uid: "u1" },
    spec: { nodeName: "n1", containers: [{ name: "c", image: "busybox" }] },
  };

  it("ignores resourceVersion and key order, and sees any other change", () => {
    const reordered = {
      spec: { containers: [{ image: "busybox", name: "c" }], nodeName: "n1" },
      metadata: { uid: "u1", resourceVersion: "11", namespace: "ns", name: "p" },
      kind: "Pod",
      apiVersion: "v1",
    };
    expect(contentDigest(reordered)).toBe(contentDigest(pod));
    expect(contentDigest({ ...pod, spec: { ...pod.spec, nodeName: "n2" } })).not.toBe(contentDigest(pod));
  });

  it("gives a status-only change the same digest once status is stripped", () => {
    const running = {
      ...pod,
      metadata: { ...pod.metadata, resourceVersion: "12", managedFields: [{}] },
      status: { phase: "Running" },
    };
    expect(contentDigest(withoutStatus(running))).toBe(contentDigest(withoutStatus(pod)));
  });

  it("canonicalJson sorts keys at every level and keeps array order", () => {
    expect(canonicalJson({ b: [{ d: 1, c: 2 }], a: null, u: undefined })).toBe(
      '{"a":null,"b":[{"c":2,"d":1}]}',
    );
  });
});
