/** The load report as Markdown a person reads: summary, phases, HTTP, memory, checks, charts. */
import { LATENCIES } from "../../simulator/engine/latencies.js";
import type { LoadReport } from "./load-report.js";

/** A chart beside the report, paths relative to the Markdown file. */
export interface ChartLink {
  readonly title: string;
  /** The SVG, embedded. */
  readonly file: string;
  /** The PNG of the same chart, linked, when one was written. */
  readonly png?: string | undefined;
}

/** Milliseconds with two decimals below 10, one below 1,000, then none (the header names the unit). */
export function formatMs(v: number): string {
  if (v < 10) return v.toFixed(2);
  if (v < 1000) return v.toFixed(1);
  return formatCount(Math.round(v));
}

/** Bytes in B, KiB, MiB or GiB with one decimal. */
export function formatBytes(v: number): string {
  const units = ["B", "KiB", "MiB", "GiB", "TiB"];
  let value = v;
  let unit = 0;
  while (Math.abs(value) >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit += 1;
  }
  return unit === 0 ? `${Math.round(value)} B` : `${value.toFixed(1)} ${units[unit]}`;
}

/** An integer with thousands separators (1,234,567). */
export function formatCount(v: number): string {
  return v.toLocaleString("en-US", { maximumFractionDigits: 0 });
}

/** A rate: one decimal below 100, whole numbers with separators above. */
export function formatRate(v: number): string {
  return v < 100 ? v.toFixed(1) : formatCount(Math.round(v));
}

/** Any figure: integers with separators, others with at most two decimals. */
export function formatNumber(v: number): string {
  return Number.isInteger(v) ? formatCount(v) : v.toLocaleString("en-US", { maximumFractionDigits: 2 });
}

/** Seconds as `3 min 10 s`, `42.5 s`. */
export function formatDuration(seconds: number): string {
  if (seconds < 60) return `${Number(seconds.toFixed(1))} s`;
  const whole = Math.round(seconds);
  const h = Math.floor(whole / 3600);
  const m = Math.floor((whole % 3600) / 60);
  const s = whole % 60;
  return [h > 0 ? `${h} h` : "", m > 0 ? `${m} min` : "", s > 0 ? `${s} s` : ""].filter(Boolean).join(" ");
}

/** A table cell: no pipes or line breaks from the data may break the table. */
const cell = (text: string): string => text.replace(/\|/g, "\\|").replace(/\r?\n/g, " ");
const row = (cells: readonly string[]): string => `| ${cells.join(" | ")} |`;
const table = (header: readonly string[], align: string, rows: readonly (readonly string[])[]): string[] => [
  row(header),
  row(align.split("").map((a) => (a === "r" ? "---:" : "---"))),
  ...rows.map(row),
];

const describeLatency = (name: string): string =>
  (LATENCIES as Readonly<Record<string, string>>)[name] ?? "latency reported by the simulator";

/** `2025-06-02 09:30 UTC` */
const utc = (iso: string): string => `${iso.slice(0, 10)} ${iso.slice(11, 16)} UTC`;

/** Renders `report`; `charts` are embedded in order, their paths relative to the Markdown file. */
export function renderMarkdown(report: LoadReport, charts: readonly ChartLink[] = []): string {
  const env = report.environment;
  const passed = report.checks.filter((c) => c.ok).length;
  const lines: string[] = [
    `# Load report: ${report.scenario.name}, ${utc(report.startedAt)}`,
    "",
    report.scenario.description,
    "",
    ...table(["summary", ""], "ll", [
      ["scenario", cell(report.scenario.name)],
      ["run", `${report.startedAt} → ${report.endedAt}`],
      ["duration", formatDuration(report.durationSeconds)],
      ["cloudcore replicas", formatCount(env.replicas)],
      ["nodes", `${formatCount(env.nodes)} × ${formatCount(env.podsPerNode)} pods`],
      [
        "host",
        `${env.host.cpus} CPUs, ${formatBytes(env.host.memoryBytes)} memory, Node ${cell(env.host.node)}`,
      ],
      [
        "checks against Prometheus",
        `${passed}/${report.checks.length} passed${passed < report.checks.length ? " ✗" : ""}`,
      ],
      ["errors", report.errors.length === 0 ? "none" : `${report.errors.length} distinct (below)`],
      ["tool", `edgefleet-load ${cell(report.version)}`],
    ]),
    "",
  ];

  if (report.phases.length > 0) {
    lines.push(
      "## Phases",
      "",
      ...table(
        ["phase", "from (s)", "to (s)", "duration", "msg/s", "errors"],
        "lrrrrr",
        report.phases.map((p) => [
          cell(p.name),
          formatNumber(p.startSeconds),
          formatNumber(p.endSeconds),
          formatDuration(p.endSeconds - p.startSeconds),
          formatRate(p.messagesPerSecond),
          formatCount(p.errors),
        ]),
      ),
      "",
    );
    const names = [
      ...new Set(
        report.phases.flatMap((p) =>
          Object.entries(p.latencies)
            .filter(([, s]) => s.count > 0)
            .map(([name]) => name),
        ),
      ),
    ];
    // One row per latency, one column per phase: a run has few phases and up to nine latencies.
    if (names.length > 0)
      lines.push(
        "### Simulator latencies",
        "",
        "p50 / p99 in ms per phase; – where a phase recorded none.",
        "",
        ...table(
          ["latency", "what", ...report.phases.map((p) => cell(p.name))],
          `ll${"r".repeat(report.phases.length)}`,
          names.map((n) => [
            n,
            describeLatency(n),
            ...report.phases.map((p) => {
              const s = p.latencies[n];
              return s && s.count > 0 ? `${formatMs(s.p50)} / ${formatMs(s.p99)}` : "–";
            }),
          ]),
        ),
        "",
      );
  }

  if (report.http.length > 0) {
    lines.push(
      "## HTTP load",
      "",
      "Latencies in ms, as autocannon measured them from the load generator.",
      "",
      ...table(
        [
          "name",
          "target",
          "path",
          "phase",
          "connections",
          "requests",
          "req/s",
          "p50",
          "p90",
          "p99",
          "max",
          "non-2xx",
          "errors",
          "timeouts",
        ],
        "llllrrrrrrrrrr",
        report.http.map((h) => [
          cell(h.name),
          cell(h.target),
          `\`${cell(h.path)}\``,
          cell(h.phase),
          formatCount(h.connections),
          formatCount(h.requests),
          formatRate(h.requestsPerSecond),
          formatMs(h.latency.p50),
          formatMs(h.latency.p90),
          formatMs(h.latency.p99),
          formatMs(h.latency.max),
          formatCount(h.non2xx),
          formatCount(h.errors),
          formatCount(h.timeouts),
        ]),
      ),
      "",
      "Status codes: " +
        report.http
          .map(
            (h) =>
              `${cell(h.name)} ${
                Object.entries(h.statusCodes)
                  .map(([code, n]) => `${code} × ${formatCount(n)}`)
                  .join(", ") || "none"
              }`,
          )
          .join("; ") +
        ".",
      "",
    );
  }

  const m = report.memory;
  lines.push(
    "## Memory",
    "",
    "Resident memory where the fleet stood still (the end of the last steady phase); per node is what the fleet added to it, divided by the nodes connected.",
    "",
    ...table(["component", "resident", "per node"], "lrr", [
      [
        `cloudcore (${formatCount(env.replicas)} replicas)`,
        formatBytes(m.cloudcoreRssBytes),
        formatBytes(m.cloudcorePerNodeBytes),
      ],
      ["simulator", formatBytes(m.simulatorRssBytes), formatBytes(m.simulatorPerNodeBytes)],
    ]),
    "",
  );

  if (report.checks.length > 0) {
    lines.push(
      "## Cross-check with Prometheus",
      "",
      "The run's own figures against what Prometheus recorded from cloudcore; tolerance is relative.",
      "",
      ...table(
        ["figure", "report", "Prometheus", "tolerance", "ok", "query"],
        "lrrrll",
        report.checks.map((c) => [
          cell(c.figure),
          formatNumber(c.report),
          formatNumber(c.prometheus),
          `${Number((c.tolerance * 100).toFixed(3))}%`,
          c.ok ? "✓" : "✗",
          `\`${cell(c.query)}\``,
        ]),
      ),
      "",
    );
  }

  if (charts.length > 0) {
    lines.push("## Charts", "");
    for (const c of charts) {
      lines.push(`### ${c.title}`, "", `![${c.title}](${encodeURI(c.file)})`, "");
      if (c.png) lines.push(`[PNG](${encodeURI(c.png)})`, "");
    }
  }

  if (report.errors.length > 0) {
    lines.push("## Errors", "", ...report.errors.map((e) => `- ${e.replace(/\r?\n/g, " ")}`), "");
  }
  return lines.join("\n");
}
