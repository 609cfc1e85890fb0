import { spawnSync } from "node:child_process";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { compareReports } from "../compare/compare.js";
import { sampleReport, scaleReport } from "../report/sample-report.js";
import { CompareInputError, parseThresholdFlags, renderComparison } from "./compare.js";

const root = join(dirname(fileURLToPath(import.meta.url)), "..", "..");

function files(): { dir: string; base: string; same: string; slow: string } {
  const dir = mkdtempSync(join(tmpdir(), "load-compare-"));
  const write = (name: string, value: unknown): string => {
    const path = join(dir, name);
    writeFileSync(path, JSON.stringify(value, null, 2));
    return path;
  };
  const base = sampleReport();
  return {
    dir,
    base: write("a.json", base),
    same: write("same.json", base),
    slow: write("b.json", scaleReport(base, { latency: 2 })),
  };
}

function compare(...args: string[]): { status: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, ["--import", "tsx", "loadtest/main.ts", "compare", ...args], {
    cwd: root,
    encoding: "utf8",
    timeout: 60_000,
  });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

// Each test spawns the CLI through tsx: seconds on a busy 2-core machine, not milliseconds.
describe("edgefleet-load compare", { timeout: 30_000 }, () => {
  const f = files();

  it("exits 1 on a candidate with every latency doubled, naming the regressions", () => {
    const r = compare(f.base, f.slow);
    expect(r.status).toBe(1);
    expect(r.stdout).toMatch(/phase steady: rtt p99 +3\.80 ms +7\.60 ms +2\.00× +≤ 1\.20× +✗ REGRESSION/);
    expect(r.stdout).toMatch(/\n\d+ regressions\n$/);
  });

  it("exits 0 on an identical pair and says so", () => {
    const r = compare(f.base, f.same);
    expect(r.stderr).toBe("");
    expect(r.status).toBe(0);
    expect(r.stdout).toMatch(/\nno regressions\n$/);
  });

  it("applies the baseline scenario's own thresholds, which flags still override", () => {
    const lenient = sampleReport({ thresholds: { latency: 2.5, throughput: 0.8, memory: 1.2, errors: 0 } });
    const path = join(f.dir, "lenient.json");
    writeFileSync(path, JSON.stringify(lenient));
    const slow = join(f.dir, "lenient-slow.json");
    writeFileSync(slow, JSON.stringify(scaleReport(lenient, { latency: 2 })));
    expect(compare(path, slow).status).toBe(0);
    expect(compare(path, slow, "--threshold", "latency=1.5").status).toBe(1);
  });

  it("--threshold raises the limit; --json prints the rows", () => {
    const r = compare(f.base, f.slow, "--threshold", "latency=2.5", "--json");
    expect(r.status).toBe(0);
    const rows = JSON.parse(r.stdout) as { metric: string; regression: boolean; limit: number }[];
    expect(rows.find((x) => x.metric === "phase steady: rtt p99")).toMatchObject({
      regression: false,
      limit: 2.5,
    });
  });

  it.each([
    [["missing.json"], /missing\.json: cannot read \(ENOENT\)/],
    [["bad.json"], /bad\.json: phases\.0\.messagesPerSecond: Expected number, received string/],
    [["--threshold", "latency=0.5"], /--threshold latency=0\.5: Number must be greater than 1/],
    [["--threshold", "speed=2"], /--threshold speed=2: expected kind=value/],
    [["--bogus"], /unknown option '--bogus'/],
  ])("exits 2 on bad input %j", (extra, message) => {
    const bad = sampleReport() as unknown as { phases: { messagesPerSecond: unknown }[] };
    const first = bad.phases[0];
    if (first) first.messagesPerSecond = "fast";
    writeFileSync(join(f.dir, "bad.json"), JSON.stringify(bad));
    const args = extra[0]?.endsWith(".json") ? [f.base, join(f.dir, extra[0])] : [f.base, f.same, ...extra];
    const r = compare(...args);
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(message);
  });
});

describe("compare flags and table", () => {
  it("--threshold values lay over the defaults; bad ones name the flag", () => {
    expect(parseThresholdFlags(["latency=1.5", "errors=2"])).toEqual({
      latency: 1.5,
      throughput: 0.8,
      memory: 1.2,
      errors: 2,
    });
    expect(() => parseThresholdFlags(["throughput=abc"])).toThrow(
      '--threshold throughput=abc: "abc" is not a number',
    );
    expect(() => parseThresholdFlags(["throughput=1.5"])).toThrow(
      /--threshold throughput=1.5: Number must be less than 1/,
    );
    expect(() => parseThresholdFlags(["errors=0.5"])).toThrow(/--threshold errors=0.5: Expected integer/);
    expect(() => parseThresholdFlags(["memory=1.3", "memory=1.4"])).toThrow(CompareInputError);
  });

  it("the table aligns its columns and ends with the count", () => {
    const base = sampleReport();
    const text = renderComparison(compareReports(base, scaleReport(base, { throughput: 0.5 })));
    const lines = text.trimEnd().split("\n");
    expect(lines.at(-1)).toBe("6 regressions");
    const header = lines[0] ?? "";
    const ratioEnd = header.indexOf("ratio") + "ratio".length;
    for (const line of lines.slice(2, -2)) expect(line.slice(ratioEnd - 1, ratioEnd)).toMatch(/[×–w]/);
    expect(text).toMatch(/http readyz: req\/s +200 req\/s +100 req\/s +0\.50× +≥ 0\.80× +✗ REGRESSION/);
  });
});
