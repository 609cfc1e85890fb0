import { cpus, totalmem } from "node:os";
import type { Logger } from "pino";
import type { Message } from "../../protocol/message.js";
import { backoffDelay } from "../../protocol/backoff.js";
import { replyError } from "../upstream/replies.js";
import { nodeStatusHeartbeat, kubeTime, registerNode, renewLease } from "../upstream/requests.js";

/** What the node agent needs of edgehub. */
export interface CloudRequester {
  request(message: Message, timeoutMs?: number): Promise<Message>;
  onStatus(handler: (status: { readonly type: string }) => void): () => void;
  readonly status: { readonly type: string };
}

export interface NodeAgentOptions {
  readonly hub: CloudRequester;
  readonly nodeName: string;
  readonly internalIP: string;
  readonly labels?: Readonly<Record<string, string>>;
  /** How long the Lease lasts (the kubelet's 40 s). */
  readonly leaseDurationMs: number;
  /** How often it is renewed (the kubelet renews at a quarter of the duration). */
  readonly leaseRenewIntervalMs: number;
  /** How often the Ready condition is reported (KubeEdge's nodeStatusUpdateFrequency, 10 s). */
  readonly statusIntervalMs: number;
  readonly log: Logger;
}

/**
 * The kubelet's node duties, over the tunnel: register the Node on every connect (the cloud merges
 * into an existing one), renew its Lease and report Ready on a timer while connected. Offline it
 * does nothing: the cloud keeps the node from eviction for its offline grace (cloudcore's side).
 */
export class NodeAgent {
  #lease: NodeJS.Timeout | undefined;
  #status: NodeJS.Timeout | undefined;
  #registered = false;
  #readySince = kubeTime();
  #stopped = false;
  #unsubscribe: (() => void) | undefined;
  readonly #log: Logger;

  constructor(private readonly options: NodeAgentOptions) {
    this.#log = options.log.child({ component: "nodeagent" });
  }

  start(): void {
    this.#unsubscribe = this.options.hub.onStatus((status) => {
      if (status.type === "connected") void this.#register();
      else this.#registered = false;
    });
    if (this.options.hub.status.type === "connected") void this.#register();
    this.#lease = setInterval(() => this.#renew(), this.options.leaseRenewIntervalMs);
    this.#status = setInterval(() => this.#heartbeat(), this.options.statusIntervalMs);
  }

  stop(): void {
    this.#stopped = true;
    this.#unsubscribe?.();
    clearInterval(this.#lease);
    clearInterval(this.#status);
  }

  async #register(): Promise<void> {
    const { hub, nodeName } = this.options;
    for (let attempt = 0; !this.#stopped && hub.status.type === "connected"; attempt++) {
      try {
        const memoryKi = Math.floor(totalmem() / 1024);
        const reply = await hub.request(
          registerNode({
            name: nodeName,
            internalIP: this.options.internalIP,
            ...(this.options.labels && { labels: this.options.labels }),
            capacity: { cpu: String(cpus().length), memory: `${memoryKi}Ki`, pods: "110" },
          }),
        );
        const error = replyError(reply);
        if (error) throw new Error(error);
        this.#registered = true;
        this.#readySince = kubeTime();
        this.#log.info({ node: nodeName }, "node registered");
        this.#renew();
        return;
      } catch (err) {
        const delay = backoffDelay(attempt, { initialMs: 500, maxMs: 10_000 });
        this.#log.warn({ err: (err as Error).message, retryInMs: delay }, "node registration failed");
        await new Promise((r) => setTimeout(r, delay).unref());
      }
    }
  }

  #renew(): void {
    if (!this.#registered) return;
    const seconds = Math.round(this.options.leaseDurationMs / 1000);
    this.options.hub
      .request(renewLease(this.options.nodeName, seconds))
      .then((reply) => {
        const error = replyError(reply);
        if (error) this.#log.warn({ err: error }, "lease renewal refused");
      })
      .catch((err: unknown) => this.#log.debug({ err: (err as Error).message }, "lease renewal failed"));
  }

  #heartbeat(): void {
    if (!this.#registered) return;
    this.options.hub
      .request(nodeStatusHeartbeat(this.options.nodeName, this.#readySince))
      .catch((err: unknown) => this.#log.debug({ err: (err as Error).message }, "node status failed"));
  }
}
