/**
 * The PromQL of a Grafana dashboard as Prometheus would receive it: every panel target with
 * Grafana's macros (`$__rate_interval`, ...) and template variables replaced the way Grafana does
 * before it sends a query. For the dashboard tests, which run each query against a real Prometheus.
 */
import { readFileSync, readdirSync } from "node:fs";
import { join } from "node:path";
import { z } from "zod";

const Target = z.object({ refId: z.string().optional(), expr: z.string().optional() }).passthrough();
interface PanelShape {
  readonly [key: string]: unknown;
  readonly title?: string | undefined;
  readonly type?: string | undefined;
  readonly targets?: readonly z.infer<typeof Target>[] | undefined;
  readonly panels?: readonly PanelShape[] | undefined;
}
const Panel: z.ZodType<PanelShape> = z.lazy(() =>
  z
    .object({
      title: z.string().optional(),
      type: z.string().optional(),
      targets: z.array(Target).optional(),
      // A collapsed row holds its panels.
      panels: z.array(Panel).optional(),
    })
    .passthrough(),
);
const Variable = z
  .object({
    name: z.string(),
    type: z.string(),
    includeAll: z.boolean().optional(),
    allValue: z.string().nullable().optional(),
    current: z
      .object({ value: z.union([z.string(), z.array(z.string())]).optional() })
      .passthrough()
      .optional(),
    query: z.union([z.string(), z.object({ query: z.string() }).passthrough()]).optional(),
    definition: z.string().optional(),
  })
  .passthrough();
const Dashboard = z
  .object({
    title: z.string(),
    uid: z.string(),
    panels: z.array(Panel),
    templating: z.object({ list: z.array(Variable) }).optional(),
  })
  .passthrough();
export type GrafanaDashboard = z.infer<typeof Dashboard>;

/** One panel target's query, raw and ready for Prometheus. */
export interface PanelQuery {
  readonly dashboard: string;
  readonly panel: string;
  readonly panelType: string;
  readonly refId: string;
  /** As written in the dashboard. */
  readonly raw: string;
  /** Macros and variables replaced. */
  readonly expr: string;
}

/** A query template variable and the PromQL that lists its values. */
export interface VariableQuery {
  readonly dashboard: string;
  readonly variable: string;
  readonly raw: string;
  readonly expr: string;
}

/** What Grafana's built-in macros stand for in one query. */
export interface MacroValues {
  /** `$__rate_interval`: at least 4 scrape intervals, e.g. "6s". */
  readonly rateInterval: string;
  /** `$__interval`: the step of a range query, e.g. "2s". */
  readonly interval: string;
  /** `$__range`: the dashboard's time range, e.g. "30s". */
  readonly range: string;
}

/** A duration Grafana writes ("6s", "1m", "500ms") in milliseconds. */
function durationMs(text: string): number {
  const m = /^(\d+)(ms|s|m|h|d)$/.exec(text);
  if (!m) throw new Error(`not a duration like 30s: ${JSON.stringify(text)}`);
  const unit = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 }[
    m[2] as "ms" | "s" | "m" | "h" | "d"
  ];
  return Number(m[1]) * unit;
}

/** `$name`, `${name}`, `${name:format}` and the deprecated `[[name]]`. */
const REFERENCE = /\$\{(\w+)(?::[^}]*)?\}|\[\[(\w+)(?::[^\]]*)?\]\]|\$(\w+)/g;

/**
 * Replaces Grafana's macros and the dashboard's variables in `expr`. A variable stands for its
 * "All" value when it has one (a regex like `.+`), else for its current value, else `.+`. A name
 * that is neither a known macro nor a variable is an error (Grafana would send it as is and
 * Prometheus would refuse it); `$1`-style regex back-references are left alone.
 */
export function substituteMacros(
  expr: string,
  macros: MacroValues,
  variables: Readonly<Record<string, string>> = {},
): string {
  const rangeMs = durationMs(macros.range);
  const intervalMs = durationMs(macros.interval);
  const builtins: Readonly<Record<string, string>> = {
    __rate_interval: macros.rateInterval,
    __interval: macros.interval,
    __interval_ms: String(intervalMs),
    __range: macros.range,
    __range_s: String(Math.floor(rangeMs / 1000)),
    __range_ms: String(rangeMs),
  };
  return expr.replace(REFERENCE, (whole, braced?: string, bracketed?: string, bare?: string) => {
    const name = braced ?? bracketed ?? bare ?? "";
    if (/^\d+$/.test(name)) return whole;
    const value = builtins[name] ?? variables[name];
    if (value === undefined)
      throw new Error(`${whole}: neither a Grafana macro nor a variable of the dashboard`);
    return value;
  });
}

/** The value each non-datasource variable of `dashboard` stands for in a test query. */
export function variableValues(dashboard: GrafanaDashboard): Record<string, string> {
  const values: Record<string, string> = {};
  for (const v of dashboard.templating?.list ?? []) {
    // A data source variable names the panels' data source; it has no place inside PromQL.
    if (v.type === "datasource") continue;
    const current = Array.isArray(v.current?.value) ? v.current.value[0] : v.current?.value;
    if (v.includeAll) values[v.name] = v.allValue ?? ".+";
    else if (current !== undefined && current !== "" && current !== "$__all") values[v.name] = current;
    else values[v.name] = ".+";
  }
  return values;
}

/**
 * The PromQL behind a query variable's definition: `label_values(metric, label)` becomes
 * `count by (label) (metric)`, `query_result(expr)` is `expr`. Other forms are refused.
 */
export function variableProbe(definition: string): string {
  const text = definition.trim();
  const labelValues = /^label_values\((.+),\s*(\w+)\s*\)$/s.exec(text);
  if (labelValues) return `count by (${labelValues[2]}) (${labelValues[1]?.trim() ?? ""})`;
  const queryResult = /^query_result\((.+)\)$/s.exec(text);
  if (queryResult) return queryResult[1]?.trim() ?? "";
  throw new Error(
    `variable query not understood (label_values(metric, label) or query_result(expr)): ${text}`,
  );
}

function panelsOf(panels: readonly PanelShape[]): PanelShape[] {
  return panels.flatMap((p) => [p, ...panelsOf(p.panels ?? [])]);
}

export function parseDashboard(json: unknown): GrafanaDashboard {
  return Dashboard.parse(json);
}

/** Every panel target of `dashboard` that has PromQL, with macros and variables replaced. */
export function panelQueries(dashboard: GrafanaDashboard, macros: MacroValues): PanelQuery[] {
  const variables = variableValues(dashboard);
  return panelsOf(dashboard.panels).flatMap((panel) =>
    (panel.targets ?? [])
      .filter((t): t is typeof t & { expr: string } => typeof t.expr === "string")
      .map((t) => ({
        dashboard: dashboard.title,
        panel: panel.title ?? "(untitled)",
        panelType: panel.type ?? "",
        refId: t.refId ?? "",
        raw: t.expr,
        expr: substituteMacros(t.expr, macros, variables),
      })),
  );
}

/** Every query variable of `dashboard`, as the PromQL that lists its values. */
export function variableQueries(dashboard: GrafanaDashboard, macros: MacroValues): VariableQuery[] {
  const variables = variableValues(dashboard);
  return (dashboard.templating?.list ?? [])
    .filter((v) => v.type === "query")
    .map((v) => {
      const raw = v.definition ?? (typeof v.query === "string" ? v.query : (v.query?.query ?? ""));
      return {
        dashboard: dashboard.title,
        variable: v.name,
        raw,
        expr: substituteMacros(variableProbe(raw), macros, variables),
      };
    });
}

/** The dashboard files of a directory (`*.json`), parsed, by file name. */
export function loadDashboards(
  dir: string,
): { readonly file: string; readonly dashboard: GrafanaDashboard }[] {
  return readdirSync(dir)
    .filter((f) => f.endsWith(".json"))
    .sort()
    .map((file) => ({ file, dashboard: parseDashboard(JSON.parse(readFileSync(join(dir, file), "utf8"))) }));
}

/** The `edgefleet_*` metric names an expression reads (histogram series as written: `_bucket`, ...). */
export function metricNames(expr: string): string[] {
  return [...new Set(expr.match(/\bedgefleet_\w+/g) ?? [])];
}
