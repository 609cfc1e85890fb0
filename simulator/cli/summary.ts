import type { SimulationReport } from "../report/report.js";

const ms = (v: number | undefined): string =>
  v === undefined ? "—" : v >= 10_000 ? `${(v / 1000).toFixed(1)} s` : `${Math.round(v)} ms`;

/** The few lines a person reads at the end of a run; the rest is in the report files. */
export function printSummary(
  report: SimulationReport,
  files: { json: string; markdown: string; chart: string },
  out: NodeJS.WritableStream = process.stdout,
): void {
  const t = report.totals;
  const find = (
    name: "join" | "podStartup" | "rtt" | "reconnect",
  ): { p50: number; p99: number } | undefined => {
    for (const p of report.phases) {
      const s = p.latencies[name];
      if (s && s.count > 0) return s;
    }
    return undefined;
  };
  const startup = find("podStartup");
  const rtt = find("rtt");
  const join = find("join");
  out.write(
    [
      "",
      `nodes     ${t.registered}/${t.nodes} registered, ${t.connected} connected at the end`,
      `pods      ${t.podsRunning}/${t.pods} Running`,
      `join      p50 ${ms(join?.p50)}  p99 ${ms(join?.p99)}`,
      `startup   p50 ${ms(startup?.p50)}  p99 ${ms(startup?.p99)}  (created → Running in the apiserver)`,
      `tunnel    RTT p50 ${ms(rtt?.p50)}  p99 ${ms(rtt?.p99)}`,
      `memory    ${(report.memory.perNodeBytes / 1024).toFixed(1)} KiB per emulated node (${(report.memory.simulatorRssBytes / 2 ** 20).toFixed(0)} MiB resident)`,
      `errors    join ${t.joinErrors}, requests ${t.requestErrors}, pod creates ${t.podCreateErrors}`,
      `report    ${files.json}`,
      `          ${files.markdown}`,
      `          ${files.chart}`,
      "",
    ].join("\n"),
  );
}
