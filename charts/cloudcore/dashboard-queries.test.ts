import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import {
  loadDashboards,
  metricNames,
  panelQueries,
  parseDashboard,
  substituteMacros,
  variableProbe,
  variableQueries,
  variableValues,
} from "./dashboard-queries.js";

const macros = { rateInterval: "6s", interval: "2s", range: "1m" };
const dashboardsDir = join(dirname(fileURLToPath(import.meta.url)), "dashboards");

describe("Grafana macro substitution", () => {
  it("replaces the built-in macros in every syntax Grafana accepts", () => {
    expect(substituteMacros("rate(x[$__rate_interval])", macros)).toBe("rate(x[6s])");
    expect(substituteMacros("rate(x[${__rate_interval}])", macros)).toBe("rate(x[6s])");
    expect(substituteMacros("avg_over_time(x[[[__interval]]])", macros)).toBe("avg_over_time(x[2s])");
    expect(substituteMacros("increase(x[$__range]) / $__range_s", macros)).toBe("increase(x[1m]) / 60");
    expect(substituteMacros("x * $__interval_ms + $__range_ms", macros)).toBe("x * 2000 + 60000");
  });

  it("replaces variables, leaves regex back-references alone and refuses unknown names", () => {
    const vars = { instance: ".+" };
    expect(substituteMacros('x{instance=~"$instance"}', macros, vars)).toBe('x{instance=~".+"}');
    expect(substituteMacros('x{instance=~"${instance:regex}"}', macros, vars)).toBe('x{instance=~".+"}');
    expect(substituteMacros('label_replace(x, "a", "$1", "b", "(.*)")', macros)).toBe(
      'label_replace(x, "a", "$1", "b", "(.*)")',
    );
    expect(() => substituteMacros('x{pod=~"$pod"}', macros, vars)).toThrow(/\$pod: neither/);
    expect(() => substituteMacros("rate(x[$__rate_intervall])", macros)).toThrow(/__rate_intervall/);
  });

  it("gives each variable its All value, else its current value, else .+", () => {
    const dashboard = parseDashboard({
      title: "t",
      uid: "u",
      panels: [],
      templating: {
        list: [
          { name: "datasource", type: "datasource", query: "prometheus" },
          { name: "all", type: "query", includeAll: true, allValue: ".*" },
          { name: "allDefault", type: "query", includeAll: true },
          { name: "current", type: "custom", current: { value: ["a", "b"] } },
          { name: "allSelected", type: "query", current: { value: "$__all" } },
          { name: "nothing", type: "textbox" },
        ],
      },
    });
    expect(variableValues(dashboard)).toEqual({
      all: ".*",
      allDefault: ".+",
      current: "a",
      allSelected: ".+",
      nothing: ".+",
    });
  });

  it("turns variable definitions into PromQL", () => {
    expect(variableProbe("label_values(edgefleet_connected_nodes, instance)")).toBe(
      "count by (instance) (edgefleet_connected_nodes)",
    );
    expect(variableProbe('label_values(up{job="a"},  pod )')).toBe('count by (pod) (up{job="a"})');
    expect(variableProbe("query_result(topk(3, x))")).toBe("topk(3, x)");
    expect(() => variableProbe("metrics(edgefleet_.*)")).toThrow(/not understood/);
  });

  it("finds the targets of panels inside rows and skips targets without PromQL", () => {
    const dashboard = parseDashboard({
      title: "t",
      uid: "u",
      panels: [
        { title: "a", type: "stat", targets: [{ refId: "A", expr: "x" }, { refId: "B" }] },
        { title: "row", type: "row", panels: [{ title: "b", type: "timeseries", targets: [{ expr: "y" }] }] },
      ],
    });
    expect(panelQueries(dashboard, macros).map((q) => [q.panel, q.refId, q.expr])).toEqual([
      ["a", "A", "x"],
      ["b", "", "y"],
    ]);
  });

  it("names the edgefleet metrics an expression reads", () => {
    expect(
      metricNames("sum(rate(edgefleet_a_total[1m])) / sum(edgefleet_b_bucket) + edgefleet_a_total + up"),
    ).toEqual(["edgefleet_a_total", "edgefleet_b_bucket"]);
  });
});

describe("the chart's dashboards", () => {
  const dashboards = loadDashboards(dashboardsDir);
  const rangeSelectors = (expr: string): string[] =>
    [...expr.matchAll(/\[([^\]]*)\]/g)].map((m) => m[1] ?? "");

  it("are the four dashboards, each with a uid of its own and the edgefleet prefixes", () => {
    expect(dashboards.map((d) => d.file)).toEqual([
      "apiserver-traffic.json",
      "fleet-overview.json",
      "load-test.json",
      "tunnel-health.json",
    ]);
    const uids = dashboards.map((d) => d.dashboard.uid);
    expect(new Set(uids).size).toBe(uids.length);
    for (const { file, dashboard } of dashboards) {
      expect(dashboard.uid, file).toMatch(/^edgefleet-[a-z0-9-]+$/);
      expect(dashboard.uid.length, file).toBeLessThanOrEqual(40); // Grafana's limit
      expect(dashboard.title, file).toMatch(/^edgefleet \/ /);
      expect(dashboard["schemaVersion"], file).toBe(39);
    }
  });

  it("take their data source from a Prometheus datasource variable, in every panel and target", () => {
    for (const { file, dashboard } of dashboards) {
      const ds = dashboard.templating?.list.find((v) => v.type === "datasource");
      expect(ds, file).toMatchObject({ name: "datasource", query: "prometheus" });
      for (const panel of dashboard.panels) {
        const where = `${file}: ${panel.title ?? ""}`;
        expect(panel["datasource"], where).toEqual({ type: "prometheus", uid: "${datasource}" });
        for (const t of panel.targets ?? [])
          expect(t["datasource"], where).toEqual({ type: "prometheus", uid: "${datasource}" });
      }
    }
  });

  it("have timeseries and stat panels with distinct ids, targets with distinct refIds, inside 24 columns without overlap", () => {
    for (const { file, dashboard } of dashboards) {
      const ids = dashboard.panels.map((p) => p["id"]);
      expect(new Set(ids).size, file).toBe(ids.length);
      const cells = new Set<string>();
      for (const panel of dashboard.panels) {
        const where = `${file}: ${panel.title ?? ""}`;
        expect(["timeseries", "stat"], where).toContain(panel.type);
        const refIds = (panel.targets ?? []).map((t) => t.refId);
        expect(refIds.length, where).toBeGreaterThan(0);
        expect(new Set(refIds).size, where).toBe(refIds.length);
        const { x, y, w, h } = panel["gridPos"] as { x: number; y: number; w: number; h: number };
        expect(x + w, where).toBeLessThanOrEqual(24);
        for (let i = x; i < x + w; i++)
          for (let j = y; j < y + h; j++) {
            expect(cells.has(`${i},${j}`), `${where} overlaps another panel at ${i},${j}`).toBe(false);
            cells.add(`${i},${j}`);
          }
      }
    }
  });

  it("use $__rate_interval for every range, and every macro and variable resolves", () => {
    for (const { file, dashboard } of dashboards) {
      const queries = panelQueries(dashboard, macros);
      expect(queries.length, file).toBeGreaterThan(0);
      for (const q of queries) {
        for (const r of rangeSelectors(q.raw))
          expect(r, `${file}: ${q.panel}: ${q.raw}`).toBe("$__rate_interval");
        expect(q.expr, `${file}: ${q.panel}`).not.toMatch(/\$|\[\[/);
      }
      for (const v of variableQueries(dashboard, macros))
        expect(v.expr, `${file}: $${v.variable}`).not.toBe("");
    }
  });
});
