/**
 * What a load run reads back from Prometheus: the series its charts draw, and the figures its
 * checks hold the run's own counts against (so a report's numbers are the ones operators see on
 * the dashboards). One place for the PromQL, named by what it answers.
 */
import type { PrometheusClient, QueryResult } from "../prometheus-client.js";

export interface TimeRange {
  readonly start: Date;
  readonly end: Date;
  readonly stepSeconds: number;
}

/** A series for the report: labels, and [seconds since `origin`, value] points. */
export interface ReportSeries {
  readonly id: string;
  readonly labels: Record<string, string>;
  readonly points: [number, number][];
}

/** The PromQL the run uses; `window` is a rate window (at least four scrapes). */
export const QUERIES = {
  connectedNodesByReplica: `sum by (pod) (edgefleet_connected_nodes{job="cloudcore"})`,
  connectedNodes: `sum(edgefleet_connected_nodes{job="cloudcore"})`,
  messagesIn: (window: string) => `sum(rate(edgefleet_tunnel_messages_in_total{job="cloudcore"}[${window}]))`,
  messagesOut: (window: string) =>
    `sum(rate(edgefleet_tunnel_messages_out_total{job="cloudcore"}[${window}]))`,
  messagesInTotal: `sum(edgefleet_tunnel_messages_in_total{job="cloudcore"})`,
  joinsIssued: `sum(edgefleet_join_attempts_total{job="cloudcore", result="issued"})`,
  cloudcoreRss: `sum(edgefleet_cloudcore_process_resident_memory_bytes{job="cloudcore"})`,
  /** What the fleet added to the replicas' memory, per connected node (`before`: RSS before it came). */
  cloudcoreRssPerNode: (before: number) =>
    `clamp_min(sum(edgefleet_cloudcore_process_resident_memory_bytes{job="cloudcore"}) - ${before}, 0) / clamp_min(sum(edgefleet_connected_nodes{job="cloudcore"}), 1)`,
  httpRequests: (server: string, path: string) =>
    `sum(edgefleet_http_requests_total{job="cloudcore", server="${server}", path="${path}"})`,
} as const;

/** The single value of an instant query (0 when it found no series: a counter not yet incremented). */
export async function scalarAt(prometheus: PrometheusClient, expr: string, time: Date): Promise<number> {
  return valueOf(await prometheus.query(expr, time), expr);
}

function valueOf(result: QueryResult, expr: string): number {
  if (result.resultType === "scalar") return Number(result.result[1]);
  if (result.resultType === "vector") {
    if (result.result.length === 0) return 0;
    if (result.result.length > 1) throw new Error(`${expr} returned ${result.result.length} series, not one`);
    return Number(result.result[0]?.value[1]);
  }
  throw new Error(`${expr} returned a ${result.resultType}, not a number`);
}

/** A range query as report series, times relative to `origin` (the run's start). */
export async function seriesOf(
  prometheus: PrometheusClient,
  id: string,
  expr: string,
  range: TimeRange,
  origin: Date,
  labels: (metric: Readonly<Record<string, string>>) => Record<string, string> = () => ({}),
): Promise<ReportSeries[]> {
  const result = await prometheus.queryRange(expr, range);
  return result.map((s) => ({
    id,
    labels: labels(s.metric),
    points: s.values
      .map(([t, v]): [number, number] => [Math.round((t - origin.getTime() / 1000) * 10) / 10, Number(v)])
      .filter(([, v]) => Number.isFinite(v)),
  }));
}
