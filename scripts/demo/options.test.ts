import { describe, expect, it } from "vitest";
import { MainJobOptionsError, parseMainJobOptions } from "./options.js";

const defaults = {
  nodes: "1000",
  podsPerNode: "5",
  duration: "30s",
  replicas: "3",
  podQps: "60",
  keep: false,
};

describe("main job flags", () => {
  it("turns commander's strings into numbers and the duration into milliseconds", () => {
    expect(parseMainJobOptions({ ...defaults, stateDir: "/tmp/x" })).toEqual({
      nodes: 1000,
      podsPerNode: 5,
      duration: 30_000,
      replicas: 3,
      podQps: 60,
      keep: false,
      stateDir: "/tmp/x",
    });
  });

  it("names the flag of a bad value, in its command-line spelling", () => {
    expect(() => parseMainJobOptions({ ...defaults, nodes: "lots" })).toThrow(MainJobOptionsError);
    expect(() => parseMainJobOptions({ ...defaults, nodes: "lots" })).toThrow(/^--nodes: /);
    expect(() => parseMainJobOptions({ ...defaults, podsPerNode: "-1" })).toThrow(/--pods-per-node: /);
    expect(() => parseMainJobOptions({ ...defaults, duration: "soon" })).toThrow(/--duration: /);
  });

  it("refuses one replica (one is killed) and a hold too short for the failover", () => {
    expect(() => parseMainJobOptions({ ...defaults, replicas: "1" })).toThrow(/--replicas: /);
    expect(() => parseMainJobOptions({ ...defaults, duration: "2s" })).toThrow(
      "--duration: at least 6s (the failover happens in it)",
    );
  });

  it("refuses flags it does not know rather than ignoring them", () => {
    expect(() => parseMainJobOptions({ ...defaults, node: "5" })).toThrow(MainJobOptionsError);
  });
});
