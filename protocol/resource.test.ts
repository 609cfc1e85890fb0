import { describe, expect, it } from "vitest";
import { ResourceError } from "./errors.js";
import { formatResource, fromCloudResource, parseResource, toCloudResource } from "./resource.js";

describe("resource strings", () => {
  it("parses namespaced, cluster-scoped, nameless and nested resources", () => {
    expect(parseResource("default/pod/nginx")).toEqual({ namespace: "default", type: "pod", name: "nginx" });
    expect(parseResource("null/node/edge-1")).toEqual({ namespace: "null", type: "node", name: "edge-1" });
    expect(parseResource("default/podlist")).toEqual({ namespace: "default", type: "podlist" });
    expect(parseResource("default/device/dev-1/twin/edge_updated")).toEqual({
      namespace: "default",
      type: "device",
      name: "dev-1/twin/edge_updated",
    });
  });

  it("rejects strings without namespace and type, or with an empty name", () => {
    for (const bad of ["", "node", "/pod/x", "default//x", "default/pod/"]) {
      expect(() => parseResource(bad), bad).toThrow(ResourceError);
    }
  });

  it("formats back, writing cluster scope as null", () => {
    expect(formatResource({ namespace: "", type: "node", name: "edge-1" })).toBe("null/node/edge-1");
    expect(formatResource(parseResource("kube-node-lease/lease/edge-1"))).toBe(
      "kube-node-lease/lease/edge-1",
    );
  });

  it("adds and strips the cloud's node/<name>/ prefix", () => {
    const cloud = toCloudResource("edge-1", "default/pod/nginx");
    expect(cloud).toBe("node/edge-1/default/pod/nginx");
    expect(fromCloudResource(cloud)).toEqual({ nodeName: "edge-1", edgeResource: "default/pod/nginx" });
    expect(() => toCloudResource("a/b", "default/pod/x")).toThrow(ResourceError);
  });

  it("does not mistake a namespace starting with 'node' for the cloud prefix (KubeEdge's TrimMessage does)", () => {
    expect(fromCloudResource("nodes-team/pod/x")).toBeUndefined();
    expect(fromCloudResource("node/edge-1")).toBeUndefined();
    expect(fromCloudResource("node//default/pod/x")).toBeUndefined();
  });
});
