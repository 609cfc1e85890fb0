import { mkdirSync, writeFileSync } from "node:fs";
import { basename, dirname, join } from "node:path";
import { renderTimelineSvg } from "./chart.js";
import { renderMarkdown } from "./markdown.js";
import type { SimulationReport } from "./report.js";

/** Writes `<path>` (JSON), and beside it `<name>.md` and `<name>.svg`; returns the three paths. */
export async function writeReport(
  report: SimulationReport,
  path: string,
): Promise<{ json: string; markdown: string; chart: string }> {
  mkdirSync(dirname(path), { recursive: true });
  const stem = basename(path).replace(/\.json$/, "");
  const chart = join(dirname(path), `${stem}.svg`);
  const markdown = join(dirname(path), `${stem}.md`);
  writeFileSync(path, JSON.stringify(report, null, 2) + "\n");
  writeFileSync(chart, await renderTimelineSvg(report.timeline));
  writeFileSync(markdown, renderMarkdown(report, basename(chart)));
  return { json: path, markdown, chart };
}
