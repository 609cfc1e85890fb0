import { describe, expect, it } from "vitest";
import { FLEET_GRAPHS, prometheusGraphUrl } from "./look-around.js";

describe("prometheusGraphUrl", () => {
  it("opens one graph panel per expression over the range, with the expressions encoded", () => {
    const url = new URL(
      prometheusGraphUrl(
        "http://127.0.0.1:9090/",
        [{ expr: 'sum by (pod) (up{job="a b"})' }, { expr: "x > 1" }],
        "5m",
      ),
    );
    expect(url.origin + url.pathname).toBe("http://127.0.0.1:9090/graph");
    expect(Object.fromEntries(url.searchParams)).toEqual({
      "g0.expr": 'sum by (pod) (up{job="a b"})',
      "g0.tab": "0",
      "g0.range_input": "5m",
      "g1.expr": "x > 1",
      "g1.tab": "0",
      "g1.range_input": "5m",
    });
  });

  it("carries every fleet graph", () => {
    const url = new URL(prometheusGraphUrl("http://127.0.0.1:1", FLEET_GRAPHS));
    expect(FLEET_GRAPHS.map((_, i) => url.searchParams.get(`g${i}.expr`))).toEqual(
      FLEET_GRAPHS.map((g) => g.expr),
    );
  });
});
