import type { Logger } from "pino";
import { Operation } from "../../protocol/constants.js";
import type { Message } from "../../protocol/message.js";
import { notNewerThan, type AckRecord, type AckStore } from "./ack-store.js";
import { DeliveryQueue, type DeliveryMeta } from "./delivery-queue.js";
import type { SessionManager } from "./session-manager.js";

export interface ReliableDeliveryOptions {
  /** Messages in flight per node. KubeEdge sends one at a time; a window keeps throughput up. */
  readonly maxInFlight: number;
  /** Resend an unacked message after this long (KubeEdge: 5 s). */
  readonly ackTimeoutMs: number;
  readonly now: () => number;
}

/** One node's queue and, once loaded from the store, what it acknowledged. */
interface NodeDelivery {
  readonly queue: DeliveryQueue;
  acked?: Map<string, AckRecord>;
  loading?: Promise<Map<string, AckRecord>>;
  /** Messages delivered while `acked` was loading, applied in order once it is. */
  readonly backlog: { message: Message; meta: DeliveryMeta; done: () => void }[];
}

/**
 * Downstream messages that need an ack: kept per node until the edge answers with a `response`
 * whose parent_msg_id is the message id, resent while unanswered, requeued (not dropped) when the
 * tunnel closes and sent again when it comes back. Acks are written through to the AckStore, so a
 * version the node already has is never sent twice, even by another process later.
 *
 * A node's acks are loaded from the store once, then kept in memory: deciding whether to send is
 * synchronous, so messages are queued in exactly the order they were delivered.
 */
export class ReliableDelivery {
  readonly #nodes = new Map<string, NodeDelivery>();
  readonly #sweep: NodeJS.Timeout;

  constructor(
    private readonly sessions: SessionManager,
    private readonly store: AckStore,
    private readonly options: ReliableDeliveryOptions,
    private readonly log: Logger,
  ) {
    this.#sweep = setInterval(
      () => this.#resendOverdue(),
      Math.max(100, Math.floor(options.ackTimeoutMs / 2)),
    );
    this.#sweep.unref();
  }

  /**
   * Queues `message` (edge-form resource) for `node` and sends it if the node is connected here.
   * Skipped if the node acked this object at this version (or with this digest) and nothing newer
   * is queued; a delete of an object the node never acked and has nothing queued is skipped too.
   * Resolves once queued.
   */
  deliver(node: string, message: Message, meta: DeliveryMeta = {}): Promise<void> {
    const state = this.#node(node);
    if (state.acked) {
      this.#enqueue(node, state, state.acked, message, meta);
      return Promise.resolve();
    }
    return new Promise((done) => {
      state.backlog.push({ message, meta, done });
      void this.#load(node, state);
    });
  }

  /** What `node` acknowledged (loaded from the store on first use). */
  async acked(node: string): Promise<ReadonlyMap<string, AckRecord>> {
    const state = this.#node(node);
    return state.acked ?? (await this.#load(node, state));
  }

  /** Sends whatever may go now to a connected node. */
  pump(node: string): void {
    const state = this.#nodes.get(node);
    if (!state || !this.sessions.get(node)) return;
    for (const message of state.queue.takeSendable()) this.sessions.send(node, message);
  }

  /** A `response` from the edge: the ack of its parent message, if that is one of ours. */
  async acknowledge(node: string, parentId: string): Promise<boolean> {
    const state = this.#nodes.get(node);
    const entry = state?.queue.ack(parentId);
    if (!state || !entry) return false;
    const { key, message, meta } = entry;
    let write: Promise<void> | undefined;
    if (message.route.operation === Operation.Delete) {
      state.acked?.delete(key);
      write = this.store.forget(node, key);
    } else if (message.header.resourceversion) {
      const record: AckRecord = {
        resourceVersion: message.header.resourceversion,
        ...(meta.uid !== undefined && { uid: meta.uid }),
        ...(meta.digest !== undefined && { digest: meta.digest }),
      };
      state.acked?.set(key, record);
      write = this.store.record(node, key, record);
    }
    this.pump(node);
    await write;
    return true;
  }

  /** The node's tunnel closed: unacked messages wait for the next one. */
  disconnected(node: string): void {
    this.#nodes.get(node)?.queue.requeueInFlight();
  }

  /**
   * Forgets what this process holds for `node` (queue and cached acks) but not the store: the node
   * was handed to another replica, or is being taken (back), and what it acked meanwhile is only in
   * the store. The next delivery or resync reloads it.
   */
  evict(node: string): void {
    this.#nodes.delete(node);
  }

  /** The Node is gone: drop its queue and its acks. */
  async forgetNode(node: string): Promise<void> {
    this.#nodes.delete(node);
    await this.store.forgetNode(node);
  }

  /** Waiting plus in-flight messages for `node`. */
  pending(node: string): number {
    const queue = this.#nodes.get(node)?.queue;
    return queue ? queue.waiting + queue.inFlight : 0;
  }

  /** Per node with something unacked: seconds since its oldest unacked change was queued. */
  *syncLag(): Iterable<[node: string, seconds: number]> {
    for (const [node, state] of this.#nodes) {
      const ms = state.queue.lagMs();
      if (ms > 0) yield [node, ms / 1000];
    }
  }

  close(): void {
    clearInterval(this.#sweep);
  }

  #enqueue(
    node: string,
    state: NodeDelivery,
    acked: ReadonlyMap<string, AckRecord>,
    message: Message,
    meta: DeliveryMeta,
  ): void {
    const key = message.route.resource ?? "";
    const record = acked.get(key);
    if (!state.queue.has(key)) {
      if (message.route.operation === Operation.Delete) {
        if (!record) return;
      } else if (record && alreadyHas(record, message, meta)) return;
    }
    state.queue.enqueue(key, message, record?.resourceVersion, meta);
    this.pump(node);
  }

  #node(node: string): NodeDelivery {
    let state = this.#nodes.get(node);
    if (!state) {
      state = {
        queue: new DeliveryQueue({ maxInFlight: this.options.maxInFlight, now: this.options.now }),
        backlog: [],
      };
      this.#nodes.set(node, state);
    }
    return state;
  }

  #load(node: string, state: NodeDelivery): Promise<Map<string, AckRecord>> {
    state.loading ??= this.store
      .load(node)
      .then(
        (acked) => acked,
        (err: unknown) => {
          // Without the store, assume nothing was acked: the node gets objects again, which is safe.
          this.log.warn({ node, err: (err as Error).message }, "loading acks failed; resending everything");
          return new Map<string, AckRecord>();
        },
      )
      .then((acked) => {
        state.acked = acked;
        for (const { message, meta, done } of state.backlog.splice(0)) {
          this.#enqueue(node, state, acked, message, meta);
          done();
        }
        return acked;
      });
    return state.loading;
  }

  #resendOverdue(): void {
    for (const [node, state] of this.#nodes) {
      if (!this.sessions.get(node)) continue;
      const overdue = state.queue.overdue(this.options.ackTimeoutMs);
      if (overdue.length > 0) this.log.debug({ node, count: overdue.length }, "resending unacked messages");
      for (const message of overdue) this.sessions.send(node, message);
    }
  }
}

/** True when the node's acked record already covers `message`. */
function alreadyHas(record: AckRecord, message: Message, meta: DeliveryMeta): boolean {
  if (meta.uid !== undefined && record.uid !== undefined && meta.uid !== record.uid) return false;
  if (meta.digest !== undefined && record.digest !== undefined) return meta.digest === record.digest;
  const rv = message.header.resourceversion;
  return rv !== undefined && notNewerThan(rv, record.resourceVersion);
}
