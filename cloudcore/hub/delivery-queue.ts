import { Operation } from "../../protocol/constants.js";
import type { Message } from "../../protocol/message.js";
import { notNewerThan } from "./ack-store.js";

/** A message that must be acknowledged, and where it is in its life. */
interface Entry {
  readonly key: string;
  message: Message;
  sentAt: number;
  attempts: number;
}

export interface DeliveryQueueOptions {
  /** Messages in flight (sent, not yet acked) per node. */
  readonly maxInFlight: number;
  readonly now: () => number;
}

/**
 * One node's reliable downstream queue. Per object (its wire resource) at most one message is in
 * flight; a newer version waiting behind it replaces an older waiting one, so an edge never gets an
 * object's versions out of order and never gets a superseded version late. Nothing is dropped on
 * disconnect: in-flight messages go back to the front of the line and are sent again on reconnect.
 */
export class DeliveryQueue {
  /** Waiting, by object key, in arrival order (a replaced entry keeps its place). */
  readonly #waiting = new Map<string, Entry>();
  /** Sent and not yet acked, by msg_id. */
  readonly #inFlight = new Map<string, Entry>();
  /** The in-flight entry of each object that has one. */
  readonly #inFlightByKey = new Map<string, Entry>();

  constructor(private readonly options: DeliveryQueueOptions) {}

  get waiting(): number {
    return this.#waiting.size;
  }

  get inFlight(): number {
    return this.#inFlight.size;
  }

  /** Adds a message; `ackedVersion` is what the node acked for this key, if known. */
  enqueue(key: string, message: Message, ackedVersion?: string): void {
    const rv = message.header.resourceversion;
    const isDelete = message.route.operation === Operation.Delete;
    if (!isDelete && rv !== undefined && notNewerThan(rv, ackedVersion)) return;
    const existing = this.#waiting.get(key);
    // A version already waiting or in flight for this object makes an older or equal one redundant.
    const ahead = existing ?? this.#inFlightByKey.get(key);
    const aheadRv = ahead?.message.header.resourceversion;
    if (
      !isDelete &&
      rv !== undefined &&
      aheadRv !== undefined &&
      ahead?.message.route.operation !== Operation.Delete
    ) {
      if (notNewerThan(rv, aheadRv)) return;
    }
    if (existing) existing.message = message;
    else this.#waiting.set(key, { key, message, sentAt: 0, attempts: 0 });
  }

  /**
   * Takes the messages to send now: waiting objects with nothing in flight, up to the window.
   * The caller writes them to the tunnel in the returned order.
   */
  takeSendable(): Message[] {
    const out: Message[] = [];
    const now = this.options.now();
    for (const [key, entry] of this.#waiting) {
      if (this.#inFlight.size >= this.options.maxInFlight) break;
      if (this.#inFlightByKey.has(key)) continue;
      this.#waiting.delete(key);
      entry.sentAt = now;
      entry.attempts++;
      this.#inFlight.set(entry.message.header.msg_id, entry);
      this.#inFlightByKey.set(key, entry);
      out.push(entry.message);
    }
    return out;
  }

  /** The edge acked `msgId`; returns the acked entry (for the ack store), or undefined if unknown. */
  ack(msgId: string): { readonly key: string; readonly message: Message } | undefined {
    const entry = this.#inFlight.get(msgId);
    if (!entry) return undefined;
    this.#inFlight.delete(msgId);
    this.#inFlightByKey.delete(entry.key);
    return entry;
  }

  /** Messages in flight for longer than `timeoutMs`, to be written again (same msg_id). */
  overdue(timeoutMs: number): Message[] {
    const now = this.options.now();
    const out: Message[] = [];
    for (const entry of this.#inFlight.values()) {
      if (now - entry.sentAt >= timeoutMs) {
        entry.sentAt = now;
        entry.attempts++;
        out.push(entry.message);
      }
    }
    return out;
  }

  /** The tunnel closed: everything in flight waits again, ahead of what arrived later. */
  requeueInFlight(): void {
    if (this.#inFlight.size === 0) return;
    const resend = [...this.#inFlight.values()];
    this.#inFlight.clear();
    this.#inFlightByKey.clear();
    const later = [...this.#waiting.values()];
    this.#waiting.clear();
    for (const entry of resend) this.#waiting.set(entry.key, entry);
    for (const entry of later) {
      const first = this.#waiting.get(entry.key);
      // A newer version of an object that was in flight supersedes the in-flight one.
      if (first) first.message = entry.message;
      else this.#waiting.set(entry.key, entry);
    }
  }
}
