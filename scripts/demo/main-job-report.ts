/**
 * What the main job found, as the summary table it prints and the report it writes (JSON with a
 * versioned schema, and Markdown). Figures only; how they were measured is in main-job.ts.
 */
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import type { FailoverResult } from "./failover.js";

export interface MainJobReport {
  readonly schema: "edgefleet.io/main-job-report/v1";
  readonly startedAt: string;
  readonly endedAt: string;
  readonly durationSeconds: number;
  readonly settings: {
    readonly replicas: number;
    readonly nodes: number;
    readonly podsPerNode: number;
    readonly holdSeconds: number;
  };
  readonly edge: {
    readonly node: string;
    readonly pod: string;
    /** Deployment created → its pod Running in the apiserver. */
    readonly podRunningSeconds: number;
    /** `kubectl logs` through the owning replica, before and after the failover. */
    readonly logsBefore: readonly string[];
    readonly logsAfter: readonly string[];
    readonly ownerBefore: string;
    readonly ownerAfter: string;
  };
  readonly fleet: {
    /** Simulated nodes joined per second while the fleet came up (join, tunnel, registration). */
    readonly joinRatePerSecond: number;
    /** First join → every node Ready in the apiserver. */
    readonly allReadySeconds: number;
    readonly podStartupMs: { readonly p50: number; readonly p99: number; readonly count: number };
    readonly messagesPerSecond: number;
    readonly errors: number;
  };
  readonly failover: FailoverResult;
  readonly memory: {
    /** What the fleet added to the replicas' resident memory, per connected node. */
    readonly cloudcorePerNodeBytes: number;
    readonly cloudcoreRssBytes: number;
    readonly simulatorPerNodeBytes: number;
  };
  /** Read from the apiserver after the failover, with the fleet still up. */
  readonly apiserver: {
    readonly nodes: number;
    readonly nodesReady: number;
    readonly pods: number;
    readonly podsRunning: number;
  };
  readonly checks: readonly { readonly name: string; readonly ok: boolean; readonly detail: string }[];
  /** The simulator's own report (JSON, Markdown, chart) beside this one. */
  readonly simulatorReport: string;
}

const kib = (bytes: number): string => `${(bytes / 1024).toFixed(0)} KiB`;

/** The summary rows: figure, value. */
export function summaryRows(r: MainJobReport): [string, string][] {
  return [
    ["replicas / nodes / pods", `${r.settings.replicas} / ${r.settings.nodes + 1} / ${r.apiserver.pods + 1}`],
    [
      "join rate",
      `${r.fleet.joinRatePerSecond.toFixed(0)} nodes/s (all Ready in ${r.fleet.allReadySeconds.toFixed(1)} s)`,
    ],
    [
      "pod startup (created → Running)",
      `p50 ${r.fleet.podStartupMs.p50} ms, p99 ${r.fleet.podStartupMs.p99} ms`,
    ],
    ["edge pod (real edgecore)", `Running ${r.edge.podRunningSeconds.toFixed(1)} s after the Deployment`],
    [
      "failover",
      `${r.failover.killed} killed: ${r.failover.orphans} nodes re-owned in ${r.failover.reownedSeconds.toFixed(1)} s, all tunnels back in ${r.failover.recoveredSeconds.toFixed(1)} s`,
    ],
    [
      "after the failover",
      `${r.apiserver.nodesReady}/${r.apiserver.nodes} nodes Ready, ${r.apiserver.podsRunning}/${r.apiserver.pods} pods Running`,
    ],
    [
      "memory per node",
      `cloudcore ${kib(r.memory.cloudcorePerNodeBytes)}, simulator ${kib(r.memory.simulatorPerNodeBytes)}`,
    ],
    [
      "tunnel messages",
      `${r.fleet.messagesPerSecond.toFixed(0)} msgs/s while holding, ${r.fleet.errors} errors`,
    ],
    ["checks", `${r.checks.filter((c) => c.ok).length}/${r.checks.length} passed`],
  ];
}

export function table(rows: readonly (readonly string[])[]): string {
  const widths = rows[0]?.map((_, i) => Math.max(...rows.map((r) => (r[i] ?? "").length))) ?? [];
  return rows
    .map((r) =>
      r
        .map((cell, i) => cell.padEnd(widths[i] ?? 0))
        .join("  ")
        .trimEnd(),
    )
    .join("\n");
}

export function markdownOf(r: MainJobReport): string {
  const md = (rows: readonly (readonly string[])[]): string => {
    const [head, ...body] = rows;
    if (!head) return "";
    return [
      `| ${head.join(" | ")} |`,
      `| ${head.map(() => "---").join(" | ")} |`,
      ...body.map((row) => `| ${row.join(" | ")} |`),
    ].join("\n");
  };
  return [
    `# edgefleet main job, ${r.startedAt}`,
    "",
    `${r.settings.replicas} cloudcore replicas behind HAProxy, one real edgecore and ${r.settings.nodes} simulated nodes with ${r.settings.podsPerNode} pods each, held ${r.settings.holdSeconds} s; ran ${r.durationSeconds} s.`,
    "",
    "## Summary",
    "",
    md([["figure", "value"], ...summaryRows(r)]),
    "",
    "## Checks",
    "",
    md([["check", "result", "detail"], ...r.checks.map((c) => [c.name, c.ok ? "ok" : "FAILED", c.detail])]),
    "",
    "## The real edge node",
    "",
    `\`kubectl logs\` of pod \`${r.edge.pod}\` on \`${r.edge.node}\` through ${r.edge.ownerBefore}:`,
    "",
    "```",
    ...r.edge.logsBefore,
    "```",
    "",
    `and after ${r.failover.killed} was killed, through ${r.edge.ownerAfter}:`,
    "",
    "```",
    ...r.edge.logsAfter,
    "```",
    "",
    "## Failover",
    "",
    md([
      ["replica", "nodes before", "nodes after"],
      ...[...new Set([...Object.keys(r.failover.ownersBefore), ...Object.keys(r.failover.ownersAfter)])]
        .sort()
        .map((id) => [
          id === r.failover.killed ? `${id} (killed)` : id,
          String(r.failover.ownersBefore[id] ?? 0),
          String(r.failover.ownersAfter[id] ?? 0),
        ]),
    ]),
    "",
    `The simulator's own report: \`${r.simulatorReport}\`.`,
    "",
  ].join("\n");
}

export function writeMainJobReport(r: MainJobReport, dir: string): { json: string; markdown: string } {
  mkdirSync(dir, { recursive: true });
  const json = join(dir, "main-job.json");
  const markdown = join(dir, "main-job.md");
  writeFileSync(json, JSON.stringify(r, null, 2) + "\n");
  writeFileSync(markdown, markdownOf(r));
  return { json, markdown };
}
