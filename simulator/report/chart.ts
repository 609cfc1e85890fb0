import * as vega from "vega";
import type { TimelinePoint } from "./report.js";

/**
 * The run's timeline as an SVG line chart (nodes connected, registered, pods Running over time),
 * rendered by vega without a browser.
 */
export async function renderTimelineSvg(timeline: readonly TimelinePoint[]): Promise<string> {
  const values = timeline.flatMap((p) => [
    { t: p.t, series: "nodes connected", value: p.connected },
    { t: p.t, series: "nodes registered", value: p.registered },
    { t: p.t, series: "pods Running", value: p.podsRunning },
  ]);
  const spec: vega.Spec = {
    $schema: "https://vega.github.io/schema/vega/v5.json",
    width: 640,
    height: 280,
    padding: 8,
    background: "white",
    data: [{ name: "points", values }],
    scales: [
      { name: "x", type: "linear", domain: { data: "points", field: "t" }, range: "width", zero: true },
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
      { orient: "bottom", scale: "x", title: "seconds since start" },
      { orient: "left", scale: "y", title: "count", format: "~s" },
    ],
    legends: [{ stroke: "colour", orient: "top-left" }],
    marks: [
      {
        type: "group",
        from: { facet: { name: "series", data: "points", groupby: "series" } },
        marks: [
          {
            type: "line",
            from: { data: "series" },
            encode: {
              enter: {
                x: { scale: "x", field: "t" },
                y: { scale: "y", field: "value" },
                stroke: { scale: "colour", field: "series" },
                strokeWidth: { value: 2 },
              },
            },
          },
        ],
      },
    ],
  };
  const view = new vega.View(vega.parse(spec), { renderer: "none" });
  try {
    return await view.toSVG();
  } finally {
    view.finalize();
  }
}
