import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from "prom-client";

/** edgecore's Prometheus metrics, one registry per edgecore instance (served by the MetaServer). */
export interface EdgecoreMetrics {
  readonly registry: Registry;
  /** Objects from the cloud handled by MetaManager, by operation, type and result (stored, stale, invalid). */
  readonly metaMessages: Counter<"operation" | "type" | "result">;
  /** Time from a cloud message's arrival to its ack (the SQLite transaction included). */
  readonly metaApplySeconds: Histogram;
  /** 1 while the tunnel to the cloud is up. */
  readonly cloudConnected: Gauge;
  /** CRI calls by method and result (ok or the gRPC status name). */
  readonly criCalls: Counter<"method" | "result">;
  /** Pods held by edged, by phase. */
  readonly pods: Gauge<"phase">;
  /** Container (re)starts by edged, by reason (create, restart). */
  readonly containerStarts: Counter<"reason">;
  /** Pod status reports sent to the cloud, by result. */
  readonly podStatusReports: Counter<"result">;
  /** Stream sessions (logs, exec, attach, portForward) served, by result (ok, or the HTTP status refused with). */
  readonly streamSessions: Counter<"kind" | "result">;
}

export function createEdgecoreMetrics(
  registry = new Registry(),
  options: { readonly processMetrics?: boolean } = {},
): EdgecoreMetrics {
  const registers = [registry];
  // Process metrics (RSS, CPU, event loop lag) only for the real process: in tests several
  // edgecores share one process and would register them twice.
  if (options.processMetrics) collectDefaultMetrics({ register: registry, prefix: "edgefleet_edgecore_" });
  return {
    registry,
    metaMessages: new Counter({
      name: "edgefleet_edge_meta_messages_total",
      help: "Cloud objects handled by the edge's MetaManager, by operation, type and result",
      labelNames: ["operation", "type", "result"] as const,
      registers,
    }),
    metaApplySeconds: new Histogram({
      name: "edgefleet_edge_meta_apply_seconds",
      help: "Time from a cloud message's arrival to its ack, the SQLite transaction included",
      buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.5],
      registers,
    }),
    cloudConnected: new Gauge({
      name: "edgefleet_edge_cloud_connected",
      help: "1 while the edge's tunnel to the cloud is up",
      registers,
    }),
    criCalls: new Counter({
      name: "edgefleet_edge_cri_calls_total",
      help: "CRI calls by method and result",
      labelNames: ["method", "result"] as const,
      registers,
    }),
    pods: new Gauge({
      name: "edgefleet_edge_pods",
      help: "Pods held by edged, by phase",
      labelNames: ["phase"] as const,
      registers,
    }),
    containerStarts: new Counter({
      name: "edgefleet_edge_container_starts_total",
      help: "Containers started by edged, by reason",
      labelNames: ["reason"] as const,
      registers,
    }),
    podStatusReports: new Counter({
      name: "edgefleet_edge_pod_status_reports_total",
      help: "Pod status reports sent to the cloud, by result",
      labelNames: ["result"] as const,
      registers,
    }),
    streamSessions: new Counter({
      name: "edgefleet_edge_stream_sessions_total",
      help: "Stream sessions served (logs, exec, attach, portForward), by result: ok or the HTTP status refused with",
      labelNames: ["kind", "result"] as const,
      registers,
    }),
  };
}
