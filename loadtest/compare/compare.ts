/**
 * Two load reports side by side: the candidate's figures against the baseline's, each judged by a
 * limit on candidate / baseline (latency, memory: at most; throughput: at least) or, for error
 * counts, on how many more the candidate may have.
 */
import type { LoadReport } from "../report/load-report.js";
import { ThresholdsSchema, type Thresholds } from "../scenario.js";

export type { Thresholds } from "../scenario.js";

/** latency 1.2 (20% slower fails), throughput 0.8, memory 1.2, errors 0. */
export const DEFAULT_THRESHOLDS: Thresholds = ThresholdsSchema.parse({});

/** Latencies below this in both reports are scheduling noise, never a regression. */
export const LATENCY_NOISE_FLOOR_MS = 1;

export const METRIC_KINDS = ["latency", "throughput", "memory", "errors"] as const;
export type MetricKind = (typeof METRIC_KINDS)[number];

export type MetricUnit = "ms" | "msg/s" | "req/s" | "bytes" | "count";

export type RowStatus =
  | "ok"
  | "regression"
  /** Over the limit, but both latencies are below LATENCY_NOISE_FLOOR_MS. */
  | "below-noise-floor"
  | "only-in-baseline"
  | "only-in-candidate";

export interface ComparisonRow {
  /** `phase steady: rtt p99`, `http ca-certificate: req/s`, `memory: cloudcore per node`. */
  readonly metric: string;
  readonly kind: MetricKind;
  readonly unit: MetricUnit;
  /** null when the metric is only in the other report. */
  readonly baseline: number | null;
  readonly candidate: number | null;
  /** candidate / baseline; null when either is missing or the baseline is 0. */
  readonly ratio: number | null;
  /** A ratio (latency, memory: at most; throughput: at least), or for errors a count (at most). */
  readonly limit: number;
  readonly regression: boolean;
  readonly status: RowStatus;
}

interface Metric {
  readonly key: string;
  readonly metric: string;
  readonly kind: MetricKind;
  readonly unit: MetricUnit;
  readonly value: number;
}

/**
 * Compares `candidate` with `baseline`. Phases are matched by name (and occurrence), latencies by
 * name within a phase, HTTP loads by name. Unset thresholds take DEFAULT_THRESHOLDS.
 */
export function compareReports(
  baseline: LoadReport,
  candidate: LoadReport,
  thresholds: Partial<Thresholds> = {},
): ComparisonRow[] {
  const limits: Thresholds = { ...DEFAULT_THRESHOLDS, ...thresholds };
  const before = metricsOf(baseline);
  const after = new Map(metricsOf(candidate).map((m) => [m.key, m]));
  const rows: ComparisonRow[] = [];
  for (const b of before) {
    const c = after.get(b.key);
    after.delete(b.key);
    rows.push(c ? judge(b, b.value, c.value, limits) : absent(b, "only-in-baseline", limits));
  }
  for (const c of after.values()) rows.push(absent(c, "only-in-candidate", limits));
  return rows;
}

/** The rows that are regressions. */
export const regressions = (rows: readonly ComparisonRow[]): ComparisonRow[] =>
  rows.filter((r) => r.regression);

/**
 * Differences that make two reports hard to compare (another scenario, fleet size or host); the
 * comparison still runs, these are for the reader.
 */
export function comparabilityWarnings(baseline: LoadReport, candidate: LoadReport): string[] {
  const warnings: string[] = [];
  const differ = (what: string, a: string | number, b: string | number): void => {
    if (a !== b) warnings.push(`${what} differs: baseline ${a}, candidate ${b}`);
  };
  differ("scenario", baseline.scenario.name, candidate.scenario.name);
  differ("cloudcore replicas", baseline.environment.replicas, candidate.environment.replicas);
  differ("nodes", baseline.environment.nodes, candidate.environment.nodes);
  differ("pods per node", baseline.environment.podsPerNode, candidate.environment.podsPerNode);
  differ("host CPUs", baseline.environment.host.cpus, candidate.environment.host.cpus);
  return warnings;
}

function limitOf(kind: MetricKind, limits: Thresholds, baseline: number | null): number {
  switch (kind) {
    case "latency":
      return limits.latency;
    case "throughput":
      return limits.throughput;
    case "memory":
      return limits.memory;
    case "errors":
      return (baseline ?? 0) + limits.errors;
  }
}

function absent(
  m: Metric,
  status: "only-in-baseline" | "only-in-candidate",
  limits: Thresholds,
): ComparisonRow {
  const inBaseline = status === "only-in-baseline";
  return {
    metric: m.metric,
    kind: m.kind,
    unit: m.unit,
    baseline: inBaseline ? m.value : null,
    candidate: inBaseline ? null : m.value,
    ratio: null,
    limit: limitOf(m.kind, limits, inBaseline ? m.value : null),
    regression: false,
    status,
  };
}

function judge(m: Metric, b: number, c: number, limits: Thresholds): ComparisonRow {
  const limit = limitOf(m.kind, limits, b);
  const ratio = b !== 0 ? c / b : c === 0 ? 1 : null;
  let over: boolean;
  switch (m.kind) {
    case "latency":
      // A zero baseline (below the floor) against a candidate above it counts as over the limit.
      over = ratio === null ? c >= LATENCY_NOISE_FLOOR_MS : ratio > limit;
      break;
    case "memory":
      // A zero baseline is a figure the run could not measure, not a free lunch to beat.
      over = ratio !== null && ratio > limit;
      break;
    case "throughput":
      over = ratio !== null && ratio < limit;
      break;
    case "errors":
      over = c > limit;
      break;
  }
  const noise = m.kind === "latency" && b < LATENCY_NOISE_FLOOR_MS && c < LATENCY_NOISE_FLOOR_MS;
  const regression = over && !noise;
  return {
    metric: m.metric,
    kind: m.kind,
    unit: m.unit,
    baseline: b,
    candidate: c,
    ratio,
    limit,
    regression,
    status: regression ? "regression" : over ? "below-noise-floor" : "ok",
  };
}

/** Every comparable figure of a report, in reading order, keyed for matching. */
function metricsOf(report: LoadReport): Metric[] {
  const metrics: Metric[] = [];
  const seen = new Map<string, number>();
  for (const p of report.phases) {
    // A scenario may run a phase type twice under one name; the second is `steady#2`.
    const n = (seen.get(p.name) ?? 0) + 1;
    seen.set(p.name, n);
    const phase = n === 1 ? p.name : `${p.name}#${n}`;
    metrics.push({
      key: `phase\0${phase}\0msg/s`,
      metric: `phase ${phase}: msg/s`,
      kind: "throughput",
      unit: "msg/s",
      value: p.messagesPerSecond,
    });
    metrics.push({
      key: `phase\0${phase}\0errors`,
      metric: `phase ${phase}: errors`,
      kind: "errors",
      unit: "count",
      value: p.errors,
    });
    for (const [name, s] of Object.entries(p.latencies)) {
      // A latency without samples has no percentiles to compare.
      if (s.count === 0) continue;
      for (const q of ["p50", "p99"] as const)
        metrics.push({
          key: `phase\0${phase}\0${name}\0${q}`,
          metric: `phase ${phase}: ${name} ${q}`,
          kind: "latency",
          unit: "ms",
          value: s[q],
        });
    }
  }
  for (const h of report.http) {
    const m = (what: string, kind: MetricKind, unit: MetricUnit, value: number): Metric => ({
      key: `http\0${h.name}\0${what}`,
      metric: `http ${h.name}: ${what}`,
      kind,
      unit,
      value,
    });
    metrics.push(
      m("req/s", "throughput", "req/s", h.requestsPerSecond),
      m("p50", "latency", "ms", h.latency.p50),
      m("p99", "latency", "ms", h.latency.p99),
      // autocannon counts timeouts among errors.
      m("errors", "errors", "count", h.errors),
      m("non-2xx", "errors", "count", h.non2xx),
    );
  }
  metrics.push(
    {
      key: "memory\0cloudcore",
      metric: "memory: cloudcore per node",
      kind: "memory",
      unit: "bytes",
      value: report.memory.cloudcorePerNodeBytes,
    },
    {
      key: "memory\0simulator",
      metric: "memory: simulator per node",
      kind: "memory",
      unit: "bytes",
      value: report.memory.simulatorPerNodeBytes,
    },
  );
  return metrics;
}
