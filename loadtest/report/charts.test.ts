import { describe, expect, it } from "vitest";
import { renderCharts, RsvgMissingError, svgToPng } from "./charts.js";
import { sampleReport } from "./sample-report.js";

const PNG_SIGNATURE = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);

/** Width and height from the PNG's IHDR chunk, which must come first. */
function pngSize(png: Buffer): { width: number; height: number } {
  expect(png.subarray(0, 8).equals(PNG_SIGNATURE)).toBe(true);
  expect(png.subarray(12, 16).toString("latin1")).toBe("IHDR");
  return { width: png.readUInt32BE(16), height: png.readUInt32BE(20) };
}

describe("load report charts", () => {
  it("renders the five charts as SVG with titles, axis titles with units and legends", async () => {
    const charts = await renderCharts(sampleReport());
    expect(charts.map((c) => c.file)).toEqual([
      "latency-over-time.svg",
      "latency-percentiles.svg",
      "connected-nodes.svg",
      "memory-per-node.svg",
      "messages-per-second.svg",
    ]);
    for (const c of charts) {
      expect(c.svg).toMatch(/^<svg[^>]*xmlns="http:\/\/www\.w3\.org\/2000\/svg"/);
      expect(c.svg).toContain(c.title);
      expect(c.svg).not.toContain("no data");
    }
    const svg = (file: string): string => charts.find((c) => c.file === file)?.svg ?? "";
    expect(svg("latency-over-time.svg")).toContain("latency (ms)");
    expect(svg("latency-over-time.svg")).toContain("time since the start (s)");
    expect(svg("latency-over-time.svg")).toContain("ca-certificate p99");
    expect(svg("latency-percentiles.svg")).toContain("HTTP readyz");
    expect(svg("connected-nodes.svg")).toContain("cloudcore-2");
    expect(svg("connected-nodes.svg")).toContain("total");
    expect(svg("memory-per-node.svg")).toContain("resident memory per node (KiB)");
    expect(svg("memory-per-node.svg")).toContain("simulator");
  });

  it("every chart's SVG converts to a real PNG through rsvg-convert", async () => {
    for (const c of await renderCharts(sampleReport())) {
      const { width, height } = pngSize(await svgToPng(c.svg));
      expect(width, c.file).toBeGreaterThan(0);
      expect(height, c.file).toBeGreaterThan(0);
    }
  });

  it("a report without series, phases or HTTP loads renders charts that say no data", async () => {
    const empty = sampleReport({ phases: [], http: [], series: { stepSeconds: 1, list: [] } });
    const charts = await renderCharts(empty);
    expect(charts).toHaveLength(5);
    for (const c of charts) {
      expect(c.svg).toContain("no data");
      expect(pngSize(await svgToPng(c.svg)).width).toBeGreaterThan(0);
    }
  });

  it("series with no points count as no data", async () => {
    const report = sampleReport();
    const hollow = sampleReport({
      series: { ...report.series, list: report.series.list.map((s) => ({ ...s, points: [] })) },
    });
    const charts = await renderCharts(hollow);
    expect(charts.filter((c) => c.svg.includes("no data")).map((c) => c.file)).toEqual([
      "latency-over-time.svg",
      "connected-nodes.svg",
      "memory-per-node.svg",
      "messages-per-second.svg",
    ]);
  });

  it("the per-phase chart draws the latency asked for", async () => {
    const charts = await renderCharts(sampleReport(), { latency: "lease" });
    expect(charts.find((c) => c.file === "latency-percentiles.svg")?.title).toContain("lease per phase");
  });

  it("svgToPng - a missing converter is a typed error", async () => {
    await expect(svgToPng("<svg/>", { command: "rsvg-convert-not-installed" })).rejects.toBeInstanceOf(
      RsvgMissingError,
    );
  });

  it("svgToPng - input the converter refuses is a typed error with its stderr", async () => {
    await expect(svgToPng("this is not svg")).rejects.toMatchObject({
      code: "EF_ERR_RSVG_CONVERT",
      message: expect.stringMatching(/^rsvg-convert failed \(exit \d+\)/),
    });
  });
});
