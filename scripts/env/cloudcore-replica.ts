/**
 * A `cloudcore run` replica as a process of its own (not in the caller's process): what the main
 * job and the load runner put behind HAProxy, and what they kill to show a failover.
 */
import { mkdirSync } from "node:fs";
import { join } from "node:path";
import type { Component } from "./component.js";
import { entryPointCommand } from "./entry-point.js";
import { httpOk } from "./http-probe.js";
import { ManagedProcess } from "./managed-process.js";
import { freePorts } from "./ports.js";

export interface CloudcoreReplicaPorts {
  readonly tunnel: number;
  readonly certificates: number;
  readonly metrics: number;
  readonly stream: number;
}

export interface CloudcoreReplicaSpec {
  /** The replica id (a DNS label); also the process and log file name. */
  readonly id: string;
  /** Directory for its log file. */
  readonly dir: string;
  readonly kubeconfig: string;
  readonly redisUrl: string;
  /**
   * Local address it listens on (all its ports), registers as its replica address (the DNAT
   * target) and puts into its certificates (default 127.0.0.1).
   */
  readonly host?: string;
  /**
   * More addresses edges dial, in its certificates besides `host`: a balancer's on loopback in
   * front of replicas listening elsewhere (on the host side of a NetnsApiserver's veth).
   */
  readonly advertiseAddresses?: readonly string[];
  /**
   * Listen address of /metrics, /healthz, /readyz (default `host`): loopback, for replicas whose
   * other ports listen on a veth's host side, so what a person looks at stays on 127.0.0.1.
   */
  readonly metricsHost?: string;
  /** Fixed ports (a replica restarted behind an already configured balancer); free ones otherwise. */
  readonly ports?: CloudcoreReplicaPorts;
  /** More `cloudcore run` flags (liveness TTL, admission, log level…). */
  readonly extraArgs?: readonly string[];
  readonly readyTimeoutMs?: number;
}

export interface CloudcoreReplica extends Component {
  readonly id: string;
  readonly host: string;
  /** Where /metrics, /healthz and /readyz listen. */
  readonly metricsHost: string;
  readonly ports: CloudcoreReplicaPorts;
  readonly pid: number | undefined;
  /** Whether the process is still running. */
  readonly running: boolean;
  /** As a crash: SIGKILL, no release of its nodes (the others take them over). */
  kill(): Promise<void>;
}

/** How to run cloudcore's entry point (compiled, or the source through tsx). */
export const cloudcoreCommand = (): { command: string; args: string[] } => entryPointCommand("cloudcore");

/** Starts one replica and resolves once its /readyz answers 200 (informers synced, Redis reachable). */
export async function startCloudcoreReplica(spec: CloudcoreReplicaSpec): Promise<CloudcoreReplica> {
  mkdirSync(spec.dir, { recursive: true });
  const host = spec.host ?? "127.0.0.1";
  const metricsHost = spec.metricsHost ?? host;
  const [tunnel = 0, certificates = 0, stream = 0] = spec.ports
    ? [spec.ports.tunnel, spec.ports.certificates, spec.ports.stream]
    : await freePorts(3, host);
  const [metrics = 0] = spec.ports ? [spec.ports.metrics] : await freePorts(1, metricsHost);
  const ports = { tunnel, certificates, metrics, stream };
  const { command, args } = cloudcoreCommand();
  const proc = new ManagedProcess({
    name: `cloudcore-${spec.id}`,
    command,
    args: [
      ...args,
      "run",
      ...["--kubeconfig", spec.kubeconfig, "--redis-url", spec.redisUrl, "--replica-id", spec.id],
      ...["--host", host, "--advertise-address", host, "--replica-address", host],
      ...(spec.advertiseAddresses ?? []).filter((a) => a !== host).flatMap((a) => ["--advertise-address", a]),
      ...["--tunnel-port", String(tunnel), "--certificate-port", String(certificates)],
      ...["--metrics-host", metricsHost, "--metrics-port", String(metrics)],
      ...["--stream-port", String(stream)],
      ...["--kubeedge-port", "0", "--device-webhook-port", "0"],
      ...(spec.extraArgs ?? []),
    ],
    logFile: join(spec.dir, `cloudcore-${spec.id}.log`),
    ready: () => httpOk(`http://${metricsHost}:${metrics}/readyz`),
    readyTimeoutMs: spec.readyTimeoutMs ?? 60_000,
    // A replica stopping releases its nodes first (the others take them at once).
    stopTimeoutMs: 20_000,
  });
  await proc.start();
  return {
    name: proc.spec.name,
    logFile: proc.spec.logFile,
    id: spec.id,
    host,
    metricsHost,
    ports,
    get pid() {
      return proc.pid;
    },
    get running() {
      return proc.state.type === "running";
    },
    stop: () => proc.stop(),
    kill: () => proc.kill(),
  };
}
