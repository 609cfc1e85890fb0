import { describe, expect, it } from "vitest";
import { isNodeReady, objectKey, type NodeJson } from "./objects.js";

const node = (conditions: { type: string; status: string }[] | undefined): NodeJson => ({
  metadata: { name: "edge-1" },
  ...(conditions && { status: { conditions } }),
});

describe("isNodeReady", () => {
  it("is true only when the Ready condition is True", () => {
    expect(isNodeReady(node([{ type: "Ready", status: "True" }]))).toBe(true);
    expect(isNodeReady(node([{ type: "Ready", status: "False" }]))).toBe(false);
    expect(isNodeReady(node([{ type: "Ready", status: "Unknown" }]))).toBe(false);
  });

  it("ignores other conditions that are True", () => {
    expect(
      isNodeReady(
        node([
          { type: "MemoryPressure", status: "True" },
          { type: "Ready", status: "False" },
        ]),
      ),
    ).toBe(false);
  });

  it("is false for a Node without status (not yet reported)", () => {
    expect(isNodeReady(node(undefined))).toBe(false);
    expect(isNodeReady(node([]))).toBe(false);
  });
});

describe("objectKey", () => {
  it("names namespaced objects namespace/name and cluster-scoped ones by name", () => {
    expect(objectKey({ metadata: { namespace: "ns", name: "p" } })).toBe("ns/p");
    expect(objectKey({ metadata: { name: "edge-1" } })).toBe("edge-1");
  });
});
