/**
 * A small typed client for Prometheus' HTTP API (`/api/v1`): instant and range queries, scrape
 * targets and metric metadata. Used by the dashboard tests and by `edgefleet-load`, which reads
 * cloudcore's and the simulator's metrics from Prometheus during a run.
 */
import { z } from "zod";

/** Prometheus could not be asked: unreachable, timed out, or an answer that is not its API's. */
export class PrometheusApiError extends Error {
  override readonly name: string = "PrometheusApiError";
  readonly code: string = "EF_ERR_PROMETHEUS_API";
}

/** Prometheus refused or failed a query; `message` is Prometheus' own error text. */
export class PrometheusQueryError extends PrometheusApiError {
  override readonly name = "PrometheusQueryError";
  override readonly code = "EF_ERR_PROMETHEUS_QUERY";

  constructor(
    /** Prometheus' errorType: bad_data (a PromQL error), execution, timeout, canceled, internal, ... */
    readonly errorType: string,
    /** The HTTP status Prometheus answered with. */
    readonly status: number,
    readonly expr: string,
    message: string,
  ) {
    super(message);
  }
}

/** One sample: unix time in seconds and the value as Prometheus writes it ("1", "NaN", "+Inf"). */
export type SamplePair = readonly [number, string];

/** A series of an instant vector: its labels and one sample. */
export interface InstantSample {
  readonly metric: Readonly<Record<string, string>>;
  readonly value: SamplePair;
}

/** A series of a range vector (matrix): its labels and its samples in time order. */
export interface RangeSeries {
  readonly metric: Readonly<Record<string, string>>;
  readonly values: readonly SamplePair[];
}

export type QueryResult =
  | { readonly resultType: "vector"; readonly result: readonly InstantSample[] }
  | { readonly resultType: "matrix"; readonly result: readonly RangeSeries[] }
  | { readonly resultType: "scalar"; readonly result: SamplePair }
  | { readonly resultType: "string"; readonly result: SamplePair };

/** A scrape target Prometheus is working on. */
export interface ActiveTarget {
  /** The target's labels after relabelling (job, instance, ...). */
  readonly labels: Readonly<Record<string, string>>;
  readonly scrapeUrl: string;
  readonly health: "up" | "down" | "unknown";
  readonly lastError: string;
  readonly lastScrape: string;
}

/** What a target's `# TYPE` and `# HELP` lines said about a metric family. */
export interface MetricMetadata {
  readonly type: string;
  readonly help: string;
  readonly unit: string;
}

const Labels = z.record(z.string());
const Pair = z.tuple([z.number(), z.string()]);
const Result = z.discriminatedUnion("resultType", [
  z.object({ resultType: z.literal("vector"), result: z.array(z.object({ metric: Labels, value: Pair })) }),
  z.object({
    resultType: z.literal("matrix"),
    result: z.array(z.object({ metric: Labels, values: z.array(Pair) })),
  }),
  z.object({ resultType: z.literal("scalar"), result: Pair }),
  z.object({ resultType: z.literal("string"), result: Pair }),
]);
const Targets = z.object({
  activeTargets: z.array(
    z.object({
      labels: Labels,
      scrapeUrl: z.string(),
      health: z.enum(["up", "down", "unknown"]),
      lastError: z.string(),
      lastScrape: z.string(),
    }),
  ),
});
const Metadata = z.record(z.array(z.object({ type: z.string(), help: z.string(), unit: z.string() })));
const Envelope = z.union([
  z.object({ status: z.literal("success"), data: z.unknown(), warnings: z.array(z.string()).optional() }),
  z.object({ status: z.literal("error"), errorType: z.string(), error: z.string() }),
]);

/** True when a query found no series (a scalar or string result is never empty). */
export function isEmptyResult(result: QueryResult): boolean {
  return (result.resultType === "vector" || result.resultType === "matrix") && result.result.length === 0;
}

export interface PrometheusClientOptions {
  /** Per request (default 10 s). */
  readonly timeoutMs?: number;
}

const seconds = (t: Date): string => String(t.getTime() / 1000);

export class PrometheusClient {
  readonly #base: string;
  readonly #timeoutMs: number;

  /** `url`: where Prometheus serves, e.g. http://127.0.0.1:9090 (a path prefix is kept). */
  constructor(url: string, options: PrometheusClientOptions = {}) {
    this.#base = url.replace(/\/+$/, "");
    this.#timeoutMs = options.timeoutMs ?? 10_000;
  }

  /** An instant query, at `time` (default: now). */
  async query(expr: string, time?: Date): Promise<QueryResult> {
    const params = new URLSearchParams({ query: expr });
    if (time) params.set("time", seconds(time));
    return Result.parse(await this.#call("/api/v1/query", params, expr));
  }

  /** A range query from `start` to `end`, one point every `stepSeconds`: always a matrix. */
  async queryRange(
    expr: string,
    range: { readonly start: Date; readonly end: Date; readonly stepSeconds: number },
  ): Promise<readonly RangeSeries[]> {
    const params = new URLSearchParams({
      query: expr,
      start: seconds(range.start),
      end: seconds(range.end),
      step: String(range.stepSeconds),
    });
    const result = Result.parse(await this.#call("/api/v1/query_range", params, expr));
    if (result.resultType !== "matrix")
      throw new PrometheusApiError(`query_range answered a ${result.resultType}, not a matrix`);
    return result.result;
  }

  /** The targets Prometheus scrapes now, with the health of their last scrape. */
  async targets(): Promise<readonly ActiveTarget[]> {
    const data = await this.#call("/api/v1/targets", new URLSearchParams({ state: "active" }));
    return Targets.parse(data).activeTargets;
  }

  /** Metadata of the metric families the targets expose (`metric` for one), by family name. */
  async metadata(metric?: string): Promise<Readonly<Record<string, readonly MetricMetadata[]>>> {
    const params = new URLSearchParams(metric === undefined ? {} : { metric });
    return Metadata.parse(await this.#call("/api/v1/metadata", params));
  }

  async #call(path: string, params: URLSearchParams, expr?: string): Promise<unknown> {
    const url = `${this.#base}${path}`;
    let res: Response;
    let text: string;
    try {
      // POST (form) for queries: no URL length limit on long expressions.
      res = await fetch(
        expr === undefined ? `${url}?${params.toString()}` : url,
        expr === undefined
          ? { signal: AbortSignal.timeout(this.#timeoutMs) }
          : {
              method: "POST",
              headers: { "content-type": "application/x-www-form-urlencoded" },
              body: params.toString(),
              signal: AbortSignal.timeout(this.#timeoutMs),
            },
      );
      text = await res.text();
    } catch (err) {
      throw new PrometheusApiError(`${url}: ${(err as Error).message}`, { cause: err });
    }
    let parsed: z.infer<typeof Envelope>;
    try {
      parsed = Envelope.parse(JSON.parse(text));
    } catch {
      throw new PrometheusApiError(
        `${url}: HTTP ${res.status}, not a Prometheus API answer: ${text.slice(0, 200)}`,
      );
    }
    if (parsed.status === "error") {
      if (expr === undefined) throw new PrometheusApiError(`${url}: ${parsed.errorType}: ${parsed.error}`);
      throw new PrometheusQueryError(parsed.errorType, res.status, expr, parsed.error);
    }
    return parsed.data;
  }
}
