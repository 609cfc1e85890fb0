import { describe, expect, it } from "vitest";
import { isNodeName, parseHostPort } from "./names.js";

describe("names", () => {
  it("isNodeName - accepts DNS-1123 subdomains only", () => {
    for (const ok of ["edge-1", "a", "edge.zone-a.example"]) expect(isNodeName(ok), ok).toBe(true);
    for (const bad of ["", "Edge", "edge_1", "-edge", "edge-", "a..b", "x".repeat(254)])
      expect(isNodeName(bad), bad).toBe(false);
  });

  it("parseHostPort - splits host:port and [v6]:port, rejects the rest", () => {
    expect(parseHostPort("127.0.0.1:10002")).toEqual({ host: "127.0.0.1", port: 10002 });
    expect(parseHostPort("[::1]:10000")).toEqual({ host: "::1", port: 10000 });
    for (const bad of ["host", "host:", ":1", "host:0", "host:70000", "a/b:1", "h:1:2"]) {
      expect(parseHostPort(bad), bad).toBeUndefined();
    }
  });
});
