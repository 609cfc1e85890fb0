/**
 * A local HA edgefleet on loopback: the environment (control plane, Redis, …), N cloudcore replica
 * processes behind HAProxy (tunnels leastconn, joins round-robin), and Prometheus scraping the
 * replicas; with `streams`, also an apiserver in a network namespace whose kubelet dials are
 * DNAT-ed to the owning replica. What the main job (`npm start`) and `edgefleet-load run` bring up
 * when they are not pointed at an existing cluster. Stopped in one place, also when a start fails
 * half-way.
 */
import { join } from "node:path";
import { CoreV1Api, KubeConfig } from "@kubernetes/client-node";
import { loadOrCreateCa } from "../../cloudcore/security/ca-store.js";
import { JoinTokens } from "../../cloudcore/security/join-tokens.js";
import { startCloudcoreReplica, type CloudcoreReplica } from "./cloudcore-replica.js";
import type { Component } from "./component.js";
import { startEnvironment, type ComponentGroup, type Environment } from "./environment.js";
import { EnvError } from "./errors.js";
import { startHaproxy, type HaproxyBalancer } from "./haproxy.js";
import { startIptablesManager, type IptablesManagerProcess } from "./iptables-manager.js";
import { NetnsApiserver } from "./netns-apiserver.js";
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
  /**
   * A second kube-apiserver in a network namespace whose kubelet connections are DNAT-ed to the
   * owning replica (`cloudcore iptables-manager --netns`), so kubectl logs/exec/port-forward reach
   * edge pods through it (`streamApiserver`); the replicas then listen on the host side of its
   * veth instead of 127.0.0.1. Needs root (netns, veth, iptables). Default off.
   */
  readonly streams?: boolean;
}

/**
 * The apiserver of `streams`: the one whose dials to a node's kubelet address (InternalIP:tunnel
 * port) the NAT rules send to the replica that owns the node. The environment's own apiserver, on
 * the host, has no such rules: its `kubectl logs` to an edge pod fail (the dial to the node's
 * address goes nowhere useful).
 */
export interface StreamApiserver {
  /** Admin kubeconfig of this apiserver: the one kubectl logs/exec/port-forward must use. */
  readonly kubeconfig: string;
  /** Its network namespace, where the NAT rules are (`ip netns exec <netns> iptables-save -t nat`). */
  readonly netns: string;
  /** Its address (inside the namespace, reachable from the host through the veth). */
  readonly address: string;
  /** The address the replicas listen on and the rules send to: the host side of the veth. */
  readonly hostAddress: string;
}

export interface LocalEdgefleet {
  readonly env: Environment;
  readonly kubeconfig: string;
  readonly kubeConfig: KubeConfig;
  readonly replicas: readonly CloudcoreReplica[];
  readonly balancer: HaproxyBalancer;
  readonly prometheus: PrometheusServer | undefined;
  /** With `streams`: the apiserver kubectl logs/exec/port-forward to edge pods go through. */
  readonly streamApiserver: StreamApiserver | undefined;
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
  const components = options.components ?? ["kubernetes", "redis"];
  // Said before anything starts, not as `ip netns add` failing after the control plane came up.
  if (options.streams && !components.includes("kubernetes"))
    throw new EnvError("streams need the kubernetes component (their apiserver shares its etcd and PKI)");
  if (options.streams && process.getuid?.() !== 0)
    throw new EnvError("streams need root (a network namespace, a veth pair, iptables rules)");
  const env = await startEnvironment({
    components,
    stateDir: join(options.stateDir, "env"),
    keepStateDir: true,
    onReady: (name) => ready(name),
  });
  const started: Component[] = [];
  const replicas: CloudcoreReplica[] = [];
  let balancer: HaproxyBalancer | undefined;
  let prometheus: PrometheusServer | undefined;
  let netnsApiserver: NetnsApiserver | undefined;
  let streamStart: Promise<NetnsApiserver> | undefined;
  let iptablesManager: IptablesManagerProcess | undefined;
  const stop = async (): Promise<void> => {
    // Prometheus, the balancer and the iptables manager first (nothing left to scrape, route or
    // program), then the replicas in parallel (each releases its nodes), the namespaced apiserver
    // (its namespace and veth go, and the NAT rules with them), then the environment under them.
    for (const c of [...started].reverse()) await c.stop().catch(() => undefined);
    await Promise.allSettled(replicas.map((r) => r.stop()));
    await netnsApiserver?.stop().catch(() => undefined);
    await env.stop();
  };
  const kubeconfig = env.info.kubernetes?.kubeconfig ?? "";
  // One client configuration for the caller (the workload, readiness) and the join tokens.
  const kubeConfig = new KubeConfig();
  kubeConfig.loadFromFile(kubeconfig);
  try {
    const redisUrl = env.info.redis?.url ?? "";
    // With streams the replicas listen on the host side of the veth, which the NAT rules in the
    // namespace send the apiserver to (their registered replica address); the edges still dial the
    // balancer on loopback, so their certificates name that too. They start as soon as the veth
    // is up, while the namespace's apiserver is still starting.
    let host = "127.0.0.1";
    if (options.streams) {
      const k8s = env.info.kubernetes;
      if (!k8s) throw new EnvError("the environment has no kubernetes");
      let networkUp: (network: { readonly hostAddress: string }) => void = () => undefined;
      const network = new Promise<{ readonly hostAddress: string }>((resolve) => (networkUp = resolve));
      streamStart = NetnsApiserver.start({
        dir: join(options.stateDir, "stream-apiserver"),
        pki: k8s.pki,
        etcdUrl: k8s.etcdUrl,
        onNetwork: networkUp,
      });
      // Awaited below; this only keeps a failure while the replicas start from being "unhandled".
      streamStart.catch(() => undefined);
      host = (await Promise.race([network, streamStart])).hostAddress;
    }
    // The first replica creates the CA; the others start together once it exists, and load it.
    const startReplica = async (i: number): Promise<CloudcoreReplica> => {
      const replica = await startCloudcoreReplica({
        id: `cloudcore-${i}`,
        dir: join(options.stateDir, "cloudcore"),
        kubeconfig,
        redisUrl,
        host,
        // What people and Prometheus read stays on loopback wherever the other ports listen.
        metricsHost: "127.0.0.1",
        advertiseAddresses: ["127.0.0.1"],
        extraArgs: options.replicaArgs ?? [],
      });
      replicas.push(replica);
      ready(replica.id);
      return replica;
    };
    if (options.replicas > 0) await startReplica(0);
    const rest = await Promise.allSettled(
      Array.from({ length: Math.max(0, options.replicas - 1) }, (_, i) => startReplica(i + 1)),
    );
    const failed = rest.find((r): r is PromiseRejectedResult => r.status === "rejected");
    if (failed) throw failed.reason;
    // In id order, whatever order they came up in (balancer backends, Prometheus targets, logs).
    replicas.sort((a, b) => a.id.localeCompare(b.id, "en", { numeric: true }));
    if (streamStart) {
      netnsApiserver = await streamStart;
      ready("stream-apiserver");
    }
    if (netnsApiserver) {
      iptablesManager = await startIptablesManager({
        dir: join(options.stateDir, "cloudcore"),
        redisUrl,
        netns: netnsApiserver.netns,
        replicas: replicas.length,
      });
      started.push(iptablesManager);
      ready(iptablesManager.name);
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
              address: `${r.metricsHost}:${r.ports.metrics}`,
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
    // A namespace apiserver still starting when something else failed is stopped with the rest.
    netnsApiserver ??= await streamStart?.catch(() => undefined);
    await stop();
    throw err;
  }
  const coreApi = kubeConfig.makeApiClient(CoreV1Api);
  const lb = balancer;
  const streamApi = netnsApiserver;
  return {
    env,
    kubeconfig,
    kubeConfig,
    replicas,
    balancer: lb,
    prometheus,
    streamApiserver: streamApi && {
      kubeconfig: streamApi.kubeconfig,
      netns: streamApi.netns,
      address: streamApi.address,
      hostAddress: streamApi.hostAddress,
    },
    tunnelAddress: `127.0.0.1:${lb.ports["tunnel"] ?? 0}`,
    certificateAddress: `127.0.0.1:${lb.ports["certificates"] ?? 0}`,
    components: () => [
      ...env.components(),
      ...(streamApi
        ? [{ name: "stream-apiserver", logFile: streamApi.logFile, stop: () => streamApi.stop() }]
        : []),
      ...replicas,
      ...(iptablesManager ? [iptablesManager] : []),
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
