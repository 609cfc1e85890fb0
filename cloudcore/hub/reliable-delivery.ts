import type { Logger } from "pino";
import { Operation } from "../../protocol/constants.js";
import type { Message } from "../../protocol/message.js";
import type { AckStore } from "./ack-store.js";
import { DeliveryQueue } from "./delivery-queue.js";
import type { SessionManager } from "./session-manager.js";

export interface ReliableDeliveryOptions {
  /** Messages in flight per node. KubeEdge sends one at a time; a window keeps throughput up. */
  readonly maxInFlight: number;
  /** Resend an unacked message after this long (KubeEdge: 5 s). */
  readonly ackTimeoutMs: number;
  readonly now: () => number;
}

/**
 * Downstream messages that need an ack: kept per node until the edge answers with a `response`
 * whose parent_msg_id is the message id, resent while unanswered, requeued (not dropped) when the
 * tunnel closes and sent again when it comes back. Acks are recorded in the AckStore so a version
 * the node already has is never sent twice.
 */
export class ReliableDelivery {
  readonly #queues = new Map<string, DeliveryQueue>();
  readonly #sweep: NodeJS.Timeout;

  constructor(
    private readonly sessions: SessionManager,
    private readonly acks: AckStore,
    private readonly options: ReliableDeliveryOptions,
    private readonly log: Logger,
  ) {
    this.#sweep = setInterval(
      () => this.#resendOverdue(),
      Math.max(100, Math.floor(options.ackTimeoutMs / 2)),
    );
    this.#sweep.unref();
  }

  /** Queues `message` (edge-form resource) for `node` and sends it if the node is connected here. */
  async deliver(node: string, message: Message): Promise<void> {
    const key = message.route.resource ?? "";
    const acked = await this.acks.acked(node, key);
    this.#queue(node).enqueue(key, message, acked);
    this.pump(node);
  }

  /** Sends whatever may go now to a connected node. */
  pump(node: string): void {
    const queue = this.#queues.get(node);
    if (!queue || !this.sessions.get(node)) return;
    for (const message of queue.takeSendable()) this.sessions.send(node, message);
  }

  /** A `response` from the edge: the ack of its parent message, if that is one of ours. */
  async acknowledge(node: string, parentId: string): Promise<boolean> {
    const acked = this.#queues.get(node)?.ack(parentId);
    if (!acked) return false;
    const { key, message } = acked;
    if (message.route.operation === Operation.Delete) await this.acks.forget(node, key);
    else if (message.header.resourceversion)
      await this.acks.record(node, key, message.header.resourceversion);
    this.pump(node);
    return true;
  }

  /** The node's tunnel closed: unacked messages wait for the next one. */
  disconnected(node: string): void {
    this.#queues.get(node)?.requeueInFlight();
  }

  /** Waiting plus in-flight messages for `node`. */
  pending(node: string): number {
    const queue = this.#queues.get(node);
    return queue ? queue.waiting + queue.inFlight : 0;
  }

  close(): void {
    clearInterval(this.#sweep);
  }

  #queue(node: string): DeliveryQueue {
    let queue = this.#queues.get(node);
    if (!queue) {
      queue = new DeliveryQueue({ maxInFlight: this.options.maxInFlight, now: this.options.now });
      this.#queues.set(node, queue);
    }
    return queue;
  }

  #resendOverdue(): void {
    for (const [node, queue] of this.#queues) {
      if (!this.sessions.get(node)) continue;
      const overdue = queue.overdue(this.options.ackTimeoutMs);
      if (overdue.length > 0) this.log.debug({ node, count: overdue.length }, "resending unacked messages");
      for (const message of overdue) this.sessions.send(node, message);
    }
  }
}
