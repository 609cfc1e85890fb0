import { mkdirSync, mkdtempSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { stringify } from "yaml";
import { systemBinary } from "./binaries.js";
import type { Component } from "./component.js";
import { httpOk } from "./http-probe.js";
import { ManagedProcess } from "./managed-process.js";
import { freePort } from "./ports.js";

/** One endpoint to scrape, with labels of its own (e.g. `pod`, as the chart's ServiceMonitor sets). */
export interface ScrapeTarget {
  /** host:port */
  readonly address: string;
  readonly labels?: Readonly<Record<string, string>>;
}

/** A scrape job; its targets may be given now or later with `setTargets`. */
export interface ScrapeJob {
  /** The `job` label; letters, digits, '-' and '_'. */
  readonly name: string;
  readonly targets?: readonly ScrapeTarget[];
  /** Default /metrics. */
  readonly metricsPath?: string;
}

export interface PrometheusOptions {
  readonly jobs: readonly ScrapeJob[];
  /** Scrape (and rule evaluation) interval; default 1 s, for tests. */
  readonly scrapeIntervalMs?: number;
  /** Where config, targets, TSDB and log go; default a temp dir that `stop` removes. */
  readonly dir?: string;
}

export interface PrometheusServer extends Component {
  readonly port: number;
  /** http://127.0.0.1:<port> */
  readonly url: string;
  readonly scrapeIntervalMs: number;
  /**
   * Replaces a job's targets (its file_sd file). Prometheus scrapes them within about 5 s: its
   * discovery manager passes changes on in 5 s batches. Targets given at start wait as long.
   */
  setTargets(job: string, targets: readonly ScrapeTarget[]): void;
}

const JOB_NAME = /^[A-Za-z0-9_-]+$/;

/**
 * Starts Debian's Prometheus on loopback with a generated configuration: one scrape job per
 * `jobs` entry, its targets in a file_sd file so they can change while it runs. The package's own
 * service and /etc/prometheus are not used.
 */
export async function startPrometheus(options: PrometheusOptions): Promise<PrometheusServer> {
  const command = systemBinary("prometheus", "prometheus");
  const ownDir = options.dir === undefined;
  const dir = options.dir ?? mkdtempSync(join(tmpdir(), "edgefleet-prometheus-"));
  mkdirSync(join(dir, "targets"), { recursive: true });
  const intervalMs = options.scrapeIntervalMs ?? 1000;
  if (!Number.isInteger(intervalMs) || intervalMs < 100)
    throw new Error(`scrapeIntervalMs must be a whole number of ms ≥ 100, got ${intervalMs}`);
  const names = new Set<string>();
  for (const job of options.jobs) {
    if (!JOB_NAME.test(job.name))
      throw new Error(`prometheus job name ${JSON.stringify(job.name)} is not [A-Za-z0-9_-]+`);
    if (names.has(job.name)) throw new Error(`prometheus job ${job.name} is given twice`);
    names.add(job.name);
  }

  const targetsFile = (job: string): string => join(dir, "targets", `${job}.json`);
  const setTargets = (job: string, targets: readonly ScrapeTarget[]): void => {
    if (!names.has(job)) throw new Error(`prometheus has no job ${job}; jobs: ${[...names].join(", ")}`);
    const groups = targets.map((t) => ({ targets: [t.address], labels: t.labels ?? {} }));
    // Written beside and renamed: file_sd never reads a half-written file.
    const file = targetsFile(job);
    writeFileSync(`${file}.tmp`, JSON.stringify(groups));
    renameSync(`${file}.tmp`, file);
  };
  for (const job of options.jobs) setTargets(job.name, job.targets ?? []);

  const interval = `${intervalMs}ms`;
  const config = join(dir, "prometheus.yml");
  writeFileSync(
    config,
    stringify({
      global: { scrape_interval: interval, scrape_timeout: interval, evaluation_interval: interval },
      scrape_configs: options.jobs.map((job) => ({
        job_name: job.name,
        metrics_path: job.metricsPath ?? "/metrics",
        // inotify sees changes at once; the refresh is the fallback.
        file_sd_configs: [{ files: [targetsFile(job.name)], refresh_interval: "5s" }],
      })),
    }),
  );

  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  const proc = new ManagedProcess({
    name: "prometheus",
    command,
    args: [
      `--config.file=${config}`,
      `--storage.tsdb.path=${join(dir, "data")}`,
      "--storage.tsdb.retention.time=1d",
      `--web.listen-address=127.0.0.1:${port}`,
      "--log.level=warn",
    ],
    logFile: join(dir, "prometheus.log"),
    ready: () => httpOk(`${url}/-/ready`),
    readyTimeoutMs: 30_000,
  });
  try {
    await proc.start();
  } catch (err) {
    if (ownDir) rmSync(dir, { recursive: true, force: true });
    throw err;
  }
  return {
    name: "prometheus",
    logFile: proc.spec.logFile,
    port,
    url,
    scrapeIntervalMs: intervalMs,
    setTargets,
    get running() {
      return proc.running;
    },
    stop: async () => {
      await proc.stop();
      if (ownDir) rmSync(dir, { recursive: true, force: true });
    },
  };
}
