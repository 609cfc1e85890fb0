/**
 * HTTP load on one cloudcore endpoint with autocannon. Latency is recorded from autocannon's
 * per-response events into hdr-histograms of our own (µs resolution: loopback answers take well
 * under a millisecond, below what autocannon's own histogram resolves), both for the whole run and
 * per second, for the latency-over-time chart.
 */
import autocannon, { type AutocannonResult } from "autocannon";
import * as hdr from "hdr-histogram-js";
import type { HttpLoad } from "../scenario.js";

export interface LatencyMs {
  readonly mean: number;
  readonly p50: number;
  readonly p90: number;
  readonly p99: number;
  readonly max: number;
}

export interface HttpLoadResult {
  readonly name: string;
  readonly target: string;
  readonly path: string;
  readonly phase: string;
  readonly connections: number;
  readonly durationSeconds: number;
  /** Responses received (any status). */
  readonly requests: number;
  readonly errors: number;
  readonly timeouts: number;
  readonly non2xx: number;
  readonly requestsPerSecond: number;
  readonly latency: LatencyMs;
  readonly statusCodes: Record<string, number>;
  /** Wall-clock start and end (ms since the epoch), to place the run on the timeline. */
  readonly startedAtMs: number;
  readonly endedAtMs: number;
  /** Per whole second of the run: [epoch ms of the second, p50 ms, p99 ms, responses]. */
  readonly perSecond: readonly (readonly [number, number, number, number])[];
}

const histogram = (): hdr.Histogram =>
  hdr.build({
    lowestDiscernibleValue: 1,
    highestTrackableValue: 120_000_000,
    numberOfSignificantValueDigits: 3,
  });

const ms = (us: number): number => Math.round(us) / 1000;

export function latencyOf(h: hdr.Histogram): LatencyMs {
  if (h.totalCount === 0) return { mean: 0, p50: 0, p90: 0, p99: 0, max: 0 };
  return {
    mean: ms(h.mean),
    p50: ms(h.getValueAtPercentile(50)),
    p90: ms(h.getValueAtPercentile(90)),
    p99: ms(h.getValueAtPercentile(99)),
    max: ms(h.maxValue),
  };
}

/**
 * Runs `load` against `baseUrl` (scheme, host and port; the load's path is appended) until its
 * duration is over or `signal` aborts; resolves with what was measured.
 */
export async function runHttpLoad(
  load: HttpLoad,
  baseUrl: string,
  signal?: AbortSignal,
): Promise<HttpLoadResult> {
  const overall = histogram();
  const seconds = new Map<number, hdr.Histogram>();
  const startedAtMs = Date.now();
  const result = await new Promise<AutocannonResult>((resolve, reject) => {
    const instance = autocannon(
      {
        url: `${baseUrl}${load.path}`,
        connections: load.connections,
        pipelining: load.pipelining,
        duration: load.duration / 1000,
        timeout: 10,
        ...(load.rate !== undefined && { overallRate: load.rate }),
      },
      (err, res) => (err ? reject(err) : resolve(res)),
    );
    instance.on("response", (_client, _status, _bytes, responseTimeMs) => {
      const us = Math.max(1, Math.round(responseTimeMs * 1000));
      overall.recordValue(us);
      const second = Math.floor(Date.now() / 1000) * 1000;
      let h = seconds.get(second);
      if (!h) {
        h = histogram();
        seconds.set(second, h);
      }
      h.recordValue(us);
    });
    signal?.addEventListener("abort", () => instance.stop(), { once: true });
  });
  const endedAtMs = Date.now();
  const perSecond = [...seconds.entries()]
    .sort(([a], [b]) => a - b)
    .map(([second, h]) => {
      const row = [
        second,
        ms(h.getValueAtPercentile(50)),
        ms(h.getValueAtPercentile(99)),
        h.totalCount,
      ] as const;
      h.destroy();
      return row;
    });
  const statusCodes = Object.fromEntries(
    Object.entries(result.statusCodeStats).map(([code, { count }]) => [code, count]),
  );
  const latency = latencyOf(overall);
  const requests = overall.totalCount;
  overall.destroy();
  const durationSeconds = (endedAtMs - startedAtMs) / 1000;
  return {
    name: load.name,
    target: load.target,
    path: load.path,
    phase: load.phase,
    connections: load.connections,
    durationSeconds,
    requests,
    errors: result.errors,
    timeouts: result.timeouts,
    non2xx: result.non2xx,
    requestsPerSecond: durationSeconds > 0 ? Math.round((requests / durationSeconds) * 10) / 10 : 0,
    latency,
    statusCodes,
    startedAtMs,
    endedAtMs,
    perSecond,
  };
}
