/**
 * The simulator's workload: pods for the emulated nodes, created through the apiserver at a set
 * rate (bound with `nodeName`, bypassing the scheduler, or as Deployments the scheduler places),
 * and a watch that times each one from creation to Running and Ready in the apiserver: the
 * Kubernetes pod startup SLO, as KubeEdge's scale report measures it.
 */
import type { KubeConfig } from "@kubernetes/client-node";
import type { Logger } from "pino";
import { Informer } from "../../cloudcore/controllers/informer.js";
import type { KubeRest } from "../../cloudcore/kube/kube-rest.js";
import { statusCodeOf } from "../../cloudcore/kube/kube-rest.js";
import type { PodJson } from "../../cloudcore/kube/objects.js";
import { CREATED_AT_ANNOTATION } from "../engine/node-behaviour.js";
import { LatencySet } from "../engine/latencies.js";

export const SIM_LABEL = "edgefleet.io/sim";
/** Which shard of a sharded run a node belongs to. */
export const SIM_SHARD_LABEL = "edgefleet.io/sim-shard";

/** The labels a shard's nodes and pods carry: the run's prefix and the shard's index. */
export function simulationLabels(prefix: string, shard: string): Record<string, string> {
  return { [SIM_LABEL]: prefix, [SIM_SHARD_LABEL]: shard };
}

/** `k=v,k=v`: a label selector matching all of `labels`. */
export function selectorOf(labels: Readonly<Record<string, string>>): string {
  return Object.entries(labels)
    .map(([k, v]) => `${k}=${v}`)
    .join(",");
}
export const SIM_IMAGE = "docker.io/edgefleet/busybox:1.35";

export interface PodWorkloadOptions {
  readonly kubeConfig: KubeConfig;
  readonly rest: KubeRest;
  readonly namespace: string;
  /** The simulation's prefix: pods carry `edgefleet.io/sim=<prefix>`. */
  readonly prefix: string;
  /** The shard index (`edgefleet.io/sim-shard`), so shards of one run keep to their own pods. */
  readonly shard?: string;
  readonly log: Logger;
}

/** A pod's startup as the watch sees it, slimmed to what is timed. */
interface PodView {
  metadata: { name?: string; namespace?: string; resourceVersion?: string; uid?: string };
  running: boolean;
}

const isRunningAndReady = (pod: PodJson): boolean =>
  pod.status?.phase === "Running" &&
  ((pod.status["conditions"] ?? []) as { type?: string; status?: string }[]).some(
    (c) => c.type === "Ready" && c.status === "True",
  );

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

export class PodWorkload {
  #latencies = new LatencySet();
  readonly #informer: Informer<PodView>;
  /** When each pod was asked for (or first seen, for pods a controller made), by ns/name. */
  readonly #createdAt = new Map<string, number>();
  readonly #runningPods = new Set<string>();
  /** Bound pods this workload made and has not deleted: name → node. */
  readonly #bound = new Map<string, string>();
  #generation = 0;
  /** Pods in the apiserver (ADDED, not yet DELETED), by ns/name. */
  readonly #present = new Set<string>();
  #created = 0;
  #errors = 0;
  #lastError: string | undefined;

  get #labels(): Record<string, string> {
    return simulationLabels(this.options.prefix, this.options.shard ?? "0");
  }

  get #selector(): string {
    return selectorOf(this.#labels);
  }

  constructor(private readonly options: PodWorkloadOptions) {
    const path = `/api/v1/namespaces/${options.namespace}/pods`;
    const query = { labelSelector: this.#selector };
    this.#informer = new Informer<PodView>({
      kubeConfig: options.kubeConfig,
      path,
      query,
      // The slim view is computed from the full pod, which the list/watch hands over first.
      list: () => options.rest.list<PodView>(path, query),
      slim: (pod) => {
        const full = pod as unknown as PodJson;
        return {
          metadata: {
            ...(full.metadata?.name !== undefined && { name: full.metadata.name }),
            ...(full.metadata?.namespace !== undefined && { namespace: full.metadata.namespace }),
            ...(full.metadata?.resourceVersion !== undefined && {
              resourceVersion: full.metadata.resourceVersion,
            }),
          },
          running: isRunningAndReady(full),
        };
      },
      onEvent: (type, pod) => this.#onEvent(type, pod),
      log: options.log,
    });
  }

  /** Starts the namespace (if missing) and the watch. */
  async start(): Promise<void> {
    await this.options.rest
      .request("create", "/api/v1/namespaces", { body: { metadata: { name: this.options.namespace } } })
      .catch((err: unknown) => {
        if (statusCodeOf(err) !== 409) throw err;
      });
    this.#informer.start();
  }

  /** The pod startups timed since the last call (encoded histograms), and a fresh start. */
  takeLatencies(): ReturnType<LatencySet["encode"]> {
    const taken = this.#latencies.encode();
    this.#latencies = new LatencySet();
    return taken;
  }

  get running(): number {
    return this.#runningPods.size;
  }
  get pods(): number {
    return this.#present.size;
  }
  get created(): number {
    return this.#created;
  }
  get errors(): number {
    return this.#errors;
  }
  get lastError(): string | undefined {
    return this.#lastError;
  }

  /**
   * Creates `perNode` pods bound to each node, at most `qps` per second (apiserver writes), with
   * `concurrency` requests in flight. Resolves once all were asked for.
   */
  async createBoundPods(
    nodes: readonly string[],
    perNode: number,
    qps: number,
    concurrency = 32,
  ): Promise<void> {
    const work: [string, string][] = [];
    for (let p = 0; p < perNode; p++) for (const node of nodes) work.push([`${node}-p${p}`, node]);
    await this.#paced(work.length, qps, concurrency, async (i) => {
      const [name, node] = work[i] ?? ["", ""];
      await this.#createBound(name, node);
    });
  }

  /**
   * Churn: deletes `fraction` of the bound pods (the edges stop them and confirm) and creates as
   * many new ones on the same nodes, at most `qps` requests per second. Resolves once all were
   * asked for; the new pods' startup is timed like the first ones'.
   */
  async churnBoundPods(
    fraction: number,
    qps: number,
    concurrency = 32,
  ): Promise<{ readonly deleted: string[]; readonly created: string[] }> {
    const chosen = [...this.#bound].filter(() => Math.random() < fraction);
    const generation = ++this.#generation;
    const { rest, namespace } = this.options;
    const deleted: string[] = [];
    const created: string[] = [];
    await this.#paced(chosen.length, qps, concurrency, async (i) => {
      const [name, node] = chosen[i] ?? ["", ""];
      try {
        await rest.request("delete", `/api/v1/namespaces/${namespace}/pods/${name}`);
        this.#bound.delete(name);
        deleted.push(`${namespace}/${name}`);
      } catch (err) {
        this.#errors++;
        this.#lastError = `delete ${namespace}/${name}: ${(err as Error).message}`;
        return;
      }
      const replacement = `${name.replace(/-g\d+$/, "")}-g${generation}`;
      if (await this.#createBound(replacement, node)) created.push(`${namespace}/${replacement}`);
    });
    return { deleted, created };
  }

  /** Are these pods gone from the apiserver, and those Running and Ready there? (ns/name keys) */
  settled(gone: readonly string[], running: readonly string[]): boolean {
    return gone.every((k) => !this.#present.has(k)) && running.every((k) => this.#runningPods.has(k));
  }

  /**
   * Compares the watch's view with a fresh list from the apiserver, for a wait that timed out:
   * pods the apiserver has Running and Ready that the watch missed (which are then counted), and
   * pods that are not Running there, with their phase and node, so a report says which side is
   * behind.
   */
  async reconcile(): Promise<{ readonly missedByWatch: string[]; readonly notRunning: string[] }> {
    const { rest, namespace } = this.options;
    const list = await rest.list<PodJson>(`/api/v1/namespaces/${namespace}/pods`, {
      labelSelector: this.#selector,
    });
    const missedByWatch: string[] = [];
    const notRunning: string[] = [];
    for (const pod of list.items) {
      const key = `${namespace}/${pod.metadata?.name ?? ""}`;
      if (pod.metadata?.deletionTimestamp) continue;
      if (isRunningAndReady(pod)) {
        if (!this.#runningPods.has(key)) {
          missedByWatch.push(key);
          this.#runningPods.add(key);
          this.#present.add(key);
        }
      } else {
        notRunning.push(`${key} (${pod.status?.phase ?? "no status"} on ${pod.spec?.nodeName ?? "no node"})`);
      }
    }
    return { missedByWatch, notRunning };
  }

  async #createBound(name: string, node: string): Promise<boolean> {
    const created = await this.#create(`/api/v1/namespaces/${this.options.namespace}/pods`, name, {
      metadata: { name, labels: this.#labels },
      spec: {
        nodeName: node,
        automountServiceAccountToken: false,
        containers: [{ name: "app", image: SIM_IMAGE }],
      },
    });
    if (created) this.#bound.set(name, node);
    return created;
  }

  /**
   * Creates Deployments of `replicas` pods each, placed by the scheduler on the simulation's nodes
   * (node label `edgefleet.io/sim=<prefix>`), at most `qps` Deployments per second.
   */
  async createDeployments(count: number, replicas: number, qps: number): Promise<void> {
    const { prefix, namespace } = this.options;
    await this.#paced(count, qps, 16, async (i) => {
      const name = `${prefix}-d${i}`;
      const labels = { ...this.#labels, app: name };
      await this.#create(
        `/apis/apps/v1/namespaces/${namespace}/deployments`,
        name,
        {
          metadata: { name, labels },
          spec: {
            replicas,
            selector: { matchLabels: labels },
            template: {
              metadata: { labels },
              spec: {
                nodeSelector: this.#labels,
                automountServiceAccountToken: false,
                containers: [{ name: "app", image: SIM_IMAGE }],
              },
            },
          },
        },
        false,
      );
    });
  }

  /** Resolves once `count` pods are Running and Ready, or after `timeoutMs` (false). */
  async waitRunning(count: number, timeoutMs: number, onTick?: () => void): Promise<boolean> {
    const deadline = Date.now() + timeoutMs;
    while (this.#runningPods.size < count) {
      if (Date.now() > deadline) return false;
      onTick?.();
      await sleep(250);
    }
    return true;
  }

  /** Deletes everything the workload made (the namespace's pods and Deployments of this prefix). */
  async deleteAll(): Promise<void> {
    const { rest, namespace } = this.options;
    const labelSelector = this.#selector;
    await rest
      .request("delete", `/apis/apps/v1/namespaces/${namespace}/deployments`, { query: { labelSelector } })
      .catch(() => undefined);
    await rest
      .request("delete", `/api/v1/namespaces/${namespace}/pods`, { query: { labelSelector } })
      .catch(() => undefined);
  }

  async stop(): Promise<void> {
    await this.#informer.stop();
  }

  /** Creates one object (stamped with its creation time); resolves to whether it was created. */
  async #create(path: string, name: string, body: unknown, timed = true): Promise<boolean> {
    const key = `${this.options.namespace}/${name}`;
    const at = Date.now();
    if (timed) this.#createdAt.set(key, at);
    const withStamp = body as { metadata: { annotations?: Record<string, string> } };
    withStamp.metadata.annotations = { [CREATED_AT_ANNOTATION]: String(at) };
    try {
      await this.options.rest.request("create", path, { body: withStamp });
      this.#created++;
      return true;
    } catch (err) {
      this.#createdAt.delete(key);
      this.#errors++;
      this.#lastError = `create ${key}: ${(err as Error).message}`;
      return false;
    }
  }

  /** Runs task(0..n-1) at most `qps` starts per second with at most `concurrency` in flight. */
  async #paced(
    n: number,
    qps: number,
    concurrency: number,
    task: (i: number) => Promise<void>,
  ): Promise<void> {
    const started = performance.now();
    let next = 0;
    const lane = async (): Promise<void> => {
      for (;;) {
        const i = next++;
        if (i >= n) return;
        const wait = started + (i * 1000) / qps - performance.now();
        if (wait > 1) await sleep(wait);
        await task(i);
      }
    };
    await Promise.all(Array.from({ length: Math.min(concurrency, n) }, lane));
  }

  #onEvent(type: string, pod: PodView): void {
    const key = `${pod.metadata.namespace ?? ""}/${pod.metadata.name ?? ""}`;
    if (type === "DELETED") {
      this.#present.delete(key);
      this.#createdAt.delete(key);
      this.#runningPods.delete(key);
      return;
    }
    if (type === "ADDED") {
      this.#present.add(key);
      // Pods a controller made are timed from when the watch first saw them.
      if (!this.#createdAt.has(key)) this.#createdAt.set(key, Date.now());
    }
    if (!pod.running) {
      this.#runningPods.delete(key);
      return;
    }
    if (this.#runningPods.has(key)) return;
    this.#runningPods.add(key);
    const created = this.#createdAt.get(key);
    if (created !== undefined) {
      this.#latencies.record("podStartup", Date.now() - created);
      this.#createdAt.delete(key);
    }
  }
}
