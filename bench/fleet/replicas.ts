/** Starts `cloudcore run` replica processes for fleet benchmarks and waits until each is ready. */
import { spawn, type ChildProcess } from "node:child_process";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { freePort } from "../../scripts/env/ports.js";

const root = join(dirname(fileURLToPath(import.meta.url)), "..", "..");
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

export interface ReplicaProcess {
  readonly id: string;
  readonly child: ChildProcess;
  readonly tunnel: number;
  readonly certificates: number;
  readonly metrics: number;
}

export interface ReplicaSpec {
  readonly id: string;
  readonly kubeconfig: string;
  readonly redisUrl: string;
  readonly livenessTtl: string;
  /** "0" turns rebalancing off. */
  readonly rebalanceInterval: string;
  readonly rebalanceMaxPerRound?: number;
  /** Reuse these ports (a replica that must sit behind an already configured balancer). */
  readonly ports?: { tunnel: number; certificates: number; metrics: number; stream: number };
}

export async function replicaPorts(): Promise<{
  tunnel: number;
  certificates: number;
  metrics: number;
  stream: number;
}> {
  return {
    tunnel: await freePort(),
    certificates: await freePort(),
    metrics: await freePort(),
    stream: await freePort(),
  };
}

/** Spawns one replica (its output goes to ours) and resolves once its /readyz answers 200. */
export async function startReplica(spec: ReplicaSpec): Promise<ReplicaProcess> {
  const ports = spec.ports ?? (await replicaPorts());
  const child = spawn(
    process.execPath,
    [
      ...profileArgs(),
      "--import",
      "tsx",
      join(root, "cloudcore", "main.ts"),
      "run",
      ...["--kubeconfig", spec.kubeconfig, "--redis-url", spec.redisUrl, "--replica-id", spec.id],
      ...["--host", "127.0.0.1", "--advertise-address", "127.0.0.1"],
      ...["--tunnel-port", String(ports.tunnel), "--certificate-port", String(ports.certificates)],
      ...["--metrics-port", String(ports.metrics), "--kubeedge-port", "0", "--device-webhook-port", "0"],
      ...["--stream-port", String(ports.stream)],
      ...["--rebalance-interval", spec.rebalanceInterval, "--liveness-ttl", spec.livenessTtl],
      ...(spec.rebalanceMaxPerRound !== undefined
        ? ["--rebalance-max-per-round", String(spec.rebalanceMaxPerRound)]
        : []),
      ...["--admission-rate", "2000", "--admission-burst", "4000", "--log-level", "warn"],
    ],
    { stdio: ["ignore", "inherit", "inherit"] },
  );
  for (let i = 0; ; i++) {
    if (child.exitCode !== null) throw new Error(`replica ${spec.id} exited with ${child.exitCode}`);
    const ok = await fetch(`http://127.0.0.1:${ports.metrics}/readyz`).then(
      (x) => x.ok,
      () => false,
    );
    if (ok) break;
    if (i > 600) {
      child.kill("SIGKILL");
      throw new Error(`replica ${spec.id} not ready within 60 s`);
    }
    await sleep(100);
  }
  return { id: spec.id, child, ...ports };
}

/**
 * With EDGEFLEET_CPU_PROF_DIR set, benchmark child processes write a V8 CPU profile there when they
 * exit (open it in Chrome DevTools, or summarise it with scripts/cpu-profile-summary.ts).
 */
export function profileArgs(): string[] {
  const dir = process.env["EDGEFLEET_CPU_PROF_DIR"];
  return dir ? ["--cpu-prof", "--cpu-prof-dir", dir] : [];
}

/** SIGTERMs every child still running and waits for all of them to exit (SIGKILL after `graceMs`). */
export async function stopChildren(children: readonly ChildProcess[], graceMs = 20_000): Promise<void> {
  const running = (c: ChildProcess): boolean => c.exitCode === null && c.signalCode === null;
  for (const child of children) if (running(child)) child.kill("SIGTERM");
  // A replica stopping gracefully finishes the requests it queued: against an overloaded
  // apiserver that can take minutes, so after the grace period it is killed.
  const kill = setTimeout(() => {
    for (const child of children) if (running(child)) child.kill("SIGKILL");
  }, graceMs);
  await Promise.all(children.map((c) => new Promise((r) => (running(c) ? c.once("exit", r) : r(null)))));
  clearTimeout(kill);
}
