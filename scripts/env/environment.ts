import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Component } from "./component.js";
import { startContainerd } from "./containerd.js";
import { createControlPlanePki, type ControlPlanePki } from "./control-plane-pki.js";
import { startEtcd, type Etcd } from "./etcd.js";
import { startKubeApiserver } from "./kube-apiserver.js";
import { bootstrapCluster } from "./cluster-bootstrap.js";
import { startKubeControllerManager, startKubeScheduler } from "./kube-component.js";
import { writeKubeconfig } from "./kubeconfig.js";
import { startMosquitto } from "./mosquitto.js";
import { startRedis } from "./redis.js";

export const ALL_COMPONENTS = ["kubernetes", "redis", "mosquitto", "containerd"] as const;
export type ComponentGroup = (typeof ALL_COMPONENTS)[number];

export interface EnvironmentOptions {
  /** Which groups to start; "kubernetes" is etcd + apiserver + scheduler + controller-manager. */
  readonly components?: readonly ComponentGroup[];
  /** Directory for data, config and logs; a fresh temp dir by default. */
  readonly stateDir?: string;
  /** Keep the state dir (logs) after stop. */
  readonly keepStateDir?: boolean;
  /** Extra kube-apiserver flags (e.g. `--watch-cache=false` for a test that needs etcd's 410s). */
  readonly apiserverArgs?: readonly string[];
  /** Extra kube-controller-manager flags (tests shorten the node monitor grace period). */
  readonly controllerManagerArgs?: readonly string[];
  /** Called as each component becomes ready, for progress output. */
  readonly onReady?: (component: string, elapsedMs: number) => void;
}

/** Plain data describing a running environment; passed from vitest's global setup to tests. */
export interface EnvironmentInfo {
  readonly stateDir: string;
  readonly kubernetes?: {
    readonly apiserverUrl: string;
    readonly etcdUrl: string;
    /** Admin (system:masters) kubeconfig. */
    readonly kubeconfig: string;
    readonly pki: ControlPlanePki;
  };
  readonly redis?: { readonly url: string; readonly host: string; readonly port: number };
  readonly mosquitto?: { readonly url: string };
  readonly containerd?: { readonly socket: string; readonly namespace: string };
  /** Log file of every component, by name. */
  readonly logs: Readonly<Record<string, string>>;
}

export interface Environment {
  readonly info: EnvironmentInfo;
  /** The running servers, in start order (for "which one failed" messages). */
  components(): readonly Component[];
  /** Stops every component in reverse start order; safe to call twice. */
  stop(): Promise<void>;
}

/**
 * Starts the real servers every test and the demo run against: etcd 3.6 and the Kubernetes control
 * plane built from their Go modules, Redis, Mosquitto and containerd from Debian, all on loopback
 * ports picked at start. Independent servers start in parallel.
 */
export async function startEnvironment(options: EnvironmentOptions = {}): Promise<Environment> {
  const groups = new Set(options.components ?? ALL_COMPONENTS);
  const stateDir = options.stateDir ?? mkdtempSync(join(tmpdir(), "edgefleet-env-"));
  const started: Component[] = [];
  const logs: Record<string, string> = {};
  const t0 = Date.now();
  const track = <T extends Component>(component: T): T => {
    started.push(component);
    logs[component.name] = component.logFile;
    options.onReady?.(component.name, Date.now() - t0);
    return component;
  };
  let stopped = false;
  const stop = async (): Promise<void> => {
    if (stopped) return;
    stopped = true;
    const errors: unknown[] = [];
    for (const component of [...started].reverse()) {
      await component.stop().catch((err: unknown) => errors.push(err));
    }
    // Keep the state dir when something failed to stop: its logs explain why, and its mounts or
    // sockets may still be in use.
    if (errors.length > 0)
      throw new AggregateError(errors, `some components failed to stop; state kept in ${stateDir}`);
    if (!options.keepStateDir) rmSync(stateDir, { recursive: true, force: true });
  };

  try {
    const kubernetes = async (): Promise<EnvironmentInfo["kubernetes"]> => {
      const dir = join(stateDir, "kubernetes");
      const [pki, etcd] = await allSettledOrThrow<[ControlPlanePki, Etcd]>([
        createControlPlanePki(join(dir, "pki")),
        startEtcd(join(stateDir, "etcd")),
      ]);
      track(etcd);
      const apiserver = track(
        await startKubeApiserver({
          dir,
          etcdUrl: etcd.clientUrl,
          pki,
          ...(options.apiserverArgs ? { extraArgs: options.apiserverArgs } : {}),
        }),
      );
      const kubeconfigFor = (name: string, user: string, cert: string, key: string): string => {
        const path = join(dir, `${name}.kubeconfig`);
        writeKubeconfig(path, {
          server: apiserver.url,
          caPem: readText(pki.caCert),
          user,
          certPem: readText(cert),
          keyPem: readText(key),
        });
        return path;
      };
      const admin = kubeconfigFor("admin", "edgefleet-admin", pki.adminCert, pki.adminKey);
      const schedulerKubeconfig = kubeconfigFor(
        "kube-scheduler",
        "system:kube-scheduler",
        pki.schedulerCert,
        pki.schedulerKey,
      );
      const cmKubeconfig = kubeconfigFor(
        "kube-controller-manager",
        "system:kube-controller-manager",
        pki.controllerManagerCert,
        pki.controllerManagerKey,
      );
      const [scheduler, controllerManager] = await allSettledOrThrow<[Component, Component]>([
        startKubeScheduler({ dir, kubeconfig: schedulerKubeconfig, pki }),
        startKubeControllerManager({
          dir,
          kubeconfig: cmKubeconfig,
          pki,
          ...(options.controllerManagerArgs ? { extraArgs: options.controllerManagerArgs } : {}),
        }),
      ]);
      track(scheduler);
      track(controllerManager);
      await bootstrapCluster(admin, pki);
      return { apiserverUrl: apiserver.url, etcdUrl: etcd.clientUrl, kubeconfig: admin, pki };
    };

    const skipped = Promise.resolve(undefined);
    const [kube, redis, mosquitto, containerd] = await allSettledOrThrow([
      groups.has("kubernetes") ? kubernetes() : skipped,
      groups.has("redis") ? startRedis(join(stateDir, "redis")).then(track) : skipped,
      groups.has("mosquitto") ? startMosquitto(join(stateDir, "mosquitto")).then(track) : skipped,
      groups.has("containerd") ? startContainerd(join(stateDir, "containerd")).then(track) : skipped,
    ]);
    const info: EnvironmentInfo = {
      stateDir,
      ...(kube ? { kubernetes: kube } : {}),
      ...(redis ? { redis: { url: redis.url, host: redis.host, port: redis.port } } : {}),
      ...(mosquitto ? { mosquitto: { url: mosquitto.url } } : {}),
      ...(containerd ? { containerd: { socket: containerd.socket, namespace: "k8s.io" } } : {}),
      logs,
    };
    return { info, stop, components: () => [...started] };
  } catch (err) {
    await stop().catch(() => undefined);
    throw err;
  }
}

function readText(path: string): string {
  return readFileSync(path, "utf8");
}

/**
 * Like Promise.all, but waits for every promise to settle before rejecting, so nothing is still
 * starting (and about to register itself) when the caller cleans up after a failure.
 */
async function allSettledOrThrow<T extends readonly unknown[]>(promises: {
  readonly [K in keyof T]: Promise<T[K]>;
}): Promise<T> {
  const results = await Promise.allSettled(promises);
  const failed = results.find((r): r is PromiseRejectedResult => r.status === "rejected");
  if (failed) throw failed.reason;
  return results.map((r) => (r as PromiseFulfilledResult<unknown>).value) as unknown as T;
}
