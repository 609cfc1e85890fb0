/**
 * What the main job prints so a person can look around while it runs (and after, with --keep):
 * kubectl with the right kubeconfig, each replica's /metrics, and a Prometheus page with the fleet's
 * main graphs — all on 127.0.0.1.
 */
import { builtBinary, KUBERNETES_BIN_DIR } from "../env/binaries.js";
import type { LocalEdgefleet } from "../env/local-edgefleet.js";
import { EDGE_DEPLOYMENT, EDGE_NAMESPACE } from "./edge-workload.js";

/** The graphs of the fleet-overview dashboard that matter while the main job runs. */
export const FLEET_GRAPHS: readonly { readonly title: string; readonly expr: string }[] = [
  { title: "nodes connected per replica", expr: "sum by (pod) (edgefleet_connected_nodes)" },
  { title: "nodes owned per replica", expr: "sum by (pod) (edgefleet_owned_nodes)" },
  {
    title: "tunnel messages per second, in and out",
    expr:
      'label_replace(sum(rate(edgefleet_tunnel_messages_in_total[30s])), "dir", "in", "", "") or ' +
      'label_replace(sum(rate(edgefleet_tunnel_messages_out_total[30s])), "dir", "out", "", "")',
  },
  {
    title: "ownership changes per second",
    expr: "sum by (change) (rate(edgefleet_ownership_changes_total[30s]))",
  },
  {
    title: "cloudcore resident memory per replica",
    expr: "sum by (pod) (edgefleet_cloudcore_process_resident_memory_bytes)",
  },
];

/**
 * A Prometheus /graph address that opens one graph panel per expression (the g<i>.* query
 * parameters of Prometheus's own UI), over the last `range`.
 */
export function prometheusGraphUrl(
  prometheusUrl: string,
  graphs: readonly { readonly expr: string }[],
  range = "15m",
): string {
  const query = new URLSearchParams();
  graphs.forEach((g, i) => {
    query.set(`g${i}.expr`, g.expr);
    query.set(`g${i}.tab`, "0"); // 0 = the graph tab, 1 = the table
    query.set(`g${i}.range_input`, range);
  });
  return `${prometheusUrl.replace(/\/+$/, "")}/graph?${query.toString()}`;
}

/** The lines printed under "look around …". */
export function lookAroundLines(f: LocalEdgefleet, streamKubeconfig: string, keep: boolean): string[] {
  // kubectl is the one the set-up built (no kubectl need be on PATH), as edge-workload.ts runs it.
  const kubectl = builtBinary(KUBERNETES_BIN_DIR, "kubectl");
  const lines = [
    `  export KUBECONFIG=${f.kubeconfig}`,
    `  ${kubectl} get nodes -L edgefleet.io/main-job`,
    `  ${kubectl} --kubeconfig ${streamKubeconfig} logs -n ${EDGE_NAMESPACE} deploy/${EDGE_DEPLOYMENT} -f   # through the DNAT`,
    ...f.replicas.map((r) => `  ${r.id} metrics: http://${r.metricsHost}:${r.ports.metrics}/metrics`),
  ];
  if (f.prometheus) {
    lines.push(`  Prometheus: ${f.prometheus.url}`);
    lines.push(`  dashboard (${FLEET_GRAPHS.map((g) => g.title).join("; ")}):`);
    lines.push(`    ${prometheusGraphUrl(f.prometheus.url, FLEET_GRAPHS)}`);
    lines.push(
      `  Grafana dashboards: charts/cloudcore/dashboards/*.json (data source: the Prometheus above)`,
    );
  }
  lines.push(
    keep
      ? "  stop: Ctrl-C stops everything the main job started"
      : "  stop: Ctrl-C (stops everything the main job started; --keep leaves it up after the run)",
  );
  return lines;
}
