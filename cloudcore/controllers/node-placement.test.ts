import { describe, expect, it } from "vitest";
import type { PodJson } from "../kube/objects.js";
import { NodePlacement } from "./node-placement.js";

const pod = (name: string, node: string | undefined, configMaps: string[]): PodJson => ({
  metadata: { namespace: "ns", name },
  spec: {
    ...(node !== undefined && { nodeName: node }),
    volumes: configMaps.map((cm) => ({ name: cm, configMap: { name: cm } })),
  },
});

describe("NodePlacement", () => {
  it("counts references per node: an object shared by pods on one node is added once and removed with the last pod", () => {
    const p = new NodePlacement();
    expect(p.setPod(pod("a", "n1", ["shared", "only-a"]))).toEqual([
      { node: "n1", added: ["configmap/ns/shared", "configmap/ns/only-a"], removed: [] },
    ]);
    expect(p.setPod(pod("b", "n1", ["shared"]))).toEqual([{ node: "n1", added: [], removed: [] }]);
    expect(p.removePod(pod("a", "n1", []))).toEqual([
      { node: "n1", added: [], removed: ["configmap/ns/only-a"] },
    ]);
    expect(p.needs("n1", "configmap/ns/shared")).toBe(true);
    expect(p.removePod(pod("b", "n1", []))).toEqual([
      { node: "n1", added: [], removed: ["configmap/ns/shared"] },
    ]);
    expect(p.referencesOf("n1")).toEqual([]);
    expect(p.podsOn("n1").size).toBe(0);
  });

  it("keeps nodes apart: a reference from one node never makes another node need the object", () => {
    const p = new NodePlacement();
    p.setPod(pod("a", "n1", ["cm"]));
    p.setPod(pod("b", "n2", []));
    expect([...p.nodesReferencing("configmap/ns/cm")]).toEqual(["n1"]);
    expect(p.needs("n2", "configmap/ns/cm")).toBe(false);
  });

  it("reports the difference when a pod's references change, and treats an unbound pod as gone", () => {
    const p = new NodePlacement();
    p.setPod(pod("a", "n1", ["old"]));
    expect(p.setPod(pod("a", "n1", ["new"]))).toEqual([
      { node: "n1", added: ["configmap/ns/new"], removed: ["configmap/ns/old"] },
    ]);
    expect(p.setPod(pod("a", undefined, ["new"]))).toEqual([
      { node: "n1", added: [], removed: ["configmap/ns/new"] },
    ]);
    expect(p.nodeOf("ns", "a")).toBeUndefined();
  });

  it("ignores removal of a pod it never saw", () => {
    expect(new NodePlacement().removePod(pod("x", "n1", ["cm"]))).toEqual([]);
  });
});
