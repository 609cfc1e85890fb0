import { existsSync, mkdtempSync, readdirSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { LoadReportError, parseLoadReport, type LoadReport } from "./load-report.js";
import { sampleReport } from "./sample-report.js";
import { writeLoadReport } from "./write-report.js";

const tmp = (): string => mkdtempSync(join(tmpdir(), "load-report-"));

describe("writeLoadReport", () => {
  it("writes report.json, report.md and every chart as SVG and PNG; the JSON parses back", async () => {
    const dir = join(tmp(), "out");
    const report = sampleReport();
    const files = await writeLoadReport(report, dir);
    expect(files.json).toBe(join(dir, "report.json"));
    expect(parseLoadReport(readFileSync(files.json, "utf8"), files.json)).toEqual(report);
    expect(files.png).toEqual({ type: "written" });
    expect(files.svgs).toHaveLength(5);
    expect(files.pngs).toHaveLength(5);
    expect(files.charts).toEqual([...files.svgs, ...files.pngs]);
    for (const f of files.charts) expect(existsSync(f)).toBe(true);
    expect(readdirSync(join(dir, "charts")).sort()).toContain("latency-over-time.png");
    const md = readFileSync(files.markdown, "utf8");
    expect(md).toContain("![HTTP latency over time](charts/latency-over-time.svg)");
    expect(md).toContain("[PNG](charts/latency-over-time.png)");
    // No temporary files are left behind.
    expect(readdirSync(dir).filter((f) => f.endsWith(".tmp"))).toEqual([]);
  });

  it("without rsvg-convert it writes the SVGs and says why there are no PNGs", async () => {
    const dir = tmp();
    const files = await writeLoadReport(sampleReport(), dir, { rsvgCommand: "rsvg-convert-not-installed" });
    expect(files.png).toMatchObject({ type: "unavailable", reason: expect.stringContaining("librsvg2-bin") });
    expect(files.pngs).toEqual([]);
    expect(files.charts).toEqual(files.svgs);
    expect(readFileSync(files.markdown, "utf8")).not.toContain("[PNG]");
  });

  it("an invalid report is refused before anything is written", async () => {
    const dir = join(tmp(), "never");
    const bad = { ...sampleReport(), durationSeconds: Number.NaN } as LoadReport;
    await expect(writeLoadReport(bad, dir)).rejects.toThrow(LoadReportError);
    await expect(writeLoadReport(bad, dir)).rejects.toThrow(/report\.json \(not written\): durationSeconds:/);
    expect(existsSync(dir)).toBe(false);
  });

  it("rewriting a directory replaces the files", async () => {
    const dir = tmp();
    await writeLoadReport(sampleReport(), dir, { png: false });
    const again = await writeLoadReport(sampleReport({ errors: [] }), dir, { png: false });
    expect(parseLoadReport(readFileSync(again.json, "utf8"), again.json).errors).toEqual([]);
  });
});
