/**
 * `edgefleet-load compare <baseline.json> <candidate.json>`: exit 0 without regressions, 1 with
 * some, 2 when the input is bad (an unreadable file, an invalid report, a bad --threshold), so
 * CI can tell a slower build from a broken job.
 */
import { readFile } from "node:fs/promises";
import { Command } from "commander";
import { z } from "zod";
import {
  comparabilityWarnings,
  compareReports,
  DEFAULT_THRESHOLDS,
  METRIC_KINDS,
  regressions,
  type ComparisonRow,
  type MetricKind,
  type Thresholds,
} from "../compare/compare.js";
import { LoadReportError, parseLoadReport, type LoadReport } from "../report/load-report.js";
import { formatBytes, formatCount, formatMs, formatRate } from "../report/markdown.js";
import { ThresholdsSchema } from "../scenario.js";

/** Exit codes of `compare`. */
export const COMPARE_EXIT = { ok: 0, regression: 1, badInput: 2 } as const;

/** The command line or a file given to `compare` is unusable. */
export class CompareInputError extends Error {
  override readonly name = "CompareInputError";
  readonly code = "EF_ERR_COMPARE_INPUT";
}

const ThresholdFlag = z
  .string()
  .regex(
    new RegExp(`^(${METRIC_KINDS.join("|")})=[^=]+$`),
    `expected kind=value, kind one of ${METRIC_KINDS.join(", ")}`,
  )
  .transform((flag, ctx) => {
    const [kind, text] = flag.split("=") as [MetricKind, string];
    const value = Number(text);
    if (text.trim() === "" || !Number.isFinite(value)) {
      ctx.addIssue({ code: z.ZodIssueCode.custom, message: `${JSON.stringify(text)} is not a number` });
      return z.NEVER;
    }
    return { kind, value };
  });

const Flags = z
  .object({
    threshold: z.array(z.string()).default([]),
    json: z.boolean().default(false),
  })
  .strict();

/**
 * `--threshold kind=value` flags over `base` (the baseline's scenario thresholds, else
 * DEFAULT_THRESHOLDS); the error names the flag and the rule.
 */
export function parseThresholdFlags(
  flags: readonly string[],
  base: Thresholds = DEFAULT_THRESHOLDS,
): Thresholds {
  const given: Partial<Record<MetricKind, number>> = {};
  for (const flag of flags) {
    const parsed = ThresholdFlag.safeParse(flag);
    if (!parsed.success)
      throw new CompareInputError(`--threshold ${flag}: ${parsed.error.issues[0]?.message ?? "invalid"}`);
    const { kind, value } = parsed.data;
    if (given[kind] !== undefined) throw new CompareInputError(`--threshold ${kind} is given twice`);
    given[kind] = value;
  }
  const checked = ThresholdsSchema.safeParse({ ...base, ...given });
  if (!checked.success) {
    const issue = checked.error.issues[0];
    const kind = String(issue?.path[0] ?? "?");
    throw new CompareInputError(
      `--threshold ${kind}=${String(given[kind as MetricKind])}: ${issue?.message ?? "invalid"}`,
    );
  }
  return checked.data;
}

function formatValue(row: ComparisonRow, value: number | null): string {
  if (value === null) return "–";
  switch (row.unit) {
    case "ms":
      return `${formatMs(value)} ms`;
    case "msg/s":
    case "req/s":
      return `${formatRate(value)} ${row.unit}`;
    case "bytes":
      return formatBytes(value);
    case "count":
      return formatCount(value);
  }
}

function formatLimit(row: ComparisonRow): string {
  switch (row.kind) {
    case "latency":
    case "memory":
      return `≤ ${row.limit.toFixed(2)}×`;
    case "throughput":
      return `≥ ${row.limit.toFixed(2)}×`;
    case "errors":
      return `≤ ${formatCount(row.limit)}`;
  }
}

const RESULT: Record<ComparisonRow["status"], string> = {
  ok: "ok",
  regression: "✗ REGRESSION",
  "below-noise-floor": "ok (below 1 ms)",
  "only-in-baseline": "only in baseline",
  "only-in-candidate": "only in candidate",
};

/** The rows as an aligned text table, regressions marked, and a last line counting them. */
export function renderComparison(rows: readonly ComparisonRow[]): string {
  const header = ["metric", "baseline", "candidate", "ratio", "limit", "result"];
  const cells = rows.map((r) => [
    r.metric,
    formatValue(r, r.baseline),
    formatValue(r, r.candidate),
    r.ratio === null ? (r.baseline === 0 && r.candidate !== null ? "new" : "–") : `${r.ratio.toFixed(2)}×`,
    formatLimit(r),
    RESULT[r.status],
  ]);
  const widths = header.map((h, i) => Math.max(h.length, ...cells.map((c) => (c[i] ?? "").length)));
  // Text left, figures right.
  const line = (c: readonly string[]): string =>
    c
      .map((text, i) => {
        const width = widths[i] ?? 0;
        return i === 0 || i === c.length - 1 ? text.padEnd(width) : text.padStart(width);
      })
      .join("  ")
      .trimEnd();
  const n = regressions(rows).length;
  return [
    line(header),
    line(widths.map((w) => "-".repeat(w))),
    ...cells.map(line),
    "",
    n === 0 ? "no regressions" : `${n} ${n === 1 ? "regression" : "regressions"}`,
    "",
  ].join("\n");
}

async function readReport(path: string): Promise<LoadReport> {
  let text: string;
  try {
    text = await readFile(path, "utf8");
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw new CompareInputError(`${path}: cannot read (${code ?? (err as Error).message})`, { cause: err });
  }
  return parseLoadReport(text, path);
}

const describe = (path: string, r: LoadReport): string =>
  `${path}: ${r.scenario.name}, ${r.startedAt.slice(0, 16).replace("T", " ")} UTC, edgefleet-load ${r.version}`;

export function compareCommand(): Command {
  return new Command("compare")
    .description("compare a candidate load report with a baseline; exit 1 on a regression, 2 on bad input")
    .argument("<baseline>", "the baseline's report.json")
    .argument("<candidate>", "the candidate's report.json")
    .option(
      "--threshold <kind=value>",
      `a limit on candidate / baseline, repeatable: latency=${DEFAULT_THRESHOLDS.latency} (at most), throughput=${DEFAULT_THRESHOLDS.throughput} (at least), memory=${DEFAULT_THRESHOLDS.memory} (at most); errors=${DEFAULT_THRESHOLDS.errors} is how many more errors the candidate may have`,
      (value: string, previous: string[] | undefined) => [...(previous ?? []), value],
    )
    .option("--json", "print the rows as JSON instead of a table")
    .action(async (baselinePath: string, candidatePath: string, raw: Record<string, unknown>) => {
      let rows: ComparisonRow[];
      let json: boolean;
      try {
        const flags = Flags.safeParse(raw);
        if (!flags.success) {
          const issue = flags.error.issues[0];
          throw new CompareInputError(`--${String(issue?.path[0] ?? "?")}: ${issue?.message ?? "invalid"}`);
        }
        json = flags.data.json;
        // Flags are checked before the files are read, so a bad flag is named even if a file is bad too.
        parseThresholdFlags(flags.data.threshold);
        const [baseline, candidate] = await Promise.all([
          readReport(baselinePath),
          readReport(candidatePath),
        ]);
        const thresholds = parseThresholdFlags(
          flags.data.threshold,
          baseline.thresholds ?? DEFAULT_THRESHOLDS,
        );
        for (const w of comparabilityWarnings(baseline, candidate))
          process.stderr.write(`edgefleet-load compare: warning: ${w}\n`);
        rows = compareReports(baseline, candidate, thresholds);
        if (!json)
          process.stdout.write(
            [
              `baseline   ${describe(baselinePath, baseline)}`,
              `candidate  ${describe(candidatePath, candidate)}`,
              `limits     latency ≤ ${thresholds.latency}×, throughput ≥ ${thresholds.throughput}×, memory ≤ ${thresholds.memory}×, errors ≤ baseline + ${thresholds.errors}; latencies under 1 ms in both are noise`,
              "",
              "",
            ].join("\n"),
          );
      } catch (err) {
        // Anything before the comparison is about the input (CompareInputError, LoadReportError);
        // exit 1 must stay reserved for a regression, so nothing here may look like one.
        const known = err instanceof CompareInputError || err instanceof LoadReportError;
        process.stderr.write(
          `edgefleet-load compare: ${known ? err.message : `unexpected: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`}\n`,
        );
        process.exitCode = COMPARE_EXIT.badInput;
        return;
      }
      process.stdout.write(json ? JSON.stringify(rows, null, 2) + "\n" : renderComparison(rows));
      process.exitCode = regressions(rows).length > 0 ? COMPARE_EXIT.regression : COMPARE_EXIT.ok;
    });
}
