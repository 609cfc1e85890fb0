import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { loadCloudcoreConfig } from "./config.js";

const file = (text: string): string => {
  const path = join(mkdtempSync(join(tmpdir(), "cfg-")), "cloudcore.yaml");
  writeFileSync(path, text);
  return path;
};

describe("cloudcore config", () => {
  it("has KubeEdge's defaults", () => {
    const config = loadCloudcoreConfig(undefined, {});
    expect(config).toMatchObject({
      tunnelPort: 10000,
      certificatePort: 10002,
      namespace: "kubeedge",
      offlineGrace: 40_000,
      maxAutonomy: 0,
    });
  });

  it("reads a YAML file, lets flags override it, and parses durations", () => {
    const config = loadCloudcoreConfig(file("tunnelPort: 20000\nofflineGrace: 2m\nmaxAutonomy: 24h\n"), {
      tunnelPort: 30000,
    });
    expect(config.tunnelPort).toBe(30000);
    expect(config.offlineGrace).toBe(120_000);
    expect(config.maxAutonomy).toBe(86_400_000);
  });

  it("refuses bad input with the field named", () => {
    expect(() => loadCloudcoreConfig(file("tunnelPort: 70000\n"), {})).toThrow(/field tunnelPort/);
    expect(() => loadCloudcoreConfig(undefined, { advertiseAddresses: ["not-an-ip"] })).toThrow(
      /field advertiseAddresses.0: not an IP/,
    );
    expect(() => loadCloudcoreConfig(file("offlineGrace: soon\n"), {})).toThrow(/field offlineGrace/);
    expect(() => loadCloudcoreConfig(undefined, { metricsHost: "localhost" })).toThrow(
      /field metricsHost: not an IP/,
    );
    expect(() => loadCloudcoreConfig(file("tunelPort: 1\n"), {})).toThrow(/Unrecognized key/);
    expect(() => loadCloudcoreConfig(file("- a\n"), {})).toThrow(/mapping/);
    expect(() => loadCloudcoreConfig(undefined, { replicaId: "r1" })).toThrow(
      /field redisUrl: a replica \(replicaId\) needs redisUrl/,
    );
    expect(() => loadCloudcoreConfig(undefined, { replicaId: "R_1", redisUrl: "redis://x:1" })).toThrow(
      /field replicaId: not a DNS label/,
    );
  });
});
