import * as hdr from "hdr-histogram-js";

/** Every latency the simulator records (milliseconds, hdr-histogram). */
export const LATENCIES = {
  join: "join: token + CSR → certificate",
  connect: "tunnel set-up (TLS + upgrade + assertion)",
  register: "node registration request → reply",
  rtt: "tunnel round trip (WebSocket ping → pong)",
  lease: "lease renewal request → reply (apiserver written)",
  podDelivery: "pod created in the apiserver → arrived at the edge",
  podStatusWrite: "pod status patch request → reply (apiserver written)",
  podStartup: "pod created → Running in the apiserver (the Kubernetes SLO)",
  reconnect: "tunnel down → up again",
} as const;
export type LatencyName = keyof typeof LATENCIES;

export function newHistogram(): hdr.Histogram {
  return hdr.build({
    lowestDiscernibleValue: 1,
    highestTrackableValue: 24 * 3_600_000,
    numberOfSignificantValueDigits: 3,
  });
}

export interface LatencySummary {
  readonly count: number;
  readonly p50: number;
  readonly p90: number;
  readonly p99: number;
  readonly max: number;
}

export function summarizeHistogram(h: hdr.Histogram): LatencySummary {
  if (h.totalCount === 0) return { count: 0, p50: 0, p90: 0, p99: 0, max: 0 };
  return {
    count: h.totalCount,
    p50: h.getValueAtPercentile(50),
    p90: h.getValueAtPercentile(90),
    p99: h.getValueAtPercentile(99),
    max: h.maxValue,
  };
}

/** A set of named histograms that can cross a thread boundary (compressed base64) and merge. */
export class LatencySet {
  readonly #histograms = new Map<LatencyName, hdr.Histogram>();

  record(name: LatencyName, ms: number): void {
    let h = this.#histograms.get(name);
    if (!h) {
      h = newHistogram();
      this.#histograms.set(name, h);
    }
    h.recordValue(Math.max(1, Math.round(ms)));
  }

  encode(): Partial<Record<LatencyName, string>> {
    const out: Partial<Record<LatencyName, string>> = {};
    for (const [name, h] of this.#histograms) out[name] = hdr.encodeIntoCompressedBase64(h);
    return out;
  }

  add(encoded: Partial<Record<LatencyName, string>>): void {
    for (const [name, text] of Object.entries(encoded) as [LatencyName, string][]) {
      let h = this.#histograms.get(name);
      if (!h) {
        h = newHistogram();
        this.#histograms.set(name, h);
      }
      h.add(hdr.decodeFromCompressedBase64(text));
    }
  }

  summary(): Partial<Record<LatencyName, LatencySummary>> {
    const out: Partial<Record<LatencyName, LatencySummary>> = {};
    for (const [name, h] of this.#histograms) out[name] = summarizeHistogram(h);
    return out;
  }
}
