import { newHistogram, summarizeHistogram, type LatencySummary } from "../../simulator/engine/latencies.js";
import type { TunnelHistory } from "./messages.js";

export interface TunnelSummary {
  /** Edges whose tunnel went down and came back at least once. */
  readonly moved: number;
  /** Largest number of reconnects any one edge made. */
  readonly maxReconnects: number;
  /** Edges by reconnect count (only counts > 0). */
  readonly byReconnects: Record<string, number>;
  /** How long tunnels were down, in ms (hdr-histogram). */
  readonly downMs: LatencySummary;
}

/** Merges the clients' tunnel histories into one summary. */
export function summarize(histories: readonly TunnelHistory[]): TunnelSummary {
  const down = newHistogram();
  const byReconnects: Record<string, number> = {};
  let moved = 0;
  let maxReconnects = 0;
  for (const h of histories) {
    for (const ms of h.downMs) down.recordValue(Math.max(1, Math.round(ms)));
    for (const n of h.reconnects) {
      if (n === 0) continue;
      moved++;
      maxReconnects = Math.max(maxReconnects, n);
      byReconnects[String(n)] = (byReconnects[String(n)] ?? 0) + 1;
    }
  }
  return {
    moved,
    maxReconnects,
    byReconnects,
    downMs: summarizeHistogram(down),
  };
}
