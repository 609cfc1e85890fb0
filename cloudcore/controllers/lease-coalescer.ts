import { randomUUID } from "node:crypto";
import { Operation, ResourceType } from "../../protocol/constants.js";
import type { Message } from "../../protocol/message.js";
import { parseResource } from "../../protocol/resource.js";

/**
 * Lease renewals of one node that wait behind each other are written once.
 *
 * A renewal carries only "this node was alive at renewTime"; the newest one says everything the
 * older ones waiting with it say. When the apiserver falls behind (a large fleet ramping on a
 * small control plane) each node's requests queue up in order, and without this every renewal
 * still queued would be written in turn, long after it could matter, feeding the backlog that
 * made it late. With it, a node has at most one renewal waiting; later ones join it, the newest
 * is written, and every request of the batch is answered with that write's result (so no edge
 * waits for a reply that never comes).
 */
export class LeaseCoalescer {
  readonly #waiting = new Map<string, Message[]>();

  /** Is this a Lease renewal (insert or update of the node's Lease)? */
  static isRenewal(message: Message): boolean {
    const { operation, resource = "" } = message.route;
    if (operation !== Operation.Update && operation !== Operation.Insert) return false;
    try {
      return parseResource(resource).type === ResourceType.Lease;
    } catch {
      return false; // not a resource string at all: the controllers refuse it with a clear error
    }
  }

  /**
   * Offers a renewal. Returns true when one for this node is already waiting: the message joined
   * its batch and the caller queues nothing. Returns false when the caller must queue a write,
   * which takes the batch with `take` when its turn comes.
   */
  offer(node: string, message: Message): boolean {
    const waiting = this.#waiting.get(node);
    if (waiting) {
      waiting.push(message);
      return true;
    }
    this.#waiting.set(node, [message]);
    return false;
  }

  /** The batch waiting for `node`, oldest first (the newest is the one to write); empties it. */
  take(node: string): Message[] {
    const batch = this.#waiting.get(node) ?? [];
    this.#waiting.delete(node);
    return batch;
  }

  /** Renewals waiting, over all nodes. */
  get size(): number {
    let n = 0;
    for (const batch of this.#waiting.values()) n += batch.length;
    return n;
  }
}

/**
 * The reply to the newest request of a batch, re-addressed to each request of it: every reply is
 * its own message (own id) answering its own request (parent id).
 */
export function repliesForBatch(batch: readonly Message[], reply: Message): Message[] {
  const newest = batch[batch.length - 1];
  return batch.map((request) =>
    request === newest
      ? reply
      : { ...reply, header: { ...reply.header, msg_id: randomUUID(), parent_msg_id: request.header.msg_id } },
  );
}
