import { mkdirSync, rmSync } from "node:fs";
import { join } from "node:path";
import { status as GrpcStatus } from "@grpc/grpc-js";
import type { Logger } from "pino";
import type { MetaManager } from "../meta/meta-manager.js";
import type { StoreEvent } from "../meta/meta-store.js";
import type { EdgecoreMetrics } from "../metrics.js";
import { containerEnv, expand } from "./container-env.js";
import type { CriClient } from "./cri/cri-client.js";
import { CriError } from "./cri/errors.js";
import type { Container as CriContainer, PodSandbox } from "./cri/types.js";
import { nanosToDate } from "./cri/types.js";
import { ContainerConfigError, ContainerWaitingError, type ObjectSource } from "./object-source.js";
import { parsePod, type Container, type Pod } from "./pod-spec.js";
import {
  podStatus,
  type ObservedContainer,
  type ObservedSandbox,
  type PodCondition,
  type Waiting,
} from "./pod-status.js";
import { Prober } from "./prober.js";
import { RestartBackoff, shouldRestart } from "./restart-backoff.js";
import { containerConfig, Labels, sandboxConfig } from "./runtime-config.js";
import type { PodStatusReporter } from "./status-reporter.js";
import { prepareVolumes, type TokenSource } from "./volumes.js";

export interface EdgedOptions {
  readonly nodeName: string;
  /** The node's address: status.hostIP, and podIP of host-network pods. */
  readonly hostIP: string;
  readonly meta: MetaManager;
  readonly cri: CriClient;
  readonly objects: ObjectSource;
  readonly tokens: TokenSource;
  readonly reporter: PodStatusReporter;
  /** Confirms to the cloud that a terminating pod's containers are gone (delete with grace 0). */
  readonly confirmDeletion: (namespace: string, name: string, uid: string) => Promise<void>;
  /** Pod directories (volumes): `<podsDir>/<uid>`. */
  readonly podsDir: string;
  /** Container logs: `<logRoot>/<ns>_<name>_<uid>/<container>/<attempt>.log` (the kubelet's /var/log/pods). */
  readonly logRoot: string;
  /** Run every pod in the node's network namespace (no CNI on this node). */
  readonly forceHostNetwork?: boolean;
  /** Full resync period; changes from the cloud trigger a sync at once. */
  readonly syncIntervalMs?: number;
  readonly metrics: EdgecoreMetrics;
  readonly log: Logger;
}

interface RuntimePod {
  readonly sandboxes: PodSandbox[];
  readonly containers: CriContainer[];
}

interface PodWorker {
  running: boolean;
  again: boolean;
}

const DEFAULT_GRACE_SECONDS = 30;
/** An image pull over an edge link may be slow, but not endless. */
const PULL_TIMEOUT_MS = 10 * 60_000;

/** CRI's int64 nanosecond times as milliseconds since the epoch; 0 when unset. */
const ms = (nanos: string): number => nanosToDate(nanos)?.getTime() ?? 0;

/**
 * edged: runs the node's pods on containerd through CRI, the kubelet's pod workers in small. Every
 * sync compares the pods the node holds (MetaManager's store, so it works offline and after a
 * restart) with what the runtime runs, labelled with this node's name, and closes the gap: sandbox,
 * volumes, init containers in order, containers, restarts per restartPolicy with CrashLoopBackOff,
 * graceful termination, and removal of whatever no pod claims. Status goes to the reporter on change.
 */
export class Edged {
  readonly #workers = new Map<string, PodWorker>();
  readonly #backoff = new RestartBackoff();
  readonly #prober: Prober;
  readonly #conditions = new Map<string, readonly PodCondition[]>();
  readonly #startTimes = new Map<string, string>();
  /** The last status computed per pod UID: as JSON (to tell edged's own store writes) and its phase. */
  readonly #lastStatus = new Map<string, { readonly json: string; readonly phase: string }>();
  readonly #confirmed = new Set<string>();
  /** The pods the node should run, by UID, as of the latest sync round. */
  #desired = new Map<string, Pod>();
  /** Failed image pulls: no new attempt before `until`. */
  readonly #pullBackoff = new Map<string, { until: number; delay: number }>();
  #timer: NodeJS.Timeout | undefined;
  #unsubscribe: (() => void) | undefined;
  #syncing: Promise<void> | undefined;
  #resyncRequested = false;
  #stopped = false;
  readonly #log: Logger;

  constructor(private readonly options: EdgedOptions) {
    this.#log = options.log.child({ component: "edged" });
    this.#prober = new Prober(options.cri, this.#log);
  }

  start(): void {
    mkdirSync(this.options.podsDir, { recursive: true });
    mkdirSync(this.options.logRoot, { recursive: true });
    this.#unsubscribe = this.options.meta.subscribe((event) => this.#onStore(event));
    this.#timer = setInterval(() => this.requestSync(), this.options.syncIntervalMs ?? 2000);
    this.requestSync();
  }

  /** Stops syncing; the containers keep running (edgecore restarts must not disturb pods). */
  async stop(): Promise<void> {
    this.#stopped = true;
    clearInterval(this.#timer);
    this.#unsubscribe?.();
    this.#prober.stop();
    await this.#syncing?.catch(() => undefined);
    // Wait for pod workers to finish their current step.
    for (let i = 0; i < 600 && [...this.#workers.values()].some((w) => w.running); i++)
      await new Promise((r) => setTimeout(r, 50));
  }

  /** Asks for a full sync soon (coalesced). */
  requestSync(): void {
    if (this.#stopped) return;
    if (this.#syncing) {
      this.#resyncRequested = true;
      return;
    }
    this.#syncing = this.#syncAll()
      .catch((err: unknown) => this.#log.warn({ err: (err as Error).message }, "pod sync round failed"))
      .finally(() => {
        this.#syncing = undefined;
        if (this.#resyncRequested) {
          this.#resyncRequested = false;
          this.requestSync();
        }
      });
  }

  #onStore(event: StoreEvent): void {
    const { type } = event.object;
    if (type === "pod" && event.type === "DELETED") {
      this.options.reporter.forget(event.object.namespace, event.object.name);
    }
    if (type === "pod" || type === "configmap" || type === "secret") {
      // A local status write is edged's own echo: nothing to do.
      if (type === "pod" && event.type === "MODIFIED" && this.#isOwnEcho(event)) return;
      this.requestSync();
    }
  }

  #isOwnEcho(event: StoreEvent): boolean {
    const status = JSON.stringify(event.object.object["status"] ?? null);
    const uid = event.object.object.metadata?.uid ?? "";
    return this.#lastStatus.get(uid)?.json === status;
  }

  async #syncAll(): Promise<void> {
    const { cri, nodeName } = this.options;
    const selector = { [Labels.node]: nodeName };
    const [sandboxes, containers] = await Promise.all([
      cri.listPodSandbox({ labelSelector: selector }),
      cri.listContainers({ labelSelector: selector }),
    ]);
    const runtime = new Map<string, RuntimePod>();
    const of = (uid: string): RuntimePod => {
      let entry = runtime.get(uid);
      if (!entry) runtime.set(uid, (entry = { sandboxes: [], containers: [] }));
      return entry;
    };
    for (const s of sandboxes) of(s.labels[Labels.podUid] ?? "").sandboxes.push(s);
    for (const c of containers) of(c.labels[Labels.podUid] ?? "").containers.push(c);

    const desired = new Map<string, Pod>();
    for (const stored of this.options.meta.store.list("pod")) {
      const parsed = parsePod(stored.object);
      if ("error" in parsed) {
        this.#log.warn({ pod: stored.resource, err: parsed.error }, "pod does not validate; not run");
        continue;
      }
      if (parsed.pod.spec.nodeName !== undefined && parsed.pod.spec.nodeName !== nodeName) continue;
      desired.set(parsed.pod.metadata.uid, parsed.pod);
    }
    this.#desired = desired;
    for (const uid of desired.keys()) this.#schedule(uid);
    for (const uid of runtime.keys()) if (!desired.has(uid)) this.#schedule(uid);
    const phases = new Map<string, number>();
    for (const pod of desired.values()) {
      const phase = this.#lastStatus.get(pod.metadata.uid)?.phase ?? "Pending";
      phases.set(phase, (phases.get(phase) ?? 0) + 1);
    }
    this.options.metrics.pods.reset();
    for (const [phase, n] of phases) this.options.metrics.pods.set({ phase }, n);
  }

  /**
   * Syncs one pod in its worker; if the worker is busy, it runs once more when done. Each run reads
   * the runtime afresh: a snapshot taken while the worker was creating a container would miss it.
   */
  #schedule(uid: string): void {
    let worker = this.#workers.get(uid);
    if (!worker) this.#workers.set(uid, (worker = { running: false, again: false }));
    if (worker.running) {
      worker.again = true;
      return;
    }
    worker.running = true;
    const w = worker;
    void (async () => {
      do {
        w.again = false;
        try {
          await this.#syncOne(uid);
        } catch (err) {
          this.#log.warn({ pod: uid, err: (err as Error).message }, "pod sync failed");
        }
      } while (w.again && !this.#stopped);
      w.running = false;
      if (!this.#desired.has(uid)) this.#workers.delete(uid);
    })();
  }

  async #syncOne(uid: string): Promise<void> {
    const selector = { [Labels.podUid]: uid, [Labels.node]: this.options.nodeName };
    const [sandboxes, containers] = await Promise.all([
      this.options.cri.listPodSandbox({ labelSelector: selector }),
      this.options.cri.listContainers({ labelSelector: selector }),
    ]);
    const runtime: RuntimePod | undefined =
      sandboxes.length + containers.length > 0 ? { sandboxes, containers } : undefined;
    const pod = this.#desired.get(uid);
    if (pod) await this.#syncPod(pod, runtime);
    else if (runtime) await this.#teardown(uid, runtime, DEFAULT_GRACE_SECONDS);
  }

  async #syncPod(pod: Pod, runtime: RuntimePod | undefined): Promise<void> {
    const uid = pod.metadata.uid;
    if (pod.metadata.deletionTimestamp !== undefined) {
      const grace =
        pod.metadata.deletionGracePeriodSeconds ??
        pod.spec.terminationGracePeriodSeconds ??
        DEFAULT_GRACE_SECONDS;
      if (runtime) await this.#teardown(uid, runtime, grace);
      if (!this.#confirmed.has(uid)) {
        await this.options.confirmDeletion(pod.metadata.namespace, pod.metadata.name, uid);
        this.#confirmed.add(uid);
      }
      return;
    }
    const waiting = new Map<string, Waiting>();
    const hostNetwork = this.options.forceHostNetwork === true || pod.spec.hostNetwork === true;
    if (!this.#startTimes.has(uid))
      this.#startTimes.set(uid, new Date().toISOString().replace(/\.\d{3}Z$/, "Z"));

    // Sandbox: reuse the ready one; a sandbox that died takes its containers with it.
    const sandboxes = runtime?.sandboxes ?? [];
    let sandboxId = sandboxes.find((s) => s.state === "SANDBOX_READY")?.id;
    const terminal = this.#isTerminal(pod, runtime);
    let containers = runtime?.containers ?? [];
    if (sandboxId === undefined && !terminal) {
      const attempt = sandboxes.reduce((max, s) => Math.max(max, (s.metadata?.attempt ?? 0) + 1), 0);
      for (const dead of sandboxes)
        await this.#cri("RemovePodSandbox", () => this.options.cri.removePodSandbox(dead.id));
      const config = sandboxConfig(pod, {
        node: this.options.nodeName,
        logRoot: this.options.logRoot,
        attempt,
        hostNetwork,
      });
      ({ podSandboxId: sandboxId } = await this.#cri("RunPodSandbox", () =>
        this.options.cri.runPodSandbox({ config }),
      ));
      containers = [];
    }
    let observedSandbox: ObservedSandbox | undefined;
    let sandboxAttempt = 0;
    if (sandboxId !== undefined) {
      // The sandbox's IP is only in its status: one call, for a new sandbox as for an old one.
      const { status } = await this.options.cri.podSandboxStatus(sandboxId);
      sandboxAttempt = status.metadata?.attempt ?? 0;
      observedSandbox = {
        id: status.id,
        ready: status.state === "SANDBOX_READY",
        ip: status.network?.ip ?? "",
        createdAt: ms(status.createdAt),
      };
      containers = containers.filter((c) => c.podSandboxId === sandboxId);
    }
    let observed = await this.#observe(containers);
    const podIP = observedSandbox?.ip || (hostNetwork ? this.options.hostIP : "");

    if (sandboxId !== undefined && !terminal) {
      const podSandboxId = sandboxId;
      const sandboxCfg = sandboxConfig(pod, {
        node: this.options.nodeName,
        logRoot: this.options.logRoot,
        attempt: sandboxAttempt,
        hostNetwork,
      });
      /** Set once edged changed what runs (created, started or stopped a container) this round. */
      let acted = false;
      try {
        const volumes = await prepareVolumes({
          pod,
          podDir: join(this.options.podsDir, uid),
          objects: this.options.objects,
          tokens: this.options.tokens,
          node: { hostIP: this.options.hostIP, podIP },
        });
        const start = async (
          container: Container,
          init: boolean,
          attempt: number,
          reason: string,
        ): Promise<void> => {
          try {
            await this.#ensureImage(pod, container);
          } catch (err) {
            if (!(err instanceof ContainerConfigError)) throw err;
            waiting.set(container.name, { reason: err.reason, message: err.message });
            return;
          }
          const env = containerEnv(pod, container, this.options.objects, {
            hostIP: this.options.hostIP,
            podIP,
          });
          const config = containerConfig(pod, container, {
            node: this.options.nodeName,
            attempt,
            env,
            volumes,
            init,
            hostNetwork,
            expand: (text) => expand(text, env),
          });
          let containerId: string;
          try {
            ({ containerId } = await this.#cri("CreateContainer", () =>
              this.options.cri.createContainer({ podSandboxId, config, sandboxConfig: sandboxCfg }),
            ));
          } catch (err) {
            if (!(err instanceof CriError)) throw err;
            waiting.set(container.name, { reason: "CreateContainerError", message: err.message });
            return;
          }
          acted = true;
          try {
            await this.#cri("StartContainer", () => this.options.cri.startContainer(containerId));
          } catch (err) {
            if (!(err instanceof CriError)) throw err;
            // A container that failed to start has exited (runc's error is its status message).
            waiting.set(container.name, { reason: "RunContainerError", message: err.message });
            return;
          }
          this.options.metrics.containerStarts.inc({ reason });
          this.#log.info(
            {
              pod: `${pod.metadata.namespace}/${pod.metadata.name}`,
              container: container.name,
              attempt,
              reason,
            },
            "container started",
          );
        };
        await this.#runContainers(pod, observed, waiting, start, () => (acted = true));
      } catch (err) {
        if (!(err instanceof ContainerConfigError)) throw err;
        for (const c of [...(pod.spec.initContainers ?? []), ...pod.spec.containers]) {
          if (observed.latest.get(c.name)?.state !== "running")
            waiting.set(c.name, { reason: err.reason, message: err.message });
        }
      }
      if (acted) {
        // What edged just did shows in this round's status, not only the next one's.
        containers = (
          await this.options.cri.listContainers({
            labelSelector: { [Labels.podUid]: uid, [Labels.node]: this.options.nodeName },
          })
        ).filter((c) => c.podSandboxId === podSandboxId);
        observed = await this.#observe(containers);
        for (const [name, c] of observed.latest) if (c.state === "running") waiting.delete(name);
      }
      await this.#removeOldInstances(containers, observed.latest, observed.previous);
      this.#prober.track(pod, observed.latest, podIP);
    }

    const status = podStatus({
      pod,
      sandbox: observedSandbox,
      latest: observed.latest,
      previous: observed.previous,
      waiting,
      ready: this.#prober.readiness(uid),
      hostIP: this.options.hostIP,
      startTime: this.#startTimes.get(uid) ?? "",
      previousConditions: this.#conditions.get(uid) ?? [],
      now: new Date().toISOString().replace(/\.\d{3}Z$/, "Z"),
    });
    this.#conditions.set(uid, status["conditions"] as PodCondition[]);
    const json = JSON.stringify(status);
    if (this.#lastStatus.get(uid)?.json !== json) {
      this.#lastStatus.set(uid, { json, phase: String(status["phase"]) });
      this.options.meta.setLocalStatus(`${pod.metadata.namespace}/pod/${pod.metadata.name}`, status);
    }
    // Always offered: the reporter sends only what the cloud has not accepted.
    this.options.reporter.report(pod.metadata.namespace, pod.metadata.name, uid, status);
  }

  /** A pod that finished for good (Succeeded, or Failed under its policy) runs nothing more. */
  #isTerminal(pod: Pod, runtime: RuntimePod | undefined): boolean {
    const phase = this.#lastStatus.get(pod.metadata.uid)?.phase;
    return (phase === "Succeeded" || phase === "Failed") && (runtime?.containers.length ?? 0) > 0;
  }

  /** Init containers one by one to success, then every container; restarts per policy and back-off. */
  async #runContainers(
    pod: Pod,
    observed: { latest: Map<string, ObservedContainer> },
    waiting: Map<string, Waiting>,
    start: (container: Container, init: boolean, attempt: number, reason: string) => Promise<void>,
    acted: () => void,
  ): Promise<void> {
    const policy = pod.spec.restartPolicy ?? "Always";
    const describe = (c: Container): string =>
      `container=${c.name} pod=${pod.metadata.name}_${pod.metadata.namespace}(${pod.metadata.uid})`;
    const restartOrWait = async (c: Container, latest: ObservedContainer, init: boolean): Promise<void> => {
      const decision = this.#backoff.decide(`${pod.metadata.uid}/${c.name}`, latest, Date.now(), describe(c));
      if (decision.action === "restart") await start(c, init, latest.attempt + 1, "restart");
      else waiting.set(c.name, { reason: "CrashLoopBackOff", message: decision.message });
    };
    for (const c of pod.spec.initContainers ?? []) {
      const latest = observed.latest.get(c.name);
      if (!latest) return start(c, true, 0, "create");
      if (latest.state === "created") {
        acted();
        return this.#cri("StartContainer", () => this.options.cri.startContainer(latest.id));
      }
      if (latest.state === "running" || latest.state === "unknown") return;
      if (latest.exitCode === 0) continue;
      // A failed init container: retried unless the pod never restarts (then the pod has Failed).
      if (policy !== "Never") await restartOrWait(c, latest, true);
      return;
    }
    for (const c of pod.spec.containers) {
      const latest = observed.latest.get(c.name);
      if (!latest) {
        await start(c, false, 0, "create");
        continue;
      }
      if (latest.state === "created") {
        acted();
        await this.#cri("StartContainer", () => this.options.cri.startContainer(latest.id));
        continue;
      }
      if (latest.state === "running" && this.#prober.failedLiveness(pod.metadata.uid, c.name)) {
        this.#log.info({ pod: pod.metadata.name, container: c.name }, "liveness probe failed; restarting");
        acted();
        await this.#cri("StopContainer", () =>
          this.options.cri.stopContainer({
            containerId: latest.id,
            timeout: pod.spec.terminationGracePeriodSeconds ?? DEFAULT_GRACE_SECONDS,
          }),
        );
        this.#prober.resetLiveness(pod.metadata.uid, c.name);
        continue;
      }
      if (latest.state === "exited" && shouldRestart(policy, latest)) await restartOrWait(c, latest, false);
    }
  }

  /**
   * The container's image, pulled per imagePullPolicy (default: Always for `:latest` or no tag,
   * else IfNotPresent). Unlike the kubelet, `Always` falls back to the image the node has when the
   * pull fails: an edge node offline must still restart its containers. A failed pull is retried
   * with back-off (ImagePullBackOff), as the kubelet does.
   */
  async #ensureImage(pod: Pod, container: Container): Promise<void> {
    const image = container.image;
    const tag = /:([^/:]+)$/.exec(image.replace(/@.*$/, ""))?.[1];
    const policy =
      container.imagePullPolicy ?? (tag === undefined || tag === "latest" ? "Always" : "IfNotPresent");
    const present =
      (await this.#cri("ImageStatus", () => this.options.cri.imageStatus({ image }))).image !== null;
    if (policy === "Never") {
      if (present) return;
      throw new ContainerWaitingError(
        "ErrImageNeverPull",
        `Container image "${image}" is not present with pull policy of Never`,
      );
    }
    if (present && policy === "IfNotPresent") return;
    const key = `${pod.metadata.uid}/${image}`;
    const backoff = this.#pullBackoff.get(key);
    if (backoff && Date.now() < backoff.until) {
      if (present) return;
      throw new ContainerWaitingError("ImagePullBackOff", `Back-off pulling image "${image}"`);
    }
    try {
      await this.#cri("PullImage", () =>
        this.options.cri.pullImage({ image: { image } }, { timeoutMs: PULL_TIMEOUT_MS }),
      );
      this.#pullBackoff.delete(key);
    } catch (err) {
      if (!(err instanceof CriError)) throw err;
      const delay = Math.min((backoff?.delay ?? 5_000) * 2, 300_000);
      this.#pullBackoff.set(key, { until: Date.now() + delay, delay });
      if (present) {
        this.#log.warn({ image, err: err.message }, "image pull failed; using the image the node has");
        return;
      }
      throw new ContainerWaitingError("ErrImagePull", `failed to pull image "${image}": ${err.message}`);
    }
  }

  /** The latest and the previous instance of each container name, from the runtime. */
  async #observe(
    containers: CriContainer[],
  ): Promise<{ latest: Map<string, ObservedContainer>; previous: Map<string, ObservedContainer> }> {
    const byName = new Map<string, CriContainer[]>();
    for (const c of containers) {
      const name = c.labels[Labels.containerName] ?? c.metadata?.name ?? "";
      const list = byName.get(name) ?? [];
      list.push(c);
      byName.set(name, list);
    }
    const latest = new Map<string, ObservedContainer>();
    const previous = new Map<string, ObservedContainer>();
    for (const [name, list] of byName) {
      list.sort((a, b) => (b.metadata?.attempt ?? 0) - (a.metadata?.attempt ?? 0));
      const [newest, before] = list;
      if (newest) latest.set(name, await this.#inspect(name, newest));
      if (before) previous.set(name, await this.#inspect(name, before));
    }
    return { latest, previous };
  }

  async #inspect(name: string, c: CriContainer): Promise<ObservedContainer> {
    const { status } = await this.options.cri.containerStatus(c.id);
    const state = (
      {
        CONTAINER_CREATED: "created",
        CONTAINER_RUNNING: "running",
        CONTAINER_EXITED: "exited",
        CONTAINER_UNKNOWN: "unknown",
      } as const
    )[status.state];
    return {
      name,
      id: c.id,
      attempt: status.metadata?.attempt ?? c.metadata?.attempt ?? 0,
      state,
      createdAt: ms(status.createdAt),
      startedAt: ms(status.startedAt),
      finishedAt: ms(status.finishedAt),
      exitCode: status.exitCode,
      reason: status.reason,
      message: status.message,
      image: status.image?.image ?? "",
      imageRef: status.imageRef,
    };
  }

  /** Keeps the latest and the previous instance of each container (logs, lastState); removes older ones. */
  async #removeOldInstances(
    containers: CriContainer[],
    latest: ReadonlyMap<string, ObservedContainer>,
    previous: ReadonlyMap<string, ObservedContainer>,
  ): Promise<void> {
    const keep = new Set([...latest.values(), ...previous.values()].map((c) => c.id));
    for (const c of containers) {
      if (keep.has(c.id) || c.state === "CONTAINER_RUNNING") continue;
      await this.#cri("RemoveContainer", () => this.options.cri.removeContainer(c.id));
    }
  }

  /** Stops every container of a pod with the grace period, then its sandboxes, and forgets it. */
  async #teardown(uid: string, runtime: RuntimePod, graceSeconds: number): Promise<void> {
    // Regular containers first, init containers have already exited.
    const running = runtime.containers.filter(
      (c) => c.state === "CONTAINER_RUNNING" || c.state === "CONTAINER_CREATED",
    );
    await Promise.all(
      running.map((c) =>
        this.#cri("StopContainer", () =>
          this.options.cri.stopContainer({ containerId: c.id, timeout: graceSeconds }),
        ),
      ),
    );
    for (const s of runtime.sandboxes) {
      await this.#cri("StopPodSandbox", () => this.options.cri.stopPodSandbox(s.id));
      await this.#cri("RemovePodSandbox", () => this.options.cri.removePodSandbox(s.id));
    }
    this.#forget(uid);
    this.#log.info({ pod: uid, containers: running.length }, "pod torn down");
  }

  #forget(uid: string): void {
    this.#backoff.forget(`${uid}/`);
    for (const key of this.#pullBackoff.keys()) if (key.startsWith(`${uid}/`)) this.#pullBackoff.delete(key);
    this.#prober.forget(uid);
    this.#conditions.delete(uid);
    this.#startTimes.delete(uid);
    this.#lastStatus.delete(uid);
    rmSync(join(this.options.podsDir, uid), { recursive: true, force: true });
  }

  /** One CRI call, counted; NOT_FOUND on a stop/remove means it is already gone. */
  async #cri<T>(method: string, call: () => Promise<T>): Promise<T> {
    try {
      const result = await call();
      this.options.metrics.criCalls.inc({ method, result: "ok" });
      return result;
    } catch (err) {
      const code = err instanceof CriError ? (GrpcStatus[err.grpcCode] ?? String(err.grpcCode)) : "error";
      this.options.metrics.criCalls.inc({ method, result: code });
      // Stop and Remove resolve to nothing (T is void), so "already gone" can answer for them.
      if (err instanceof CriError && err.grpcCode === GrpcStatus.NOT_FOUND && /^(Stop|Remove)/.test(method))
        return undefined as T;
      throw err;
    }
  }
}
