/**
 * A local HA edgefleet on loopback: the environment (control plane, Redis, …), N cloudcore replica
 * processes behind HAProxy (tunnels leastconn, joins round-robin), and Prometheus scraping the
 * replicas. What the main job (`npm start`) and `edgefleet-load run` bring up when they are not
 * pointed at an existing cluster. Stopped in one place, also when a start fails half-way.
 */
import { join } from "node:path";
import { CoreV1Api, KubeConfig } from "@kubernetes/client-node";
import { loadOrCreateCa } from "../../cloudcore/security/ca-store.js";
import { JoinTokens } from "../../cloudcore/security/join-tokens.js";
import { startCloudcoreReplica, type CloudcoreReplica } from "./cloudcore-replica.js";
import type { Component } from "./component.js";
import { startEnvironment, type ComponentGroup, type Environment } from "./environment.js";
import { startHaproxy, type HaproxyBalancer } from "./haproxy.js";
import { startPrometheus, type PrometheusServer, type ScrapeTarget } from "./prometheus.js";

export interface LocalEdgefleetOptions {
  /** Data, configuration and every component's log. */
  readonly stateDir: string;
  readonly replicas: number;
  /** Environment groups (default kubernetes and redis; the main job adds containerd). */
  readonly components?: readonly ComponentGroup[];
  /** Scrape interval of the Prometheus started beside the replicas; 0 starts none. */
  readonly scrapeIntervalMs?: number;
  /** More Prometheus jobs, without targets until `scrape()` names them (Prometheus' jobs are fixed at start). */
  readonly scrapeJobs?: readonly string[];
  /** More `cloudcore run` flags for every replica. */
  readonly replicaArgs?: readonly string[];
  /** Progress: a component is up (name, ms since start). */
  readonly onReady?: (component: string, elapsedMs: number) => void;
}

export interface LocalEdgefleet {
  readonly env: Environment;
  readonly kubeconfig: string;
  readonly kubeConfig: KubeConfig;
  readonly replicas: readonly CloudcoreReplica[];
  readonly balancer: HaproxyBalancer;
  readonly prometheus: PrometheusServer | undefined;
  /** host:port edges dial for tunnels (the balancer). */
  readonly tunnelAddress: string;
  /** host:port edges join at (the balancer). */
  readonly certificateAddress: string;
  /** Every component, for "which one failed" messages: name and log file. */
  components(): readonly Component[];
  createJoinToken(description: string, ttlSeconds?: number): Promise<string>;
  /** Sets the targets of one of `scrapeJobs`, e.g. the simulator's /metrics. */
  scrape(job: string, targets: readonly ScrapeTarget[]): void;
  stop(): Promise<void>;
}

/** The Prometheus job of the replicas; each target labelled `pod` as the chart's ServiceMonitor does. */
export const CLOUDCORE_JOB = "cloudcore";

export async function startLocalEdgefleet(options: LocalEdgefleetOptions): Promise<LocalEdgefleet> {
  const t0 = Date.now();
  const ready = (name: string): void => options.onReady?.(name, Date.now() - t0);
  const env = await startEnvironment({
    components: options.components ?? ["kubernetes", "redis"],
    stateDir: join(options.stateDir, "env"),
    keepStateDir: true,
    onReady: (name) => ready(name),
  });
  const started: Component[] = [];
  const replicas: CloudcoreReplica[] = [];
  let balancer: HaproxyBalancer | undefined;
  let prometheus: PrometheusServer | undefined;
  const stop = async (): Promise<void> => {
    // Prometheus and the balancer first (nothing left to scrape or route), then the replicas in
    // parallel (each releases its nodes), then the environment under them.
    for (const c of [...started].reverse()) await c.stop().catch(() => undefined);
    await Promise.allSettled(replicas.map((r) => r.stop()));
    await env.stop();
  };
  const kubeconfig = env.info.kubernetes?.kubeconfig ?? "";
  // One client configuration for the caller (the workload, readiness) and the join tokens.
  const kubeConfig = new KubeConfig();
  kubeConfig.loadFromFile(kubeconfig);
  try {
    const redisUrl = env.info.redis?.url ?? "";
    // The first replica creates the CA; started one by one so that the others load it.
    for (let i = 0; i < options.replicas; i++) {
      const replica = await startCloudcoreReplica({
        id: `cloudcore-${i}`,
        dir: join(options.stateDir, "cloudcore"),
        kubeconfig,
        redisUrl,
        extraArgs: options.replicaArgs ?? [],
      });
      replicas.push(replica);
      ready(replica.name);
    }
    balancer = await startHaproxy(join(options.stateDir, "haproxy"), [
      {
        name: "tunnel",
        balance: "leastconn",
        backends: replicas.map((r) => ({ name: r.id, host: r.host, port: r.ports.tunnel })),
      },
      {
        name: "certificates",
        backends: replicas.map((r) => ({ name: r.id, host: r.host, port: r.ports.certificates })),
      },
    ]);
    started.push(balancer);
    ready("haproxy");
    if ((options.scrapeIntervalMs ?? 1000) > 0) {
      prometheus = await startPrometheus({
        dir: join(options.stateDir, "prometheus"),
        scrapeIntervalMs: options.scrapeIntervalMs ?? 1000,
        jobs: [
          {
            name: CLOUDCORE_JOB,
            targets: replicas.map((r) => ({
              address: `${r.host}:${r.ports.metrics}`,
              labels: { pod: r.id },
            })),
          },
          ...(options.scrapeJobs ?? []).map((name) => ({ name })),
        ],
      });
      started.push(prometheus);
      ready("prometheus");
    }
  } catch (err) {
    await stop();
    throw err;
  }
  const coreApi = kubeConfig.makeApiClient(CoreV1Api);
  const lb = balancer;
  return {
    env,
    kubeconfig,
    kubeConfig,
    replicas,
    balancer: lb,
    prometheus,
    tunnelAddress: `127.0.0.1:${lb.ports["tunnel"] ?? 0}`,
    certificateAddress: `127.0.0.1:${lb.ports["certificates"] ?? 0}`,
    components: () => [
      ...Object.entries(env.info.logs).map(([name, logFile]) => ({ name, logFile, stop: async () => {} })),
      ...replicas,
      lb,
      ...(prometheus ? [prometheus] : []),
    ],
    async createJoinToken(description, ttlSeconds = 24 * 3600) {
      const tokens = new JoinTokens(coreApi, await loadOrCreateCa(coreApi), {});
      return (await tokens.create({ ttlSeconds, description })).token;
    },
    scrape(job, targets) {
      prometheus?.setTargets(job, targets);
    },
    stop,
  };
}
