import { LATENCIES, type LatencyName } from "../engine/latencies.js";
import type { SimulationReport } from "./report.js";

const ms = (v: number): string => (v >= 10_000 ? `${(v / 1000).toFixed(1)} s` : `${Math.round(v)} ms`);
const n = (v: number): string => v.toLocaleString("en-US");

/** A Markdown summary of a report; `chart` is the SVG's file name beside it, if there is one. */
export function renderMarkdown(report: SimulationReport, chart?: string): string {
  const lines: string[] = [
    `# edgefleet-sim report`,
    "",
    `${report.startedAt} → ${report.endedAt}${report.shards.length > 1 ? `, ${report.shards.length} shards merged` : ""}`,
    "",
    "| nodes | connected | registered | pods | Running | join errors | request errors | pod create errors |",
    "| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    `| ${n(report.totals.nodes)} | ${n(report.totals.connected)} | ${n(report.totals.registered)} | ${n(report.totals.pods)} | ${n(report.totals.podsRunning)} | ${n(report.totals.joinErrors)} | ${n(report.totals.requestErrors)} | ${n(report.totals.podCreateErrors)} |`,
    "",
    `Simulator memory: ${(report.memory.simulatorRssBytes / 2 ** 20).toFixed(0)} MiB resident, ${(report.memory.perNodeBytes / 1024).toFixed(1)} KiB per emulated node.`,
    "",
  ];
  if (chart) lines.push(`![timeline](${chart})`, "");
  for (const phase of report.phases) {
    lines.push(
      `## Phase ${phase.name} (${phase.durationSeconds} s, ${n(phase.messagesPerSecond)} msgs/s)`,
      "",
      "| latency | count | p50 | p90 | p99 | max |",
      "| --- | ---: | ---: | ---: | ---: | ---: |",
    );
    for (const [name, s] of Object.entries(phase.latencies) as [
      LatencyName,
      NonNullable<(typeof phase.latencies)[LatencyName]>,
    ][]) {
      if (s.count === 0) continue;
      lines.push(
        `| ${LATENCIES[name]} | ${n(s.count)} | ${ms(s.p50)} | ${ms(s.p90)} | ${ms(s.p99)} | ${ms(s.max)} |`,
      );
    }
    const counts = Object.entries(phase.counts)
      .map(([k, v]) => `${k} ${n(v ?? 0)}`)
      .join(", ");
    if (counts) lines.push("", `Counts: ${counts}.`);
    lines.push("");
  }
  if (report.errors.length > 0) {
    lines.push("## Errors (distinct, last seen)", "");
    for (const e of report.errors) lines.push(`- ${e.replace(/\|/g, "\\|")}`);
    lines.push("");
  }
  return lines.join("\n");
}
