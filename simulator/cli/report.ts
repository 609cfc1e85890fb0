import { readFileSync } from "node:fs";
import { Command } from "commander";
import { mergeReports, SimulationReportSchema, type SimulationReport } from "../report/report.js";
import { writeReport } from "../report/write-report.js";
import { printSummary } from "./summary.js";

function readReport(path: string): SimulationReport {
  let parsed: unknown;
  try {
    parsed = JSON.parse(readFileSync(path, "utf8"));
  } catch (err) {
    throw new Error(`${path}: ${(err as Error).message}`);
  }
  const result = SimulationReportSchema.safeParse(parsed);
  if (!result.success) {
    const issue = result.error.issues[0];
    throw new Error(
      `${path}: not a simulator report: field ${issue?.path.join(".") || "(top)"}: ${issue?.message ?? ""}`,
    );
  }
  return result.data as SimulationReport;
}

/** `edgefleet-sim report render|merge`: re-render a saved report, or merge the reports of shards. */
export function reportCommand(): Command {
  const report = new Command("report").description("render or merge saved reports");
  report
    .command("render")
    .description("write the Markdown summary and SVG chart of a saved JSON report, and print the summary")
    .argument("<report.json>")
    .action(async (path: string) => {
      const parsed = readReport(path);
      printSummary(parsed, await writeReport(parsed, path));
    });
  report
    .command("merge")
    .description("merge the reports of the shards of one run (--shard i/n) into one")
    .argument("<reports...>")
    .requiredOption("--out <report.json>", "where the merged report goes")
    .action(async (paths: string[], flags: { out: string }) => {
      const merged = mergeReports(paths.map(readReport));
      printSummary(merged, await writeReport(merged, flags.out));
    });
  return report;
}
