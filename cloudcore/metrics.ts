import type { OwnershipChange } from "./cluster/node-ownership.js";
import { Counter, Gauge, Histogram, Registry } from "prom-client";

/** cloudcore's Prometheus metrics, registered on one registry per cloudcore instance. */
export interface CloudcoreMetrics {
  readonly registry: Registry;
  /** Certificate requests by result: issued, bad_request, unauthorized, forbidden, error. */
  readonly joinAttempts: Counter<"result">;
  /** Tunnel upgrade attempts by result: accepted, unauthorized, bad_request. */
  readonly tunnelAttempts: Counter<"listener" | "result">;
  readonly connectedNodes: Gauge;
  /** Frames waiting in cloudhub's per-node queues (the socket buffer was full). */
  readonly queuedFrames: Gauge;
  /** Time a frame waited in cloudhub before it was written to the socket. */
  readonly sendWait: Histogram;
  readonly messagesIn: Counter<"operation" | "type">;
  readonly messagesOut: Counter<"operation" | "type">;
  /** Frames the decoder refused, by error code. */
  readonly rejectedFrames: Counter<"code">;
  /** Sessions ended, by close code name. */
  readonly sessionsClosed: Counter<"reason">;
  /** Watch events the controllers received, by resource and event type. */
  readonly watchEvents: Counter<"resource" | "type">;
  /** apiserver request latency, by verb, resource and HTTP code. */
  readonly apiserverLatency: Histogram<"verb" | "resource" | "code">;
  /** Edge → cloud requests handled by the controllers, by type, operation and result. */
  readonly upstreamRequests: Counter<"type" | "operation" | "result">;
  /** Edge requests answered by a newer one written in their place (coalesced Lease renewals). */
  readonly upstreamCoalesced: Counter<"type">;
  /** Per node with unacked changes: age of its oldest one (set from `setSyncLagSource`). */
  readonly nodeSyncLag: Gauge<"node">;
  /** Stream requests (logs, exec, attach, portForward) by result: an HTTP status refused, or relayed. */
  readonly streamRequests: Counter<"kind" | "result">;
  /** Stream sessions being relayed now, by kind. */
  readonly streamSessions: Gauge<"kind">;
  /** Bytes relayed by stream sessions, to and from edges. */
  readonly streamBytes: Counter<"direction">;
  /** Where the sync-lag gauge reads from at scrape time. */
  setSyncLagSource(source: () => Iterable<[string, number]>): void;
  /** Edge nodes this replica owns (its Redis locks), read at scrape time. */
  readonly ownedNodes: Gauge;
  /** Where the owned-nodes gauge reads from at scrape time. */
  setOwnedNodesSource(source: () => number): void;
  /**
   * HTTP requests answered by the certificate server and the health endpoint, by server, path
   * (known routes only, the rest is "other": a scanner cannot grow the series) and status code.
   */
  readonly httpRequests: Counter<"server" | "path" | "code">;
  /** Ownership changes seen by this replica, by OwnershipChange (cluster/node-ownership.ts). */
  readonly ownershipChanges: Counter<"change">;
}

const OWNERSHIP_CHANGES: readonly OwnershipChange[] = [
  "claimed",
  "handed_over",
  "taken_over",
  "adopted",
  "released",
  "lost",
];

/**
 * Every label value is exported from the start, at 0: a rate over a series that does not exist yet
 * is no data (an empty dashboard panel), not the 0 it is.
 */
function withZeroSeries(counter: Counter<"change">, changes: readonly string[]): Counter<"change"> {
  for (const change of changes) counter.inc({ change }, 0);
  return counter;
}

export function createCloudcoreMetrics(registry = new Registry()): CloudcoreMetrics {
  const registers = [registry];
  let syncLagSource: () => Iterable<[string, number]> = () => [];
  let ownedNodesSource: () => number = () => 0;
  return {
    watchEvents: new Counter({
      name: "edgefleet_watch_events_total",
      help: "Watch events received from the apiserver, by resource and event type",
      labelNames: ["resource", "type"] as const,
      registers,
    }),
    apiserverLatency: new Histogram({
      name: "edgefleet_apiserver_request_duration_seconds",
      help: "apiserver request latency, by verb, resource and HTTP code",
      labelNames: ["verb", "resource", "code"] as const,
      buckets: [0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 10],
      registers,
    }),
    upstreamRequests: new Counter({
      name: "edgefleet_upstream_requests_total",
      help: "Edge requests handled by the controllers, by resource type, operation and result",
      labelNames: ["type", "operation", "result"] as const,
      registers,
    }),
    upstreamCoalesced: new Counter({
      name: "edgefleet_upstream_coalesced_total",
      help: "Edge requests answered by a newer one of the same node written in their place (Lease renewals waiting behind each other), by resource type",
      labelNames: ["type"] as const,
      registers,
    }),
    nodeSyncLag: new Gauge({
      name: "edgefleet_node_sync_lag_seconds",
      help: "For each node with unacknowledged changes: seconds since the oldest of them was queued (absent when in sync)",
      labelNames: ["node"] as const,
      registers,
      collect() {
        this.reset();
        for (const [node, seconds] of syncLagSource()) this.set({ node }, seconds);
      },
    }),
    setSyncLagSource(source) {
      syncLagSource = source;
    },
    ownedNodes: new Gauge({
      name: "edgefleet_owned_nodes",
      help: "Edge nodes this replica owns (holds the Redis lock of)",
      registers,
      collect() {
        this.set(ownedNodesSource());
      },
    }),
    setOwnedNodesSource(source) {
      ownedNodesSource = source;
    },
    httpRequests: new Counter({
      name: "edgefleet_http_requests_total",
      help: "HTTP requests answered by the certificate server and the health endpoint, by server, path and code",
      labelNames: ["server", "path", "code"] as const,
      registers,
    }),
    ownershipChanges: withZeroSeries(
      new Counter({
        name: "edgefleet_ownership_changes_total",
        help: "Node ownership changes seen by this replica: claimed, handed_over, taken_over, adopted, released, lost",
        labelNames: ["change"] as const,
        registers,
      }),
      OWNERSHIP_CHANGES,
    ),
    registry,
    joinAttempts: new Counter({
      name: "edgefleet_join_attempts_total",
      help: "Certificate requests to the certificate server, by result",
      labelNames: ["result"] as const,
      registers,
    }),
    tunnelAttempts: new Counter({
      name: "edgefleet_tunnel_attempts_total",
      help: "Tunnel upgrade requests, by listener and result",
      labelNames: ["listener", "result"] as const,
      registers,
    }),
    connectedNodes: new Gauge({
      name: "edgefleet_connected_nodes",
      help: "Edge nodes with an open tunnel to this replica",
      registers,
    }),
    queuedFrames: new Gauge({
      name: "edgefleet_tunnel_queued_frames",
      help: "Frames waiting in per-node queues because the socket buffer was full",
      registers,
    }),
    sendWait: new Histogram({
      name: "edgefleet_tunnel_send_wait_seconds",
      help: "Time a frame waited in the per-node queue before being written to the socket (0 when written at once)",
      buckets: [0.0001, 0.001, 0.01, 0.1, 1, 10, 60],
      registers,
    }),
    messagesIn: new Counter({
      name: "edgefleet_tunnel_messages_in_total",
      help: "Messages received from edges, by operation and resource type",
      labelNames: ["operation", "type"] as const,
      registers,
    }),
    messagesOut: new Counter({
      name: "edgefleet_tunnel_messages_out_total",
      help: "Messages sent to edges, by operation and resource type",
      labelNames: ["operation", "type"] as const,
      registers,
    }),
    rejectedFrames: new Counter({
      name: "edgefleet_tunnel_rejected_frames_total",
      help: "Frames refused by the decoder, by error code",
      labelNames: ["code"] as const,
      registers,
    }),
    sessionsClosed: new Counter({
      name: "edgefleet_tunnel_sessions_closed_total",
      help: "Tunnel sessions ended, by reason",
      labelNames: ["reason"] as const,
      registers,
    }),
    streamRequests: new Counter({
      name: "edgefleet_stream_requests_total",
      help: "kubelet streaming requests from the apiserver (logs, exec, attach, portForward), by result",
      labelNames: ["kind", "result"] as const,
      registers,
    }),
    streamSessions: new Gauge({
      name: "edgefleet_stream_sessions",
      help: "Stream sessions being relayed to edges, by kind",
      labelNames: ["kind"] as const,
      registers,
    }),
    streamBytes: new Counter({
      name: "edgefleet_stream_bytes_total",
      help: "Bytes relayed by stream sessions, by direction (to_edge, from_edge)",
      labelNames: ["direction"] as const,
      registers,
    }),
  };
}
