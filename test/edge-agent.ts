import type { Logger } from "pino";
import { EdgeHub, type EdgeCredentials } from "../edgecore/hub/edgehub.js";
import { Group, OK_CONTENT, Operation, Source } from "../protocol/constants.js";
import { newMessage, responseTo, type Message } from "../protocol/message.js";
import { parseResource } from "../protocol/resource.js";
import {
  confirmPodDeletion,
  kubeTime,
  patchPodStatus,
  registerNode,
  renewLease,
} from "../edgecore/upstream/requests.js";

/**
 * The edge side used by the controller tests: a real EdgeHub tunnel, a map standing for the edge's
 * metadata store, and the edge's half of the protocol: it registers its Node, renews its Lease,
 * acks every object it stores, reports pods Running, and confirms pod deletions. Containers are
 * not run here (that is edgecore's runtime, tested on containerd); the cloud cannot tell.
 */
export class TestEdge {
  readonly hub: EdgeHub;
  /** What the edge holds, by wire resource. */
  readonly store = new Map<string, { readonly operation: string; readonly content: unknown }>();
  /** Every object message received from the cloud, in order. */
  readonly received: Message[] = [];
  #heartbeat: NodeJS.Timeout | undefined;

  constructor(
    readonly nodeName: string,
    server: string,
    credentials: EdgeCredentials,
    log: Logger,
    private readonly options: { readonly runPods?: boolean; readonly labels?: Record<string, string> } = {},
  ) {
    this.hub = new EdgeHub({
      server,
      nodeName,
      credentials,
      logger: log,
      keepaliveIntervalMs: 1000,
      backoff: { initialMs: 100, maxMs: 500 },
      requestTimeoutMs: 10_000,
    });
    this.hub.onMessage((m) => this.#onMessage(m));
  }

  async start(): Promise<void> {
    this.hub.start();
    await this.hub.connected();
  }

  /** Registers the Node (insert null/node/<name>) and starts lease renewal and status heartbeats. */
  async register(): Promise<Message> {
    const reply = await this.hub.request(
      registerNode({
        name: this.nodeName,
        internalIP: "127.0.0.1",
        ...(this.options.labels && { labels: this.options.labels }),
      }),
    );
    this.#heartbeat ??= setInterval(() => void this.renewLease().catch(() => undefined), 2000);
    await this.renewLease();
    return reply;
  }

  async renewLease(): Promise<Message> {
    return this.hub.request(renewLease(this.nodeName));
  }

  request(operation: string, resource: string, content: unknown): Promise<Message> {
    return this.hub.request(
      newMessage({ source: Source.Edged, group: Group.Meta, operation, resource, content }),
    );
  }

  /** Pods the edge holds, as `<ns>/<name>`. */
  pods(): string[] {
    return [...this.store.keys()]
      .map((r) => parseResource(r))
      .filter((r) => r.type === "pod")
      .map((r) => `${r.namespace}/${r.name ?? ""}`)
      .sort();
  }

  async close(): Promise<void> {
    clearInterval(this.#heartbeat);
    this.#heartbeat = undefined;
    await this.hub.close();
  }

  #onMessage(message: Message): void {
    const { operation, resource = "" } = message.route;
    if (operation === Operation.Response || operation === Operation.Error) return;
    if (message.route.source !== Source.EdgeController && message.route.source !== Source.DeviceController)
      return;
    this.received.push(message);
    if (message.route.group === Group.Twin) return; // membership: informational, no ack
    if (operation === Operation.Delete) this.store.delete(resource);
    else this.store.set(resource, { operation: operation ?? "", content: message.content });
    // The ack: after storing, as KubeEdge's metamanager does.
    this.hub.send(responseTo(message, OK_CONTENT));
    const ref = parseResource(resource);
    if (ref.type !== "pod" || operation === Operation.Delete) return;
    const pod = message.content as { metadata?: { uid?: string; deletionTimestamp?: string } };
    if (pod.metadata?.deletionTimestamp) {
      // Containers stopped: confirm, as the kubelet's status manager does (grace 0, UID precondition).
      void this.hub
        .request(confirmPodDeletion(ref.namespace, ref.name ?? "", pod.metadata.uid))
        .catch(() => undefined);
    } else if (operation === Operation.Insert && this.options.runPods !== false) {
      const now = kubeTime();
      void this.hub
        .request(
          patchPodStatus(ref.namespace, ref.name ?? "", {
            phase: "Running",
            startTime: now,
            conditions: [
              { type: "Ready", status: "True", lastTransitionTime: now },
              { type: "ContainersReady", status: "True", lastTransitionTime: now },
            ],
          }),
        )
        .catch(() => undefined);
    }
  }
}
