import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { listScenarios, loadScenario, ScenarioError } from "./scenario.js";

const write = (text: string): string => {
  const file = join(mkdtempSync(join(tmpdir(), "scenario-")), "s.yaml");
  writeFileSync(file, text);
  return file;
};

const minimal = `name: tiny
description: a test
simulator: { nodes: 5 }
`;

describe("load scenarios", () => {
  it("every shipped scenario is valid, with durations in ms and rates per second", () => {
    expect(listScenarios()).toEqual(expect.arrayContaining(["smoke", "capacity"]));
    for (const name of listScenarios()) expect(loadScenario(name).name).toBe(name);
    const smoke = loadScenario("smoke");
    expect(smoke.cluster).toEqual({ replicas: 2, scrapeInterval: 1000 });
    expect(smoke.simulator.phases?.[0]).toEqual({ steady: 10_000 });
    expect(smoke.simulator.podQps).toBe(100);
    expect(smoke.http.map((h) => [h.name, h.duration])).toContainEqual(["ca-certificate", 8_000]);
  });

  it("fills defaults and lays command-line overrides over the file", () => {
    const s = loadScenario(write(minimal), { nodes: 7, podsPerNode: 1, replicas: 3 });
    expect(s.simulator.nodes).toBe(7);
    expect(s.simulator.podsPerNode).toBe(1);
    expect(s.cluster.replicas).toBe(3);
    expect(s.thresholds).toEqual({ latency: 1.2, throughput: 0.8, memory: 1.2, errors: 0 });
    expect(s.http).toEqual([]);
  });

  it.each([
    [
      `${minimal}cluster: { replicas: 9 }\n`,
      /field cluster\.replicas: Number must be less than or equal to 5/,
    ],
    [
      `${minimal}http: [{ name: a, target: ftp, path: /, phase: steady, duration: 5s }]\n`,
      /field http\.0\.target/,
    ],
    [
      `${minimal}http: [{ name: a, target: health, path: nope, phase: steady, duration: 5s }]\n`,
      /field http\.0\.path: not a path/,
    ],
    [
      `${minimal}http:\n  - { name: a, target: health, path: /, phase: steady, duration: 5s }\n  - { name: a, target: health, path: /, phase: steady, duration: 5s }\n`,
      /field http\.1\.name: a is used twice/,
    ],
    [
      `${minimal.replace("nodes: 5", "nodes: 5, token: x")}`,
      /field simulator: Unrecognized key\(s\) in object: 'token'/,
    ],
    [`${minimal}thresholds: { latency: 0.5 }\n`, /field thresholds\.latency/],
  ])("refuses a bad scenario naming the field (%#)", (text, message) => {
    expect(() => loadScenario(write(text))).toThrow(message);
  });

  it("names the known scenarios when asked for an unknown one", () => {
    expect(() => loadScenario("nope")).toThrow(ScenarioError);
    expect(() => loadScenario("nope")).toThrow(/no scenario named nope; known: .*smoke/);
  });
});
