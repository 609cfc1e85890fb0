/**
 * What the fleet benchmarks share: a fresh local environment (control plane + Redis), a join
 * token, and the replica, balancer and child processes they start, all stopped in one place.
 */
import type { ChildProcess } from "node:child_process";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { CoreV1Api, KubeConfig } from "@kubernetes/client-node";
import type { Command } from "commander";
import { loadOrCreateCa } from "../../cloudcore/security/ca-store.js";
import { JoinTokens } from "../../cloudcore/security/join-tokens.js";
import { startEnvironment } from "../../scripts/env/environment.js";
import { startHaproxy, type HaproxyBalancer } from "../../scripts/env/haproxy.js";
import { startReplica, stopChildren, type ReplicaProcess, type ReplicaSpec } from "./replicas.js";

export interface BenchCluster {
  readonly stateDir: string;
  readonly kubeconfig: string;
  readonly redisUrl: string;
  readonly kubeConfig: KubeConfig;
  readonly token: string;
  readonly replicas: ReplicaProcess[];
  readonly balancers: HaproxyBalancer[];
  /** Other processes to stop at the end (clients, simulators). */
  readonly children: ChildProcess[];
  startReplica(spec: Omit<ReplicaSpec, "kubeconfig" | "redisUrl">): Promise<ReplicaProcess>;
  /** A balancer (leastconn) in front of the given tunnel ports, named by replica. */
  startBalancer(backends: readonly { id: string; tunnel: number }[]): Promise<HaproxyBalancer>;
}

export interface BenchClusterOptions {
  readonly apiserverArgs?: readonly string[];
  readonly controllerManagerArgs?: readonly string[];
}

/** Runs `body` with a bench cluster and tears everything down afterwards, also on failure. */
export async function withBenchCluster(
  name: string,
  options: BenchClusterOptions,
  body: (cluster: BenchCluster) => Promise<void>,
): Promise<void> {
  const stateDir = mkdtempSync(join(tmpdir(), `edgefleet-bench-${name}-`));
  const env = await startEnvironment({ components: ["kubernetes", "redis"], stateDir, ...options });
  const replicas: ReplicaProcess[] = [];
  const balancers: HaproxyBalancer[] = [];
  const children: ChildProcess[] = [];
  try {
    const kubeconfig = env.info.kubernetes?.kubeconfig ?? "";
    const redisUrl = env.info.redis?.url ?? "";
    const kubeConfig = new KubeConfig();
    kubeConfig.loadFromFile(kubeconfig);
    const core = kubeConfig.makeApiClient(CoreV1Api);
    const tokens = new JoinTokens(core, await loadOrCreateCa(core), {});
    const { token } = await tokens.create({ ttlSeconds: 24 * 3600, description: `bench:${name}` });
    await body({
      stateDir,
      kubeconfig,
      redisUrl,
      kubeConfig,
      token,
      replicas,
      balancers,
      children,
      async startReplica(spec) {
        const replica = await startReplica({ ...spec, kubeconfig, redisUrl });
        replicas.push(replica);
        return replica;
      },
      async startBalancer(backends) {
        const balancer = await startHaproxy(join(stateDir, `haproxy-${balancers.length}`), [
          {
            name: "tunnel",
            balance: "leastconn",
            backends: backends.map((b) => ({ name: b.id, host: "127.0.0.1", port: b.tunnel })),
          },
        ]);
        balancers.push(balancer);
        return balancer;
      },
    });
  } finally {
    await stopChildren(children);
    await stopChildren(replicas.map((r) => r.child));
    for (const b of balancers) await b.stop();
    await env.stop();
    rmSync(stateDir, { recursive: true, force: true });
  }
}

/** Writes a benchmark's JSON report and prints it. */
export function writeBenchReport(path: string, report: unknown): void {
  mkdirSync(dirname(path), { recursive: true });
  writeFileSync(path, JSON.stringify(report, null, 2) + "\n");
  process.stdout.write(JSON.stringify(report, null, 2) + "\n");
}

/** Parses the command line and runs the benchmark; an error is printed and exits 1. */
export function runBench(program: Command): void {
  program.parseAsync().catch((err: unknown) => {
    process.stderr.write(`${program.name()}: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exitCode = 1;
  });
}
