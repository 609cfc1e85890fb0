import { EdgeHub, type EdgeHubOptions } from "../../edgecore/hub/edgehub.js";
import {
  confirmPodDeletion,
  kubeTime,
  nodeStatusHeartbeat,
  patchPodStatus,
  registerNode,
  renewLease,
} from "../../edgecore/upstream/requests.js";
import { replyError } from "../../edgecore/upstream/replies.js";
import { OK_CONTENT, Operation, ResourceType, Source } from "../../protocol/constants.js";
import { responseTo, type Message } from "../../protocol/message.js";
import { parseResource } from "../../protocol/resource.js";
import type { LatencySet } from "./latencies.js";
import {
  containerCreatingStatus,
  CREATED_AT_ANNOTATION,
  podAddress,
  runningStatus,
  startupDelay,
  stopDelay,
  type NodeBehaviour,
  type PodSpecView,
} from "./node-behaviour.js";
import type { ShardCounters } from "./shard-messages.js";

/** What the nodes of one shard share: counters, the current phase's histograms, settings. */
export interface ShardContext {
  readonly counters: ShardCounters;
  latencies(): LatencySet;
  error(text: string): void;
  readonly behaviour: NodeBehaviour;
  readonly labels: Readonly<Record<string, string>>;
}

interface NodeView {
  readonly status?: { readonly conditions?: readonly { readonly type: string; readonly status: string }[] };
}

interface HeldPod {
  readonly uid: string | undefined;
  readonly ordinal: number;
  running: boolean;
  deleting: boolean;
  timer: NodeJS.Timeout | undefined;
}

/**
 * One emulated edge node: a real EdgeHub tunnel (real certificate, real protocol), the node's
 * heartbeats (registration, Lease renewal, periodic status report), acks for everything the cloud
 * sends, and an emulated pod lifecycle (ContainerCreating → Running after a random startup time;
 * deletion confirmed after the stop time). Only the container runtime is emulated.
 */
export class EmulatedNode {
  readonly hub: EdgeHub;
  readonly #pods = new Map<string, HeldPod>();
  #podOrdinal = 0;
  #registered = false;
  /** A registration is on its way (a reconnect meanwhile must not start a second one). */
  #registering = false;
  #readySince = kubeTime();
  #timers: NodeJS.Timeout[] = [];
  #wasUp = false;
  #downSince: number | undefined;
  /** When an interrupted network comes back (chaos): reconnects are timed from then. */
  #networkBackAt = 0;
  #stopped = false;
  #lastCorrection = -Infinity;

  constructor(
    readonly name: string,
    readonly index: number,
    readonly internalIP: string,
    hubOptions: Omit<EdgeHubOptions, "nodeName" | "keepaliveIntervalMs">,
    private readonly ctx: ShardContext,
  ) {
    this.hub = new EdgeHub({
      ...hubOptions,
      nodeName: name,
      keepaliveIntervalMs: ctx.behaviour.keepaliveIntervalMs,
    });
    this.hub.onMessage((m) => this.#onMessage(m));
    this.hub.onStatus((status) => {
      const { counters } = this.ctx;
      if (status.type === "connected") {
        counters.connected++;
        if (this.#wasUp && this.#downSince !== undefined) {
          counters.reconnects++;
          const from = Math.max(this.#downSince, this.#networkBackAt);
          this.ctx.latencies().record("reconnect", performance.now() - from);
        }
        this.#wasUp = true;
        this.#downSince = undefined;
        void this.#register();
      } else if (this.#wasUp && this.#downSince === undefined) {
        counters.connected--;
        this.#downSince = performance.now();
      }
    });
  }

  /** Dials; resolves once the tunnel is up (or rejects if the hub is closed first). */
  async start(): Promise<void> {
    const t0 = performance.now();
    this.hub.start();
    await this.hub.connected();
    this.ctx.latencies().record("connect", performance.now() - t0);
  }

  /** Chaos: cut the tunnel as a network failure would; the network is back after `offlineMs`. */
  interrupt(offlineMs: number): void {
    this.#networkBackAt = performance.now() + offlineMs;
    this.hub.interrupt(offlineMs);
  }

  get pods(): number {
    return this.#pods.size;
  }

  /** Stops every timer and closes the tunnel. */
  async stop(): Promise<void> {
    this.#stopped = true;
    for (const t of this.#timers) clearInterval(t);
    this.#timers = [];
    for (const pod of this.#pods.values()) clearTimeout(pod.timer);
    await this.hub.close(); // its "closed" status takes the node off the connected count
  }

  async #register(): Promise<void> {
    if (this.#registered || this.#registering || this.#stopped) return;
    const t0 = performance.now();
    this.#registering = true;
    try {
      const reply = await this.#request(
        registerNode({ name: this.name, internalIP: this.internalIP, labels: this.ctx.labels }),
      );
      const error = replyError(reply);
      if (error) throw new Error(error);
      this.#registered = true;
      this.ctx.counters.registered++;
      this.ctx.latencies().record("register", performance.now() - t0);
    } catch (err) {
      this.ctx.counters.registerErrors++;
      this.ctx.error(`register ${this.name}: ${(err as Error).message}`);
      if (!this.#stopped) this.#timers.push(setTimeout(() => void this.#register(), 5000));
      return;
    } finally {
      this.#registering = false;
    }
    const { behaviour } = this.ctx;
    void this.#renewLease();
    // Spread the heartbeats of many nodes over their interval instead of beating in step.
    const every = (intervalMs: number, beat: () => void): void => {
      if (intervalMs <= 0) return;
      const first = setTimeout(
        () => {
          beat();
          this.#timers.push(setInterval(beat, intervalMs));
        },
        Math.floor(Math.random() * intervalMs),
      );
      this.#timers.push(first);
    };
    every(behaviour.leaseIntervalMs, () => void this.#renewLease());
    every(behaviour.statusReportIntervalMs, () => void this.#reportStatus());
    every(behaviour.rttIntervalMs, () => void this.#measureRtt());
  }

  async #renewLease(): Promise<void> {
    const t0 = performance.now();
    const reply = await this.#request(renewLease(this.name, this.ctx.behaviour.leaseDurationSeconds)).catch(
      (err: unknown) => (err as Error).message,
    );
    if (typeof reply === "string" || replyError(reply)) {
      this.#failed("lease", typeof reply === "string" ? reply : (replyError(reply) ?? ""));
      return;
    }
    this.ctx.latencies().record("lease", performance.now() - t0);
  }

  async #reportStatus(): Promise<void> {
    const reply = await this.#request(nodeStatusHeartbeat(this.name, this.#readySince)).catch(
      (err: unknown) => (err as Error).message,
    );
    if (typeof reply === "string" || replyError(reply))
      this.#failed("node status", typeof reply === "string" ? reply : (replyError(reply) ?? ""));
  }

  async #measureRtt(): Promise<void> {
    if (this.hub.status.type !== "connected") return;
    try {
      this.ctx.latencies().record("rtt", await this.hub.ping());
    } catch {
      // The tunnel dropped meanwhile: the reconnect is measured on its own.
    }
  }

  #request(message: Message): Promise<Message> {
    this.ctx.counters.messagesOut++;
    return this.hub.request(message).then((reply) => {
      this.ctx.counters.messagesIn++;
      return reply;
    });
  }

  #send(message: Message): void {
    if (this.hub.send(message)) this.ctx.counters.messagesOut++;
  }

  #failed(what: string, error: string): void {
    this.ctx.counters.requestErrors++;
    this.ctx.error(`${what}: ${error}`);
  }

  #onMessage(message: Message): void {
    this.ctx.counters.messagesIn++;
    const { operation, resource = "", source } = message.route;
    if (operation === Operation.Response || operation === Operation.Error) return;
    if (source !== Source.EdgeController && source !== Source.DeviceController) return;
    // The ack, as the edge's metadata store sends it once the object is stored.
    this.#send(responseTo(message, OK_CONTENT));
    const ref = parseResource(resource);
    if (ref.type === ResourceType.Node && ref.name === this.name) {
      this.#nodeUpdate(message.content as NodeView);
      return;
    }
    if (ref.type !== ResourceType.Pod) return;
    if (operation === Operation.Delete) this.#forget(resource);
    else this.#podUpdate(resource, message.content as PodSpecView);
  }

  /**
   * The control plane's view of this node. If it says not Ready (a Lease arrived late and the node
   * lifecycle controller marked the node Unknown) the node reports its status again, at most once
   * per 10 s, as the kubelet's status sync would.
   */
  #nodeUpdate(node: NodeView): void {
    const ready = node.status?.conditions?.find((c) => c.type === "Ready");
    if (!this.#registered || ready === undefined || ready.status === "True") return;
    const now = performance.now();
    if (now - this.#lastCorrection < 10_000) return;
    this.#lastCorrection = now;
    this.#readySince = kubeTime(); // Unknown → True is a transition
    void this.#reportStatus();
  }

  #podUpdate(resource: string, pod: PodSpecView): void {
    const held = this.#pods.get(resource);
    const namespace = pod.metadata?.namespace ?? "";
    const name = pod.metadata?.name ?? "";
    if (pod.metadata?.deletionTimestamp) {
      if (!held || held.deleting) return;
      held.deleting = true;
      clearTimeout(held.timer);
      held.timer = setTimeout(
        () => {
          this.#request(confirmPodDeletion(namespace, name, held.uid)).catch((err: unknown) =>
            this.#failed("pod deletion", (err as Error).message),
          );
        },
        stopDelay(pod, this.ctx.behaviour),
      );
      return;
    }
    if (held) return; // a spec update of a running pod: nothing to emulate
    const created = Number(pod.metadata?.annotations?.[CREATED_AT_ANNOTATION]);
    if (Number.isFinite(created) && created > 0)
      this.ctx.latencies().record("podDelivery", Date.now() - created);
    const entry: HeldPod = {
      uid: pod.metadata?.uid,
      ordinal: this.#podOrdinal++,
      running: false,
      deleting: false,
      timer: undefined,
    };
    this.#pods.set(resource, entry);
    this.ctx.counters.podsHeld++;
    void this.#writePodStatus(namespace, name, containerCreatingStatus(pod, this.internalIP));
    const startedAt = new Date();
    entry.timer = setTimeout(() => {
      entry.timer = undefined;
      if (entry.deleting || this.#pods.get(resource) !== entry) return;
      entry.running = true;
      this.ctx.counters.podsRunning++;
      void this.#writePodStatus(
        namespace,
        name,
        runningStatus(pod, this.internalIP, podAddress(this.index, entry.ordinal), startedAt),
      );
    }, startupDelay(this.ctx.behaviour));
  }

  async #writePodStatus(namespace: string, name: string, status: unknown): Promise<void> {
    const t0 = performance.now();
    const reply = await this.#request(patchPodStatus(namespace, name, status)).catch(
      (err: unknown) => (err as Error).message,
    );
    if (typeof reply === "string" || replyError(reply)) {
      this.#failed("pod status", typeof reply === "string" ? reply : (replyError(reply) ?? ""));
      return;
    }
    this.ctx.latencies().record("podStatusWrite", performance.now() - t0);
  }

  #forget(resource: string): void {
    const held = this.#pods.get(resource);
    if (!held) return;
    clearTimeout(held.timer);
    this.#pods.delete(resource);
    this.ctx.counters.podsHeld--;
    if (held.running) this.ctx.counters.podsRunning--;
    this.ctx.counters.podsDeleted++;
  }
}
