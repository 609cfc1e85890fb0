/**
 * A realistic, valid load report for tests (renderers, compare, the runner's own tests): the
 * `capacity` scenario's shape on a small host, with deterministic figures and series.
 */
import { LOAD_REPORT_SCHEMA, type LoadReport, type ReportSeries } from "./load-report.js";

const STEP = 2;
const END = 190;

const phases: LoadReport["phases"] = [
  {
    name: "ramp",
    startSeconds: 0,
    endSeconds: 12.4,
    latencies: {
      join: { count: 5000, p50: 38.2, p90: 61.5, p99: 118.3, max: 240.1 },
      connect: { count: 5000, p50: 9.4, p90: 15.8, p99: 33.6, max: 71.2 },
      register: { count: 5000, p50: 6.1, p90: 11.2, p99: 25.9, max: 48.4 },
    },
    messagesPerSecond: 1840,
    errors: 0,
  },
  {
    name: "pods",
    startSeconds: 12.4,
    endSeconds: 65.8,
    latencies: {
      podDelivery: { count: 10000, p50: 21.7, p90: 44.3, p99: 96.5, max: 181 },
      podStatusWrite: { count: 20000, p50: 5.3, p90: 9.8, p99: 22.4, max: 63.7 },
      podStartup: { count: 10000, p50: 2104, p90: 2870, p99: 3342, max: 3910 },
      lease: { count: 26000, p50: 3.9, p90: 7.2, p99: 16.1, max: 40.3 },
    },
    messagesPerSecond: 2310,
    errors: 0,
  },
  {
    name: "steady",
    startSeconds: 65.8,
    endSeconds: 185.8,
    latencies: {
      rtt: { count: 20000, p50: 0.6, p90: 1.4, p99: 3.8, max: 12.5 },
      lease: { count: 60000, p50: 3.6, p90: 6.9, p99: 14.7, max: 37.9 },
      podStatusWrite: { count: 4000, p50: 5.1, p90: 9.1, p99: 19.8, max: 41.2 },
    },
    messagesPerSecond: 1020,
    errors: 0,
  },
  {
    name: "chaos",
    startSeconds: 185.8,
    endSeconds: 190,
    latencies: {
      reconnect: { count: 500, p50: 5210, p90: 5480, p99: 5730, max: 5912 },
      rtt: { count: 700, p50: 0.7, p90: 1.6, p99: 4.4, max: 9.9 },
    },
    messagesPerSecond: 1460,
    errors: 3,
  },
];

const http: LoadReport["http"] = [
  {
    name: "ca-certificate",
    target: "certificates",
    path: "/ca.crt",
    phase: "steady",
    connections: 16,
    durationSeconds: 60,
    requests: 148_320,
    errors: 0,
    timeouts: 0,
    non2xx: 0,
    requestsPerSecond: 2472,
    latency: { mean: 6.4, p50: 5.8, p90: 9.6, p99: 17.3, max: 58.2 },
    statusCodes: { "200": 148_320 },
  },
  {
    name: "readyz",
    target: "health",
    path: "/readyz",
    phase: "steady",
    connections: 4,
    durationSeconds: 60,
    requests: 12_000,
    errors: 0,
    timeouts: 0,
    non2xx: 2,
    requestsPerSecond: 200,
    latency: { mean: 1.2, p50: 1.1, p90: 1.7, p99: 3.2, max: 11.4 },
    statusCodes: { "200": 11_998, "503": 2 },
  },
];

/** Points every STEP seconds from `from` to `to`, with a value computed from t. */
function points(from: number, to: number, value: (t: number) => number): [number, number][] {
  const out: [number, number][] = [];
  for (let t = from; t <= to; t += STEP) out.push([t, Math.round(value(t) * 100) / 100]);
  return out;
}

/** A bounded, deterministic wobble in [-1, 1]. */
const wobble = (t: number): number => Math.sin(t * 0.7) * 0.6 + Math.sin(t * 0.13) * 0.4;

function series(): ReportSeries[] {
  const connected = (share: number) => (t: number) => {
    const fleet = t < 12 ? (5000 * t) / 12 : t >= 186 ? 4500 : 5000;
    return Math.round(fleet * share);
  };
  return [
    { id: "connected_nodes", labels: { replica: "cloudcore-0" }, points: points(0, END, connected(0.34)) },
    { id: "connected_nodes", labels: { replica: "cloudcore-1" }, points: points(0, END, connected(0.33)) },
    { id: "connected_nodes", labels: { replica: "cloudcore-2" }, points: points(0, END, connected(0.33)) },
    {
      id: "messages_per_second",
      labels: { direction: "in" },
      points: points(0, END, (t) => (t < 66 ? 1300 : 560) + 40 * wobble(t)),
    },
    {
      id: "messages_per_second",
      labels: { direction: "out" },
      points: points(0, END, (t) => (t < 66 ? 900 : 460) + 30 * wobble(t + 1)),
    },
    ...http.flatMap((h) =>
      (["p50", "p99"] as const).map((quantile): ReportSeries => ({
        id: "http_latency_ms",
        labels: { name: h.name, quantile },
        points: points(70, 130, (t) => h.latency[quantile] * (1 + 0.15 * wobble(t))),
      })),
    ),
    {
      id: "memory_per_node_bytes",
      labels: { component: "cloudcore" },
      points: points(12, END, (t) => 96_000 + 2_000 * wobble(t)),
    },
    {
      id: "memory_per_node_bytes",
      labels: { component: "simulator" },
      points: points(12, END, (t) => 41_000 + 800 * wobble(t)),
    },
  ];
}

/** A valid report of a finished `capacity` run; `overrides` replace top-level fields. */
export function sampleReport(overrides: Partial<LoadReport> = {}): LoadReport {
  const report: LoadReport = {
    schema: LOAD_REPORT_SCHEMA,
    tool: "edgefleet-load",
    version: "0.1.0",
    scenario: {
      name: "capacity",
      description:
        "3 replicas, 5,000 nodes with 2 pods each, 2 minutes steady under HTTP load, a 10% tunnel cut",
    },
    startedAt: "2025-06-02T09:30:00.000Z",
    endedAt: "2025-06-02T09:33:10.000Z",
    durationSeconds: END,
    environment: {
      replicas: 3,
      nodes: 5000,
      podsPerNode: 2,
      host: { cpus: 4, memoryBytes: 16 * 2 ** 30, node: "v20.19.0" },
    },
    phases: structuredClone(phases),
    http: structuredClone(http),
    series: { stepSeconds: STEP, list: series() },
    memory: {
      cloudcoreRssBytes: 3 * 160 * 2 ** 20,
      cloudcorePerNodeBytes: Math.round((3 * 160 * 2 ** 20) / 5000),
      simulatorRssBytes: 205 * 2 ** 20,
      simulatorPerNodeBytes: 41_000,
    },
    checks: [
      {
        figure: "certificates issued (joins)",
        report: 5000,
        prometheus: 5000,
        tolerance: 0,
        ok: true,
        query: `sum(edgefleet_join_attempts_total{job="cloudcore", result="issued"})`,
      },
      {
        figure: "nodes connected at the end of steady",
        report: 5000,
        prometheus: 5000,
        tolerance: 0,
        ok: true,
        query: `sum(edgefleet_connected_nodes{job="cloudcore"})`,
      },
      {
        figure: "ca-certificate: requests answered",
        report: 148_320,
        prometheus: 148_331,
        tolerance: 16 / 148_320,
        ok: true,
        query: `sum(edgefleet_http_requests_total{job="cloudcore", server="certificates", path="/ca.crt"})`,
      },
      {
        figure: "readyz: requests answered",
        report: 12_000,
        prometheus: 11_990,
        tolerance: 4 / 12_000,
        ok: false,
        query: `sum(edgefleet_http_requests_total{job="cloudcore", server="health", path="/readyz"})`,
      },
    ],
    errors: ["tunnel closed: 1006 Abnormal Closure (3 nodes, chaos)"],
  };
  return { ...report, ...overrides };
}

/** Factors to apply to a report's figures, for synthetic baselines and candidates. */
export interface ReportScale {
  /** Every latency: phase percentiles and max, HTTP latencies, the http_latency_ms series. */
  readonly latency?: number;
  /** Phase messages per second and HTTP requests per second. */
  readonly throughput?: number;
  /** Memory per node and resident memory. */
  readonly memory?: number;
}

/** A copy of `report` with its figures multiplied by `scale` (a 2× slower candidate, say). */
export function scaleReport(report: LoadReport, scale: ReportScale): LoadReport {
  const l = scale.latency ?? 1;
  const t = scale.throughput ?? 1;
  const m = scale.memory ?? 1;
  const copy = structuredClone(report);
  for (const p of copy.phases) {
    p.messagesPerSecond *= t;
    for (const s of Object.values(p.latencies)) {
      s.p50 *= l;
      s.p90 *= l;
      s.p99 *= l;
      s.max *= l;
    }
  }
  for (const h of copy.http) {
    h.requestsPerSecond *= t;
    h.latency = {
      mean: h.latency.mean * l,
      p50: h.latency.p50 * l,
      p90: h.latency.p90 * l,
      p99: h.latency.p99 * l,
      max: h.latency.max * l,
    };
  }
  for (const s of copy.series.list) {
    const factor = s.id === "http_latency_ms" ? l : s.id === "memory_per_node_bytes" ? m : 1;
    s.points = s.points.map(([at, v]): [number, number] => [at, v * factor]);
  }
  copy.memory = {
    cloudcoreRssBytes: copy.memory.cloudcoreRssBytes * m,
    cloudcorePerNodeBytes: copy.memory.cloudcorePerNodeBytes * m,
    simulatorRssBytes: copy.memory.simulatorRssBytes * m,
    simulatorPerNodeBytes: copy.memory.simulatorPerNodeBytes * m,
  };
  return copy;
}
