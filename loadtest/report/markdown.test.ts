import { describe, expect, it } from "vitest";
import { formatBytes, formatDuration, formatMs, renderMarkdown } from "./markdown.js";
import { sampleReport } from "./sample-report.js";

describe("load report markdown", () => {
  const report = sampleReport();
  const md = renderMarkdown(report, [
    {
      title: "HTTP latency over time",
      file: "charts/latency-over-time.svg",
      png: "charts/latency-over-time.png",
    },
    { title: "Memory per connected node", file: "charts/memory-per-node.svg" },
  ]);

  it("has a title with the scenario and the date, and a summary", () => {
    expect(md).toMatch(/^# Load report: capacity, 2025-06-02 09:30 UTC\n/);
    expect(md).toContain("| duration | 3 min 10 s |");
    expect(md).toContain("| nodes | 5,000 × 2 pods |");
    expect(md).toContain("| cloudcore replicas | 3 |");
    expect(md).toContain("| checks against Prometheus | 3/4 passed ✗ |");
  });

  it("has a row per phase and the p50 / p99 of each latency it recorded", () => {
    expect(md).toContain("| steady | 65.8 | 185.8 | 2 min | 1,020 | 0 |");
    expect(md).toContain("| chaos | 185.8 | 190 | 4.2 s | 1,460 | 3 |");
    expect(md).toMatch(/\| rtt \| tunnel round trip[^|]* \| – \| – \| 0\.60 \/ 3\.80 \| 0\.70 \/ 4\.40 \|/);
    expect(md).toMatch(/\| podStartup \|[^\n]*\| 2,104 \/ 3,342 \|/);
  });

  it("has the HTTP table with latencies, rates and errors", () => {
    expect(md).toContain(
      "| ca-certificate | certificates | `/ca.crt` | steady | 16 | 148,320 | 2,472 | 5.80 | 9.60 | 17.3 | 58.2 | 0 | 0 | 0 |",
    );
    expect(md).toContain(
      "| readyz | health | `/readyz` | steady | 4 | 12,000 | 200 | 1.10 | 1.70 | 3.20 | 11.4 | 2 | 0 | 0 |",
    );
    expect(md).toContain("readyz 200 × 11,998, 503 × 2");
  });

  it("has memory in MiB and KiB, and the Prometheus checks marked", () => {
    expect(md).toContain("| cloudcore (3 replicas) | 480.0 MiB | 98.3 KiB |");
    expect(md).toContain("| simulator | 205.0 MiB | 40.0 KiB |");
    expect(md).toContain("| certificates issued (joins) | 5,000 | 5,000 | 0% | ✓ |");
    expect(md).toMatch(/\| readyz: requests answered \| 12,000 \| 11,990 \| 0\.033% \| ✗ \|/);
  });

  it("embeds the charts by relative path and links their PNGs", () => {
    expect(md).toContain("![HTTP latency over time](charts/latency-over-time.svg)");
    expect(md).toContain("[PNG](charts/latency-over-time.png)");
    expect(md).toContain("![Memory per connected node](charts/memory-per-node.svg)");
    expect(md).not.toContain("charts/memory-per-node.png");
    expect(md).toContain("- tunnel closed: 1006 Abnormal Closure");
  });

  it("keeps pipes in the data from breaking a table", () => {
    const piped = renderMarkdown(sampleReport({ scenario: { name: "a|b", description: "d" } }));
    expect(piped).toContain("| scenario | a\\|b |");
  });

  it("formats ms, bytes and durations for people", () => {
    expect([formatMs(0.456), formatMs(12.345), formatMs(2104.4)]).toEqual(["0.46", "12.3", "2,104"]);
    expect([formatBytes(512), formatBytes(41_000), formatBytes(3 * 2 ** 30)]).toEqual([
      "512 B",
      "40.0 KiB",
      "3.0 GiB",
    ]);
    expect([formatDuration(4.25), formatDuration(190), formatDuration(3600)]).toEqual([
      "4.3 s",
      "3 min 10 s",
      "1 h",
    ]);
  });
});
