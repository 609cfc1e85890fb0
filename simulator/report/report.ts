/** The simulator's report: what a run measured, as JSON that can be re-rendered and merged. */
import { z } from "zod";
import { LATENCIES, LatencySet, type LatencyName, type LatencySummary } from "../engine/latencies.js";
import type { ShardCounters } from "../engine/shard-messages.js";

export interface PhaseReport {
  readonly name: string;
  readonly startedAt: string;
  readonly durationSeconds: number;
  readonly latencies: Partial<Record<LatencyName, LatencySummary>>;
  /** The histograms themselves (hdr, compressed base64), so shard reports can be merged. */
  readonly histograms: Partial<Record<LatencyName, string>>;
  /** Counter changes over the phase. */
  readonly counts: Partial<ShardCounters>;
  readonly messagesPerSecond: number;
}

export interface TimelinePoint {
  /** Seconds since the start. */
  readonly t: number;
  readonly connected: number;
  readonly registered: number;
  readonly podsRunning: number;
  readonly messagesPerSecond: number;
}

export interface SimulationReport {
  readonly tool: "edgefleet-sim";
  readonly version: string;
  readonly startedAt: string;
  readonly endedAt: string;
  readonly settings: Readonly<Record<string, unknown>>;
  readonly shards: readonly string[];
  readonly totals: {
    readonly nodes: number;
    readonly connected: number;
    readonly registered: number;
    readonly pods: number;
    readonly podsRunning: number;
    readonly joinErrors: number;
    readonly requestErrors: number;
    readonly podCreateErrors: number;
  };
  readonly memory: {
    /** Resident set of the simulator process with every node connected and idle. */
    readonly simulatorRssBytes: number;
    /** (RSS with the fleet up − RSS before it) / nodes. */
    readonly perNodeBytes: number;
  };
  readonly phases: readonly PhaseReport[];
  readonly timeline: readonly TimelinePoint[];
  readonly errors: readonly string[];
}

const latencyName = z.enum(Object.keys(LATENCIES) as [LatencyName, ...LatencyName[]]);
const summary = z.object({
  count: z.number(),
  p50: z.number(),
  p90: z.number(),
  p99: z.number(),
  max: z.number(),
});

/** Validates a report read from disk (render and merge take files from users). */
export const SimulationReportSchema = z.object({
  tool: z.literal("edgefleet-sim"),
  version: z.string(),
  startedAt: z.string(),
  endedAt: z.string(),
  settings: z.record(z.unknown()),
  shards: z.array(z.string()),
  totals: z.object({
    nodes: z.number(),
    connected: z.number(),
    registered: z.number(),
    pods: z.number(),
    podsRunning: z.number(),
    joinErrors: z.number(),
    requestErrors: z.number(),
    podCreateErrors: z.number(),
  }),
  memory: z.object({ simulatorRssBytes: z.number(), perNodeBytes: z.number() }),
  phases: z.array(
    z.object({
      name: z.string(),
      startedAt: z.string(),
      durationSeconds: z.number(),
      latencies: z.record(latencyName, summary),
      histograms: z.record(latencyName, z.string()),
      counts: z.record(z.number()),
      messagesPerSecond: z.number(),
    }),
  ),
  timeline: z.array(
    z.object({
      t: z.number(),
      connected: z.number(),
      registered: z.number(),
      podsRunning: z.number(),
      messagesPerSecond: z.number(),
    }),
  ),
  errors: z.array(z.string()),
});

/** Builds a phase's entry from its merged histograms and the counters at its start and end. */
export function phaseReport(
  name: string,
  startedAt: number,
  endedAt: number,
  latencies: LatencySet,
  before: ShardCounters,
  after: ShardCounters,
): PhaseReport {
  const counts: Partial<ShardCounters> = {};
  for (const key of Object.keys(after) as (keyof ShardCounters)[]) {
    const delta = after[key] - before[key];
    if (delta !== 0) counts[key] = delta;
  }
  const seconds = Math.max(0.001, (endedAt - startedAt) / 1000);
  return {
    name,
    startedAt: new Date(startedAt).toISOString(),
    durationSeconds: Math.round(seconds * 10) / 10,
    latencies: latencies.summary(),
    histograms: latencies.encode(),
    counts,
    messagesPerSecond: Math.round(((counts.messagesIn ?? 0) + (counts.messagesOut ?? 0)) / seconds),
  };
}

/**
 * Merges reports of shards of one run (`--shard i/n` on several machines): counters add up,
 * histograms of same-named phases merge, the timelines add up by second.
 */
export function mergeReports(reports: readonly SimulationReport[]): SimulationReport {
  const first = reports[0];
  if (!first) throw new Error("nothing to merge");
  const phases = new Map<string, { parts: PhaseReport[]; set: LatencySet }>();
  for (const r of reports)
    for (const p of r.phases) {
      const entry = phases.get(p.name) ?? { parts: [], set: new LatencySet() };
      entry.parts.push(p);
      entry.set.add(p.histograms);
      phases.set(p.name, entry);
    }
  const timeline = new Map<number, TimelinePoint>();
  for (const r of reports)
    for (const point of r.timeline) {
      const t = Math.round(point.t);
      const acc = timeline.get(t);
      timeline.set(
        t,
        acc
          ? {
              t,
              connected: acc.connected + point.connected,
              registered: acc.registered + point.registered,
              podsRunning: acc.podsRunning + point.podsRunning,
              messagesPerSecond: acc.messagesPerSecond + point.messagesPerSecond,
            }
          : { ...point, t },
      );
    }
  const sum = (f: (r: SimulationReport) => number): number => reports.reduce((n, r) => n + f(r), 0);
  return {
    ...first,
    startedAt: reports.map((r) => r.startedAt).sort()[0] ?? first.startedAt,
    endedAt:
      reports
        .map((r) => r.endedAt)
        .sort()
        .at(-1) ?? first.endedAt,
    shards: reports.flatMap((r) => r.shards),
    totals: {
      nodes: sum((r) => r.totals.nodes),
      connected: sum((r) => r.totals.connected),
      registered: sum((r) => r.totals.registered),
      pods: sum((r) => r.totals.pods),
      podsRunning: sum((r) => r.totals.podsRunning),
      joinErrors: sum((r) => r.totals.joinErrors),
      requestErrors: sum((r) => r.totals.requestErrors),
      podCreateErrors: sum((r) => r.totals.podCreateErrors),
    },
    memory: {
      simulatorRssBytes: Math.max(...reports.map((r) => r.memory.simulatorRssBytes)),
      perNodeBytes: Math.round(
        sum((r) => r.memory.perNodeBytes * r.totals.nodes) /
          Math.max(
            1,
            sum((r) => r.totals.nodes),
          ),
      ),
    },
    phases: [...phases].map(([name, { parts, set }]) => {
      const counts: Record<string, number> = {};
      for (const p of parts)
        for (const [k, v] of Object.entries(p.counts)) counts[k] = (counts[k] ?? 0) + (v ?? 0);
      return {
        name,
        startedAt: parts.map((p) => p.startedAt).sort()[0] ?? "",
        durationSeconds: Math.max(...parts.map((p) => p.durationSeconds)),
        latencies: set.summary(),
        histograms: set.encode(),
        counts,
        messagesPerSecond: parts.reduce((n, p) => n + p.messagesPerSecond, 0),
      };
    }),
    timeline: [...timeline.values()].sort((a, b) => a.t - b.t),
    errors: reports.flatMap((r) => r.errors).slice(0, 50),
  };
}
