import { describe, expect, it } from "vitest";
import { counterDelta, parseApiserverCounters } from "./apiserver-requests.js";

const exposition = (leasePuts: number, nodeEvents: number): string =>
  [
    "# HELP apiserver_request_total [STABLE] Counter of apiserver requests",
    "# TYPE apiserver_request_total counter",
    `apiserver_request_total{code="200",component="apiserver",dry_run="",group="coordination.k8s.io",resource="leases",scope="resource",subresource="",verb="PUT",version="v1"} ${leasePuts}`,
    `apiserver_request_total{code="409",component="apiserver",dry_run="",group="coordination.k8s.io",resource="leases",scope="resource",subresource="",verb="PUT",version="v1"} 2`,
    `apiserver_request_total{code="200",component="apiserver",dry_run="",group="",resource="nodes",scope="resource",subresource="status",verb="PATCH",version="v1"} 7`,
    `apiserver_request_total{code="200",component="",dry_run="",group="",resource="",scope="",subresource="/healthz",verb="GET",version=""} 99`,
    `apiserver_watch_events_total{component="apiserver",group="",resource="nodes",version="v1"} ${nodeEvents}`,
    `apiserver_request_duration_seconds_sum{verb="PUT"} 12.5`,
  ].join("\n");

describe("apiserver request counters", () => {
  it("sums request counts by verb and resource/subresource over codes, and watch events by kind", () => {
    const counters = parseApiserverCounters(exposition(10, 30));
    expect(counters.requests).toEqual({ "PUT leases": 12, "PATCH nodes/status": 7 });
    expect(counters.watchEvents).toEqual({ nodes: 30 });
  });

  it("reports what moved between two readings, largest first", () => {
    const delta = counterDelta(
      parseApiserverCounters(exposition(10, 30)),
      parseApiserverCounters(exposition(110, 31)),
    );
    expect(delta.requests).toEqual({ "PUT leases": 100 });
    expect(Object.keys(delta.watchEvents)).toEqual(["nodes"]);
    expect(delta.watchEvents["nodes"]).toBe(1);
  });
});
