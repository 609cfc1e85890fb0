/**
 * The load report's charts as SVG, rendered by vega without a browser, and SVG → PNG through
 * librsvg's `rsvg-convert` (Debian `librsvg2-bin`, installed by scripts/setup.sh).
 */
import { spawn } from "node:child_process";
import * as vega from "vega";
import type { LoadReport, ReportSeries } from "./load-report.js";
import { SERIES_IDS } from "./load-report.js";

/** `rsvg-convert` is not installed (or not on PATH). */
export class RsvgMissingError extends Error {
  override readonly name = "RsvgMissingError";
  readonly code = "EF_ERR_RSVG_MISSING";

  constructor(
    readonly command: string,
    options?: { cause?: unknown },
  ) {
    super(
      `${command} not found: install Debian's librsvg2-bin (scripts/setup.sh does) to write PNG charts`,
      options,
    );
  }
}

/** `rsvg-convert` ran and failed, or took too long. */
export class RsvgConvertError extends Error {
  override readonly name = "RsvgConvertError";
  readonly code = "EF_ERR_RSVG_CONVERT";

  constructor(
    message: string,
    /** What the tool wrote on stderr. */
    readonly stderr: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

/** One chart, ready to be written beside the report. */
export interface RenderedChart {
  /** File name in `charts/`, `latency-over-time.svg`. */
  readonly file: string;
  readonly title: string;
  readonly svg: string;
}

export interface ChartOptions {
  /**
   * The simulator latency drawn per phase in the percentiles chart; by default `rtt` when the
   * run recorded it, else the one most phases recorded.
   */
  readonly latency?: string | undefined;
}

const WIDTH = 720;
const HEIGHT = 300;
const TIME_AXIS = "time since the start (s)";

interface Point {
  readonly t: number;
  readonly value: number;
  readonly series: string;
}

interface PhaseBand {
  readonly i: number;
  readonly name: string;
  readonly start: number;
  readonly end: number;
}

/** Renders every chart of the report; charts without data say so rather than fail. */
export async function renderCharts(report: LoadReport, options: ChartOptions = {}): Promise<RenderedChart[]> {
  const specs: { file: string; title: string; spec: vega.Spec }[] = [
    latencyOverTime(report),
    percentilesPerPhase(report, options.latency),
    connectedNodes(report),
    memoryPerNode(report),
    messagesPerSecond(report),
  ];
  const charts: RenderedChart[] = [];
  for (const { file, title, spec } of specs) charts.push({ file, title, svg: await toSvg(spec) });
  return charts;
}

/** Renders a vega spec to SVG, headless. */
export async function toSvg(spec: vega.Spec): Promise<string> {
  const view = new vega.View(vega.parse(spec), { renderer: "none" });
  // Vega warns on console for empty domains and the like; a report run has no use for them.
  view.logLevel(vega.Error);
  try {
    return await view.toSVG();
  } finally {
    view.finalize();
  }
}

const seriesOf = (report: LoadReport, id: string): ReportSeries[] =>
  report.series.list.filter((s) => s.id === id && s.points.length > 0);

const phaseBands = (report: LoadReport): PhaseBand[] =>
  report.phases.map((p, i) => ({ i, name: p.name, start: p.startSeconds, end: p.endSeconds }));

function latencyOverTime(report: LoadReport): { file: string; title: string; spec: vega.Spec } {
  const title = "HTTP latency over time";
  const values = seriesOf(report, SERIES_IDS.httpLatencyMs).flatMap((s) =>
    s.points.map(([t, value]) => ({
      t,
      value,
      series: `${s.labels["name"] ?? "?"} ${s.labels["quantile"] ?? ""}`.trim(),
    })),
  );
  return {
    file: "latency-over-time.svg",
    title,
    spec: timeChart({
      title,
      yTitle: "latency (ms)",
      legendTitle: "HTTP load, quantile",
      values,
      phases: phaseBands(report),
    }),
  };
}

function connectedNodes(report: LoadReport): { file: string; title: string; spec: vega.Spec } {
  const title = "Connected nodes per cloudcore replica";
  const perReplica = seriesOf(report, SERIES_IDS.connectedNodes);
  const values: Point[] = perReplica.flatMap((s) =>
    s.points.map(([t, value]) => ({ t, value, series: s.labels["replica"] ?? "?" })),
  );
  if (perReplica.length > 1) {
    // The fleet as a whole, where every replica has a sample (Prometheus' range steps align).
    const total = new Map<number, { value: number; n: number }>();
    for (const s of perReplica)
      for (const [t, value] of s.points) {
        const acc = total.get(t) ?? { value: 0, n: 0 };
        total.set(t, { value: acc.value + value, n: acc.n + 1 });
      }
    for (const [t, { value, n }] of [...total].sort((a, b) => a[0] - b[0]))
      if (n === perReplica.length) values.push({ t, value, series: "total" });
  }
  return {
    file: "connected-nodes.svg",
    title,
    spec: timeChart({
      title,
      yTitle: "connected nodes",
      legendTitle: "replica",
      values,
      phases: phaseBands(report),
    }),
  };
}

function memoryPerNode(report: LoadReport): { file: string; title: string; spec: vega.Spec } {
  const title = "Memory per connected node";
  const values = seriesOf(report, SERIES_IDS.memoryPerNodeBytes).flatMap((s) =>
    s.points.map(([t, value]) => ({ t, value: value / 1024, series: s.labels["component"] ?? "?" })),
  );
  return {
    file: "memory-per-node.svg",
    title,
    spec: timeChart({
      title,
      yTitle: "resident memory per node (KiB)",
      legendTitle: "component",
      values,
      phases: phaseBands(report),
    }),
  };
}

function messagesPerSecond(report: LoadReport): { file: string; title: string; spec: vega.Spec } {
  const title = "Tunnel messages per second through cloudcore";
  const values = seriesOf(report, SERIES_IDS.messagesPerSecond).flatMap((s) =>
    s.points.map(([t, value]) => ({ t, value, series: s.labels["direction"] ?? "?" })),
  );
  return {
    file: "messages-per-second.svg",
    title,
    spec: timeChart({
      title,
      yTitle: "messages per second",
      legendTitle: "direction",
      values,
      phases: phaseBands(report),
    }),
  };
}

/** The latency a per-phase chart shows when none is asked for. */
export function defaultPhaseLatency(report: LoadReport): string | undefined {
  const phasesWith = new Map<string, number>();
  for (const p of report.phases)
    for (const [name, s] of Object.entries(p.latencies))
      if (s.count > 0) phasesWith.set(name, (phasesWith.get(name) ?? 0) + 1);
  if (phasesWith.has("rtt")) return "rtt";
  return [...phasesWith].sort((a, b) => b[1] - a[1])[0]?.[0];
}

function percentilesPerPhase(
  report: LoadReport,
  asked: string | undefined,
): { file: string; title: string; spec: vega.Spec } {
  const latency = asked ?? defaultPhaseLatency(report);
  const values: { group: string; quantile: string; value: number }[] = [];
  if (latency !== undefined)
    for (const p of report.phases) {
      const s = p.latencies[latency];
      if (!s || s.count === 0) continue;
      for (const q of ["p50", "p90", "p99"] as const)
        values.push({ group: p.name, quantile: q, value: s[q] });
    }
  for (const h of report.http)
    for (const q of ["p50", "p90", "p99"] as const)
      values.push({ group: `HTTP ${h.name}`, quantile: q, value: h.latency[q] });
  const title =
    latency === undefined
      ? "Latency percentiles per HTTP load"
      : `Latency percentiles: ${latency} per phase, and per HTTP load`;
  return { file: "latency-percentiles.svg", title, spec: groupedBars(title, values) };
}

interface TimeChart {
  readonly title: string;
  readonly yTitle: string;
  readonly legendTitle: string;
  readonly values: readonly Point[];
  readonly phases: readonly PhaseBand[];
}

/** Lines over time, one per series, over the run's phases as shaded bands. */
function timeChart(c: TimeChart): vega.Spec {
  if (c.values.length === 0) return noData(c.title);
  const phases = c.phases.filter((p) => p.end > p.start);
  return {
    $schema: "https://vega.github.io/schema/vega/v5.json",
    width: WIDTH,
    height: HEIGHT,
    padding: 8,
    background: "white",
    title: { text: c.title, anchor: "start", fontSize: 14 },
    data: [
      { name: "points", values: [...c.values] },
      { name: "phases", values: [...phases] },
    ],
    scales: [
      {
        name: "x",
        type: "linear",
        domain: {
          fields: [
            { data: "points", field: "t" },
            ...(phases.length > 0
              ? [
                  { data: "phases", field: "start" },
                  { data: "phases", field: "end" },
                ]
              : []),
          ],
        },
        range: "width",
        zero: true,
      },
      {
        name: "y",
        type: "linear",
        domain: { data: "points", field: "value" },
        range: "height",
        nice: true,
        zero: true,
      },
      { name: "colour", type: "ordinal", domain: { data: "points", field: "series" }, range: "category" },
    ],
    axes: [
      { orient: "bottom", scale: "x", title: TIME_AXIS },
      { orient: "left", scale: "y", title: c.yTitle, grid: true, gridOpacity: 0.3 },
    ],
    legends: [{ stroke: "colour", title: c.legendTitle, orient: "right", symbolType: "stroke" }],
    marks: [
      {
        type: "rect",
        from: { data: "phases" },
        encode: {
          enter: {
            x: { scale: "x", field: "start" },
            x2: { scale: "x", field: "end" },
            y: { value: 0 },
            y2: { signal: "height" },
            fill: { value: "#4c78a8" },
            fillOpacity: { signal: "datum.i % 2 ? 0.03 : 0.08" },
          },
        },
      },
      {
        type: "text",
        from: { data: "phases" },
        encode: {
          enter: {
            x: { scale: "x", signal: "(datum.start + datum.end) / 2" },
            y: { value: 10 },
            text: { field: "name" },
            align: { value: "center" },
            fontSize: { value: 10 },
            fill: { value: "#555" },
          },
        },
      },
      {
        type: "group",
        from: { facet: { name: "series", data: "points", groupby: "series" } },
        marks: [
          {
            type: "line",
            from: { data: "series" },
            sort: { field: "datum.t" },
            encode: {
              enter: {
                x: { scale: "x", field: "t" },
                y: { scale: "y", field: "value" },
                stroke: { scale: "colour", field: "series" },
                strokeWidth: { value: 1.75 },
              },
            },
          },
        ],
      },
    ],
  };
}

/** Bars of p50/p90/p99 side by side, one group per phase or HTTP load. */
function groupedBars(
  title: string,
  values: readonly { group: string; quantile: string; value: number }[],
): vega.Spec {
  if (values.length === 0) return noData(title);
  return {
    $schema: "https://vega.github.io/schema/vega/v5.json",
    width: WIDTH,
    height: HEIGHT,
    padding: 8,
    background: "white",
    title: { text: title, anchor: "start", fontSize: 14 },
    data: [{ name: "bars", values: [...values] }],
    scales: [
      { name: "x", type: "band", domain: { data: "bars", field: "group" }, range: "width", padding: 0.2 },
      {
        name: "y",
        type: "linear",
        domain: { data: "bars", field: "value" },
        range: "height",
        nice: true,
        zero: true,
      },
      { name: "colour", type: "ordinal", domain: ["p50", "p90", "p99"], range: "category" },
    ],
    axes: [
      { orient: "bottom", scale: "x", title: "phase (simulator latency) or HTTP load", labelLimit: 240 },
      { orient: "left", scale: "y", title: "latency (ms)", grid: true, gridOpacity: 0.3 },
    ],
    legends: [{ fill: "colour", title: "quantile", orient: "right" }],
    marks: [
      {
        type: "group",
        from: { facet: { name: "group", data: "bars", groupby: "group" } },
        encode: { enter: { x: { scale: "x", field: "group" }, width: { scale: "x", band: 1 } } },
        // Inside the group, "width" is one group's band: the quantile scale spans it.
        signals: [{ name: "width", update: "bandwidth('x')" }],
        scales: [{ name: "q", type: "band", domain: ["p50", "p90", "p99"], range: "width", padding: 0.05 }],
        marks: [
          {
            type: "rect",
            from: { data: "group" },
            encode: {
              enter: {
                x: { scale: "q", field: "quantile" },
                width: { scale: "q", band: 1 },
                y: { scale: "y", field: "value" },
                y2: { scale: "y", value: 0 },
                fill: { scale: "colour", field: "quantile" },
              },
            },
          },
          {
            type: "text",
            from: { data: "group" },
            encode: {
              enter: {
                x: { scale: "q", field: "quantile", band: 0.5 },
                y: { scale: "y", field: "value", offset: -3 },
                text: { signal: "format(datum.value, datum.value < 10 ? '.2f' : '.1f')" },
                align: { value: "center" },
                baseline: { value: "bottom" },
                fontSize: { value: 9 },
                fill: { value: "#333" },
              },
            },
          },
        ],
      },
    ],
  };
}

/** A valid chart that says there is nothing to draw (a run without that series). */
function noData(title: string): vega.Spec {
  return {
    $schema: "https://vega.github.io/schema/vega/v5.json",
    width: WIDTH,
    height: HEIGHT,
    padding: 8,
    background: "white",
    title: { text: title, anchor: "start", fontSize: 14 },
    marks: [
      {
        type: "rect",
        encode: {
          enter: {
            x: { value: 0 },
            y: { value: 0 },
            x2: { signal: "width" },
            y2: { signal: "height" },
            stroke: { value: "#ccc" },
            fill: { value: "white" },
          },
        },
      },
      {
        type: "text",
        encode: {
          enter: {
            x: { signal: "width / 2" },
            y: { signal: "height / 2" },
            text: { value: "no data" },
            align: { value: "center" },
            baseline: { value: "middle" },
            fontSize: { value: 16 },
            fill: { value: "#888" },
          },
        },
      },
    ],
  };
}

export interface SvgToPngOptions {
  /** The converter, `rsvg-convert` on PATH by default. */
  readonly command?: string;
  /** Kill the converter after this long (ms). */
  readonly timeoutMs?: number;
}

/** Converts an SVG document to PNG with `rsvg-convert` (stdin → stdout). */
export function svgToPng(svg: string, options: SvgToPngOptions = {}): Promise<Buffer> {
  const command = options.command ?? "rsvg-convert";
  const timeoutMs = options.timeoutMs ?? 30_000;
  return new Promise<Buffer>((resolve, reject) => {
    const child = spawn(command, ["--format=png"], { stdio: ["pipe", "pipe", "pipe"] });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    let failed: Error | undefined;
    const timer = setTimeout(() => {
      failed = new RsvgConvertError(`${command} took more than ${timeoutMs} ms`, "");
      child.kill("SIGKILL");
    }, timeoutMs);
    child.stdout.on("data", (chunk: Buffer) => out.push(chunk));
    child.stderr.on("data", (chunk: Buffer) => err.push(chunk));
    child.on("error", (e: NodeJS.ErrnoException) => {
      clearTimeout(timer);
      reject(e.code === "ENOENT" ? new RsvgMissingError(command, { cause: e }) : e);
    });
    // EPIPE when the tool exits before reading all of its input: its exit status tells why.
    child.stdin.on("error", () => undefined);
    child.on("close", (code, signal) => {
      clearTimeout(timer);
      const stderr = Buffer.concat(err).toString("utf8").trim();
      if (failed) reject(failed);
      else if (code !== 0)
        reject(
          new RsvgConvertError(
            `${command} failed (${signal ?? `exit ${code}`})${stderr ? `: ${stderr}` : ""}`,
            stderr,
          ),
        );
      else {
        const png = Buffer.concat(out);
        if (png.length === 0) reject(new RsvgConvertError(`${command} wrote no PNG`, stderr));
        else resolve(png);
      }
    });
    child.stdin.end(svg);
  });
}

/** Whether `rsvg-convert` can be run (it answers `--version`). */
export function rsvgConvertAvailable(command = "rsvg-convert"): Promise<boolean> {
  return new Promise((resolve) => {
    const child = spawn(command, ["--version"], { stdio: "ignore" });
    child.on("error", () => resolve(false));
    child.on("close", (code) => resolve(code === 0));
  });
}
