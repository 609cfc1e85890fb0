/**
 * The load report (`report.json` of `edgefleet-load run`): what a scenario measured, as versioned
 * JSON that `compare` and the renderers read back. Times are milliseconds unless a name says
 * otherwise; `t` and `*Seconds` offsets are seconds since the run started.
 */
import { z } from "zod";

/** The `schema` value of the reports this version writes and reads. */
export const LOAD_REPORT_SCHEMA = "edgefleet.io/load-report/v1";
const SCHEMA_VERSION = 1;
const SCHEMA_PATTERN = /^edgefleet\.io\/load-report\/v(\d+)$/;

/** The `series.list` ids the charts draw; a report may carry others, which are kept but not drawn. */
export const SERIES_IDS = {
  /** Labels `{replica}`: tunnels held by each cloudcore replica. */
  connectedNodes: "connected_nodes",
  /** Labels `{direction: in|out}`: tunnel messages per second through cloudcore. */
  messagesPerSecond: "messages_per_second",
  /** Labels `{name, quantile: p50|p99}`: an HTTP load's latency per second, ms. */
  httpLatencyMs: "http_latency_ms",
  /** Labels `{component: cloudcore|simulator}`: resident memory per connected node, bytes. */
  memoryPerNodeBytes: "memory_per_node_bytes",
} as const;

/** A report could not be read: not JSON, another tool's or a newer schema, or a field out of shape. */
export class LoadReportError extends Error {
  override readonly name = "LoadReportError";
  readonly code = "EF_ERR_LOAD_REPORT";

  constructor(
    /** Where the report came from (a file name), as the message starts with it. */
    readonly source: string,
    /** The offending field, `phases.0.latencies.rtt.p99`; empty for the whole document. */
    readonly path: string,
    detail: string,
    options?: { cause?: unknown },
  ) {
    super(`${source}: ${path ? `${path}: ` : ""}${detail}`, options);
  }
}

const num = z.number().finite();
const count = z.number().int().nonnegative();
const nonNegative = num.nonnegative();

export const LatencySummarySchema = z.object({
  count,
  p50: nonNegative,
  p90: nonNegative,
  p99: nonNegative,
  max: nonNegative,
});
export type LatencySummary = z.infer<typeof LatencySummarySchema>;

export const PhaseSchema = z.object({
  name: z.string().min(1),
  startSeconds: num,
  endSeconds: num,
  /** The simulator's latencies by name (join, connect, rtt, lease, podStartup…), ms. */
  latencies: z.record(LatencySummarySchema),
  messagesPerSecond: nonNegative,
  errors: count,
});
export type PhaseReport = z.infer<typeof PhaseSchema>;

export const HttpRunSchema = z.object({
  name: z.string().min(1),
  /** `certificates` or `health` (loadtest/scenario.ts HTTP_TARGETS); kept open for later targets. */
  target: z.string().min(1),
  path: z.string(),
  phase: z.string(),
  connections: count,
  durationSeconds: nonNegative,
  requests: count,
  errors: count,
  timeouts: count,
  non2xx: count,
  requestsPerSecond: nonNegative,
  latency: z.object({
    mean: nonNegative,
    p50: nonNegative,
    p90: nonNegative,
    p99: nonNegative,
    max: nonNegative,
  }),
  statusCodes: z.record(count),
});
export type HttpRunReport = z.infer<typeof HttpRunSchema>;

export const SeriesSchema = z.object({
  id: z.string().min(1),
  labels: z.record(z.string()),
  /** `[seconds since the start, value]`. */
  points: z.array(z.tuple([num, num])),
});
export type ReportSeries = z.infer<typeof SeriesSchema>;

export const CheckSchema = z.object({
  figure: z.string(),
  report: num,
  prometheus: num,
  /** Relative: 0.05 is 5%. */
  tolerance: nonNegative,
  ok: z.boolean(),
  query: z.string(),
});
export type ReportCheck = z.infer<typeof CheckSchema>;

export const LoadReportSchema = z.object({
  schema: z.literal(LOAD_REPORT_SCHEMA),
  tool: z.literal("edgefleet-load"),
  version: z.string(),
  scenario: z.object({ name: z.string().min(1), description: z.string() }),
  startedAt: z.string().datetime({ offset: true }),
  endedAt: z.string().datetime({ offset: true }),
  durationSeconds: nonNegative,
  environment: z.object({
    replicas: count,
    nodes: count,
    podsPerNode: count,
    host: z.object({ cpus: count, memoryBytes: nonNegative, node: z.string() }),
  }),
  phases: z.array(PhaseSchema),
  http: z.array(HttpRunSchema),
  series: z.object({ stepSeconds: num.positive(), list: z.array(SeriesSchema) }),
  memory: z.object({
    cloudcoreRssBytes: nonNegative,
    cloudcorePerNodeBytes: nonNegative,
    simulatorRssBytes: nonNegative,
    simulatorPerNodeBytes: nonNegative,
  }),
  checks: z.array(CheckSchema),
  errors: z.array(z.string()),
  /**
   * The scenario's regression limits (candidate / baseline), which `compare` applies when this
   * report is the baseline. Optional: reports written before it was added have none.
   */
  thresholds: z
    .object({
      latency: num.positive(),
      throughput: num.positive(),
      memory: num.positive(),
      errors: nonNegative,
    })
    .optional(),
});
export type LoadReport = z.infer<typeof LoadReportSchema>;

/**
 * Validates a report: JSON text (a file's content) or an already parsed value. `source` names it
 * in errors (`a.json: phases.0.latencies.rtt.p99: Expected number, received string`). A report of
 * another schema version is refused before its fields are looked at.
 */
export function parseLoadReport(input: unknown, source: string): LoadReport {
  let value: unknown = input;
  if (typeof input === "string") {
    try {
      value = JSON.parse(input);
    } catch (err) {
      throw new LoadReportError(source, "", `not JSON (${(err as Error).message})`, { cause: err });
    }
  }
  checkSchemaVersion(value, source);
  const parsed = LoadReportSchema.safeParse(value);
  if (parsed.success) return parsed.data;
  const [first, ...rest] = parsed.error.issues;
  const path = first?.path.join(".") ?? "";
  const more =
    rest.length > 0 ? ` (and ${rest.length} more ${rest.length === 1 ? "problem" : "problems"})` : "";
  throw new LoadReportError(source, path, `${first?.message ?? "invalid"}${more}`, { cause: parsed.error });
}

function checkSchemaVersion(value: unknown, source: string): void {
  if (typeof value !== "object" || value === null || Array.isArray(value))
    throw new LoadReportError(source, "", "not a load report (expected a JSON object)");
  const { schema, tool } = value as { schema?: unknown; tool?: unknown };
  if (schema === LOAD_REPORT_SCHEMA) return;
  if (schema === undefined) {
    const what = typeof tool === "string" ? `a report of ${tool}` : "not a load report";
    throw new LoadReportError(source, "schema", `missing: ${what}, expected ${LOAD_REPORT_SCHEMA}`);
  }
  const version = typeof schema === "string" ? SCHEMA_PATTERN.exec(schema)?.[1] : undefined;
  if (version !== undefined && Number(version) > SCHEMA_VERSION)
    throw new LoadReportError(
      source,
      "schema",
      `${schema} is newer than this edgefleet-load reads (${LOAD_REPORT_SCHEMA}); use the edgefleet-load that wrote it`,
    );
  throw new LoadReportError(source, "schema", `${JSON.stringify(schema)} is not ${LOAD_REPORT_SCHEMA}`);
}
