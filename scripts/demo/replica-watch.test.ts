import { describe, expect, it } from "vitest";
import { metricSum } from "./replica-watch.js";

describe("metricSum over a Prometheus text exposition", () => {
  const text = [
    "# HELP edgefleet_connected_nodes Edge nodes with an open tunnel.",
    "# TYPE edgefleet_connected_nodes gauge",
    'edgefleet_connected_nodes{protocol="edgefleet"} 330',
    'edgefleet_connected_nodes{protocol="kubeedge"} 4',
    "edgefleet_connected_nodes_total 99",
    "edgefleet_owned_nodes 334",
    "edgefleet_cloudcore_process_resident_memory_bytes 2.5e+8",
  ].join("\n");

  it("sums every labelled sample of the metric and nothing whose name only starts like it", () => {
    expect(metricSum(text, "edgefleet_connected_nodes")).toBe(334);
    expect(metricSum(text, "edgefleet_owned_nodes")).toBe(334);
  });

  it("reads exponent notation and is 0 for a metric that is not there", () => {
    expect(metricSum(text, "edgefleet_cloudcore_process_resident_memory_bytes")).toBe(250_000_000);
    expect(metricSum(text, "edgefleet_missing")).toBe(0);
  });
});
